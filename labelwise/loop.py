"""The active-learning loop: one query step for real labeling, and the simulated loop.

``query`` is the step a labeling workflow calls: given a fitted learner and the pool, it returns
the next k pool indices to label. ``run_active_learning`` simulates the whole loop with an oracle
that reveals known labels, retraining from scratch each round and recording every round.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from labelwise.learners import LEARNERS, BaseLearner, learners_with, make_learner
from labelwise.metrics import classification_metrics
from labelwise.strategies import SelectionContext, Strategy, get_strategy
from labelwise.validation import (
    LabelwiseError,
    check_features,
    check_indices,
    check_k,
    check_labels,
    check_positive_int,
    check_same_length,
)


def check_capabilities(strategy: Strategy, learner) -> None:
    """Fail before training when ``learner`` (instance or class) lacks what ``strategy`` needs."""
    name = learner.__name__ if isinstance(learner, type) else type(learner).__name__
    missing = sorted(strategy.needs - set(learner.capabilities))
    if missing:
        cap = missing[0]
        have = learners_with(cap)
        raise LabelwiseError(
            f"strategy {strategy.name!r} needs the learner capability {cap!r}, which "
            f"{name} lacks; learners that have it: {', '.join(have) or 'none'}"
        )


def _as_strategy(strategy) -> Strategy:
    return strategy if isinstance(strategy, Strategy) else get_strategy(strategy)


def query(
    strategy: str | Strategy,
    learner: BaseLearner,
    X_pool,
    labeled_idx,
    y_labeled,
    k: int,
    candidates=None,
    previous_learner: BaseLearner | None = None,
    random_state=None,
) -> np.ndarray:
    """Ask ``strategy`` for the next ``k`` pool indices to label.

    Args:
        strategy: a registered name (see ``labelwise strategies``) or a :class:`Strategy`.
        learner: a learner already fitted on ``X_pool[labeled_idx], y_labeled``.
        X_pool: (n, d) features of the whole pool, labeled items included.
        labeled_idx: (m,) indices into ``X_pool`` of the labeled items.
        y_labeled: (m,) their labels.
        k: how many items to pick.
        candidates: optional indices of the unlabeled items to choose among (e.g. a random
            subset of the pool); default: every unlabeled item.
        previous_learner: last round's fitted model, for strategies that compare rounds.
        random_state: seed or Generator for the strategy's randomness.

    Returns:
        (k,) int64 indices into ``X_pool``, unique, none of them labeled.

    A "+ft" strategy (e.g. ``margin+ft``) expects a learner that was fine-tuned on confident
    pseudo-labels after ``fit``: a real workflow calls
    ``learner.finetune_pseudo_labels(X_unlabeled, X_labeled, y_labeled)`` itself before
    ``query`` (the simulated :func:`run_active_learning` does it every round).
    """
    strat = _as_strategy(strategy)
    check_capabilities(strat, learner)
    X_pool = check_features(X_pool, "pool features")
    labeled_idx = check_indices(labeled_idx, len(X_pool), "labeled")
    y_labeled = check_labels(y_labeled, learner.classes_, "labels")
    check_same_length(labeled_idx, y_labeled, "labeled indices", "labels")
    is_labeled = np.zeros(len(X_pool), dtype=bool)
    is_labeled[labeled_idx] = True
    if candidates is None:
        cand = np.flatnonzero(~is_labeled)
    else:
        cand = check_indices(candidates, len(X_pool), "candidate")
        if is_labeled[cand].any():
            raise LabelwiseError("candidate indices include items that are already labeled")
    k = check_k(k, len(cand))
    return select_from(strat, learner, X_pool, labeled_idx, y_labeled, k, cand,
                       previous_learner, random_state)


def select_from(strategy: Strategy, learner, X_pool, labeled_idx, y_labeled, k, candidates,
                previous_learner=None, random_state=None) -> np.ndarray:
    """:func:`query` without the input checks, for callers that validated once up front."""
    ctx = SelectionContext(learner, X_pool[candidates], X_pool[labeled_idx], y_labeled,
                           previous_learner=previous_learner, random_state=random_state)
    pos = np.asarray(strategy.select(ctx, k), dtype=np.int64)
    if len(pos) != k or len(np.unique(pos)) != k:
        raise RuntimeError(f"strategy {strategy.name!r} returned {len(pos)} picks, "
                           f"{len(np.unique(pos))} unique, for k={k}")
    return candidates[pos]


def initial_labeled_set(y: np.ndarray, size: int, n_classes: int, kind: str = "balanced",
                        random_state=None) -> np.ndarray:
    """The seed set L0: ``size`` pool indices, class-balanced (000) or uniformly random.

    Balanced: ``size // K`` per class, the remainder spread over randomly chosen classes; a class
    with too few examples gives all it has and the rest is filled at random.
    """
    rng = np.random.default_rng(random_state)
    size = check_positive_int(size, "seed size")
    if size > len(y):
        raise LabelwiseError(f"seed size {size} is larger than the pool ({len(y)} items)")
    if kind == "random":
        return np.sort(rng.choice(len(y), size, replace=False))
    if kind != "balanced":
        raise LabelwiseError(f"seed set kind must be 'balanced' or 'random', got {kind!r}")
    per_class = np.full(n_classes, size // n_classes)
    per_class[rng.choice(n_classes, size % n_classes, replace=False)] += 1
    chosen = []
    for c in range(n_classes):
        members = np.flatnonzero(y == c)
        take = min(per_class[c], len(members))
        chosen.extend(rng.choice(members, take, replace=False).tolist())
    short = size - len(chosen)
    if short:
        rest = np.setdiff1d(np.arange(len(y)), chosen)
        chosen.extend(rng.choice(rest, short, replace=False).tolist())
    return np.sort(np.asarray(chosen, dtype=np.int64))


@dataclass
class RoundRecord:
    """What happened in one round.

    Attributes:
        round: 0 for the seed set, then 1, 2, ...
        n_labeled: labels used to train this round's model.
        metrics: test-set metrics of this round's model (accuracy, macro_f1, ...).
        picks: (b,) pool indices the strategy picked after this round (empty on the last round).
        train_seconds: wall time of ``fit``.
        query_seconds: wall time of scoring + selection (METHODS.md "query time").
    """

    round: int
    n_labeled: int
    metrics: dict[str, float]
    picks: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=np.int64))
    train_seconds: float = 0.0
    query_seconds: float = 0.0


def run_active_learning(
    X_pool,
    y_pool,
    X_test,
    y_test,
    strategy: str | Strategy = "margin",
    learner: str | BaseLearner = "logreg",
    seed_size: int = 20,
    seed_set: str = "balanced",
    batch_size: int = 10,
    rounds: int | None = 20,
    budget: int | None = None,
    pool_subsample: int | None = None,
    random_state: int = 0,
    learner_params: dict | None = None,
    on_round: Callable[[RoundRecord], None] | None = None,
    evaluate: Callable[[BaseLearner, np.ndarray, np.ndarray], dict] | None = None,
) -> list[RoundRecord]:
    """Simulate pool-based active learning with an oracle that knows ``y_pool``.

    Each round retrains the learner from scratch on the labeled set, evaluates it on the test
    split, and (except after the last round) asks the strategy for ``batch_size`` picks, which the
    oracle labels. With ``pool_subsample`` = m, the strategy chooses among m unlabeled items drawn
    afresh at random each round (METHODS.md "The loop"). For a "+ft" strategy the model is
    fine-tuned on confident pseudo-labels of the unlabeled pool right after ``fit`` (counted in
    ``train_seconds``), before evaluation and selection.

    Args:
        X_pool, y_pool: (n, d) features and (n,) class indices in range(K) of the pool.
        X_test, y_test: the held-out split.
        strategy: strategy name or object.
        learner: learner name (built with ``learner_params``) or an unfitted learner to clone.
        seed_size: size of the seed set L0, drawn ``seed_set`` = "balanced" or "random".
        batch_size: b, picks per round.
        rounds: number of query rounds (ignored when ``budget`` is given).
        budget: total labels to reach, seed set included; the last batch may be smaller.
        random_state: seeds the seed set, the learner, the strategy and the subsampling.
        on_round: called with each :class:`RoundRecord` as soon as it is complete.
        evaluate: optional ``(model, labeled_idx, test_proba) -> dict`` of extra per-round
            metrics (e.g. worst-group accuracy, sampling bias), merged into the round's
            ``metrics``; ``test_proba`` (n_test, K) is the round's one pass over the test split.

    Returns:
        One :class:`RoundRecord` per round, rounds + 1 in all (the last has no picks).
    """
    X_pool = check_features(X_pool, "pool features")
    X_test = check_features(X_test, "test features")
    check_same_length(X_pool, y_pool, "pool features", "pool labels")
    check_same_length(X_test, y_test, "test features", "test labels")
    strat = _as_strategy(strategy)
    batch_size = check_positive_int(batch_size, "batch size")
    if isinstance(learner, str):
        if learner not in LEARNERS:
            make_learner(learner, 2)  # raises the unknown-name error
        n_classes = int(max(np.max(y_pool), np.max(y_test))) + 1
        template = make_learner(learner, n_classes, random_state=random_state,
                                **(learner_params or {}))
    else:
        template = learner
        n_classes = len(template.classes_)
    y_pool = check_labels(y_pool, template.classes_, "pool labels")
    y_test = check_labels(y_test, template.classes_, "test labels")
    check_capabilities(strat, template)

    labeled = initial_labeled_set(y_pool, seed_size, n_classes, seed_set, random_state)
    if budget is not None:
        budget = check_positive_int(budget, "budget")
        if budget < len(labeled):
            raise LabelwiseError(f"budget {budget} is smaller than the seed set ({len(labeled)})")
        rounds = -(-(budget - len(labeled)) // batch_size)
    rounds = check_positive_int(rounds, "rounds", minimum=0)
    if pool_subsample is not None:
        pool_subsample = check_positive_int(pool_subsample, "pool subsample")

    rng = np.random.default_rng(random_state)
    records: list[RoundRecord] = []
    previous = None
    for r in range(rounds + 1):
        model = template.clone()
        unlabeled = np.setdiff1d(np.arange(len(X_pool)), labeled, assume_unique=True)
        t0 = time.perf_counter()
        model.fit(X_pool[labeled], y_pool[labeled])
        if strat.finetune:  # "+ft" strategies (paper 002, Algorithm 2)
            model.finetune_pseudo_labels(X_pool[unlabeled], X_pool[labeled], y_pool[labeled])
        train_s = time.perf_counter() - t0
        test_proba = model.predict_proba(X_test)
        record = RoundRecord(r, len(labeled), classification_metrics(y_test, test_proba),
                             train_seconds=train_s)
        if evaluate is not None:
            record.metrics.update(evaluate(model, labeled, test_proba))
        k = batch_size if budget is None else min(batch_size, budget - len(labeled))
        k = min(k, len(unlabeled))
        if r < rounds and k > 0:
            cand = unlabeled
            if pool_subsample is not None and pool_subsample < len(unlabeled):
                cand = np.sort(rng.choice(unlabeled, pool_subsample, replace=False))
            t0 = time.perf_counter()
            picks = select_from(strat, model, X_pool, labeled, y_pool[labeled],
                                min(k, len(cand)), cand, previous, rng.integers(2**32))
            record.query_seconds = time.perf_counter() - t0
            record.picks = picks
            labeled = np.concatenate([labeled, picks])
        records.append(record)
        if on_round is not None:
            on_round(record)
        previous = model
        if r < rounds and len(record.picks) == 0:
            break
    return records
