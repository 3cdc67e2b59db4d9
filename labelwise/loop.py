"""The simulated active-learning loop, and ``query`` for a model fitted elsewhere.

``run_active_learning`` simulates the whole loop with an oracle that reveals known labels, one
:class:`labelwise.engine.ActiveLearner` round per round (``fit_or_cold_start`` then ``query``),
and records every round. The engine is the one route to a selection: ``query`` here, for a
learner the caller fitted itself, is :meth:`~labelwise.engine.ActiveLearner.query` on an engine
built around that learner (:meth:`~labelwise.engine.ActiveLearner.around`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from labelwise.engine import ActiveLearner, FitInfo, check_capabilities
from labelwise.learners import BaseLearner
from labelwise.metrics import classification_metrics
from labelwise.stopping import StoppingMonitor, flat_row
from labelwise.strategies import Strategy, get_strategy
from labelwise.validation import (
    LabelwiseError,
    check_features,
    check_labels,
    check_positive_int,
    check_same_length,
)

__all__ = ["SEED_SETS", "ActiveLearner", "RoundRecord", "check_capabilities",
           "initial_labeled_set", "query", "run_active_learning"]

#: how a seed set L0 can be drawn: with the labels (class-balanced), uniformly at random, or from
#: the pool's features alone with a cold-start selector (TypiClust, ProbCover)
SEED_SETS = ("balanced", "random", "typiclust", "probcover")


def _as_strategy(strategy) -> Strategy:
    return get_strategy(strategy)


def _class_prior(engine: ActiveLearner, n_classes: int, n: int) -> np.ndarray:
    """(n, K) the labeled set's class frequencies for every row: what a learner that cannot fit
    yet (labels of one class) predicts."""
    counts = np.bincount(engine.template.encode(engine.labels), minlength=n_classes)
    return np.tile(counts / max(counts.sum(), 1), (n, 1))


def _classes_of(y_pool: np.ndarray, y_test: np.ndarray) -> int | np.ndarray:
    """The declared classes of a simulation: K = max + 1 for integer labels (classes 0..K-1,
    also those absent from both splits), else the sorted distinct labels (strings...)."""
    both = np.concatenate([y_pool, y_test])
    whole = both.dtype.kind in "iu" or (both.dtype.kind == "f" and np.all(both == np.round(both)))
    if len(both) and whole and both.min() >= 0:
        return int(both.max()) + 1
    return np.unique(both)


def query(
    strategy: str | Strategy,
    learner: BaseLearner | None,
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
        learner: a learner already fitted on ``X_pool[labeled_idx], y_labeled`` (a labelwise
            learner or a fitted scikit-learn classifier); None for strategies that need no model
            (random, the cold-start strategies), e.g. before anything is labeled.
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

    ``query`` only selects: it is :meth:`labelwise.engine.ActiveLearner.query` on an engine
    around the given model (:meth:`~labelwise.engine.ActiveLearner.around`), the one route to a
    selection, kept as a function for a model fitted outside labelwise. For the whole round
    (fit, the "+ft" fine-tuning on confident pseudo-labels, last round's model kept) use an
    :class:`~labelwise.engine.ActiveLearner`.
    """
    engine = ActiveLearner.around(X_pool, learner, _as_strategy(strategy), labeled_idx,
                                  y_labeled, previous_learner)
    return engine.query(k, candidates, random_state=random_state)


def initial_labeled_set(y: np.ndarray, size: int, n_classes: int, kind: str = "balanced",
                        random_state=None, X=None) -> np.ndarray:
    """The seed set L0: (size,) sorted pool indices, drawn as ``kind`` says.

    * ``"balanced"``: ``size // K`` per class, the remainder spread over randomly chosen
      classes; a class with too few examples gives all it has and the rest is filled at random
      (reads the labels: a simulation-only oracle).
    * ``"random"``: uniformly at random.
    * ``"typiclust"`` / ``"probcover"``: the cold-start selectors on the pool features ``X``
      (n, d), with no model and no labels (Hacohen, Dekel & Weinshall 2022; Yehuda et al. 2022);
      ProbCover's radius is estimated with K = ``n_classes`` k-means clusters. ``y`` is only
      used for its length.

    ``random_state`` seeds the draw (k-means for the cold-start kinds).
    """
    rng = np.random.default_rng(random_state)
    size = check_positive_int(size, "seed size")
    if size > len(y):
        raise LabelwiseError(f"seed size {size} is larger than the pool ({len(y)} items)")
    if kind not in SEED_SETS:
        raise LabelwiseError(f"seed set kind must be one of {', '.join(SEED_SETS)}; got {kind!r}")
    if kind in ("typiclust", "probcover"):
        return _cold_start_seed_set(kind, X, len(y), size, n_classes, rng)
    if kind == "random":
        return np.sort(rng.choice(len(y), size, replace=False))
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


def _cold_start_seed_set(kind: str, X, n: int, size: int, n_classes: int,
                         rng: np.random.Generator) -> np.ndarray:
    """(size,) sorted rows of ``X`` picked by TypiClust or ProbCover from an empty labeled set."""
    if X is None:
        raise LabelwiseError(f"a {kind} seed set is picked from the pool features: pass X")
    X = check_features(X, "pool features")
    if len(X) != n:
        raise LabelwiseError(f"X has {len(X)} rows but the pool has {n} labels")
    if kind == "typiclust":
        from labelwise.strategies.typiclust import typiclust

        picks = typiclust(X, size, None, rng)
    else:
        from labelwise.strategies.probcover import probcover

        picks = probcover(X, size, None, None, rng, n_clusters=n_classes)
    return np.sort(picks.astype(np.int64))


@dataclass
class RoundRecord:
    """What happened in one round.

    Attributes:
        round: 0 for the seed set, then 1, 2, ...
        n_labeled: labels used to train this round's model.
        metrics: test-set metrics of this round's model (accuracy, macro_f1, ...).
        picks: (b,) pool indices the strategy picked after this round (empty on the last round).
        train_seconds: wall time of ``fit`` (and the "+ft" fine-tuning).
        query_seconds: wall time of scoring + selection ("query time", Krishnan et al. 2021).
        pseudo_labels: what "+ft" fine-tuning did this round (None without "+ft").
        stopping: the stopping monitor's flat row after this round: each criterion's value
            (named for what it holds, e.g. ``stabilizing_predictions_kappa``), threshold and
            verdict, and ``recommended_value`` / ``_stop`` / ``_reason`` (see
            :func:`labelwise.stopping.flat_row`; NaN / False while one cannot be computed).
        stopping_seconds: wall time of the stopping monitor's inputs (the stop-set predictions,
            the cross-validated accuracy).
    """

    round: int
    n_labeled: int
    metrics: dict[str, float]
    picks: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=np.int64))
    train_seconds: float = 0.0
    query_seconds: float = 0.0
    pseudo_labels: dict | None = None
    stopping: dict = field(default_factory=dict)
    stopping_seconds: float = 0.0


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
    stop_set_size: int | None = None,
    stopping_cv: bool | None = None,
    monitor: StoppingMonitor | None = None,
) -> list[RoundRecord]:
    """Simulate pool-based active learning with an oracle that knows ``y_pool``.

    Each round retrains the learner from scratch on the labeled set, evaluates it on the test
    split, and (except after the last round) asks the strategy for ``batch_size`` picks, which the
    oracle labels. With ``pool_subsample`` = m, the strategy chooses among m unlabeled items drawn
    afresh at random each round (docs/methods.md, section "The loop"). For a "+ft" strategy the
    model is fine-tuned on confident pseudo-labels of the unlabeled pool right after ``fit``
    (counted in ``train_seconds``), before evaluation and selection.

    Args:
        X_pool, y_pool: (n, d) features and (n,) labels of the pool: class indices in
            range(K), or any labels (strings...), whose sorted distinct values (pool and test
            together) are then the classes.
        X_test, y_test: the held-out split.
        strategy: strategy name or object.
        learner: learner name (built with ``learner_params``), an unfitted labelwise learner, or
            any scikit-learn classifier (cloned each round).
        seed_size: size of the seed set L0, drawn as ``seed_set`` says (one of
            :data:`SEED_SETS`; "typiclust" and "probcover" pick it from ``X_pool`` alone, see
            :func:`initial_labeled_set`).
        batch_size: b, picks per round.
        rounds: number of query rounds (ignored when ``budget`` is given).
        budget: total labels to reach, seed set included; the last batch may be smaller.
        random_state: seeds the seed set, the learner, the strategy and the subsampling.
        on_round: called with each :class:`RoundRecord` as soon as it is complete.
        evaluate: optional ``(model, labeled_idx, test_proba) -> dict`` of extra per-round
            metrics (e.g. worst-group accuracy, sampling bias), merged into the round's
            ``metrics``; ``test_proba`` (n_test, K) is the round's one pass over the test split.
        stop_set_size: size of the stop set (None: 1,000 items, or the whole pool when
            smaller; a size larger than the pool is an error).
        stopping_cv: compute the 5-fold cross-validated accuracy that the accuracy plateau
            reads (5 more fits a round; None or False: not computed, the plateau stays NaN).
        monitor: the :class:`~labelwise.stopping.StoppingMonitor` to feed (its stop set, its
            thresholds, its ``cv``; ``stop_set_size`` and ``stopping_cv`` then do not apply);
            default: a new one seeded with ``random_state``.

    Every round feeds the stopping monitor (:meth:`StoppingMonitor.observe`, the same call the
    labeling app and the Label Studio backend make), and ``record.stopping`` holds its flat row:
    each criterion's value, threshold and verdict and the recommended stop with its reason (see
    :func:`labelwise.stopping.flat_row`).

    Returns:
        One :class:`RoundRecord` per round, rounds + 1 in all (the last has no picks).
    """
    X_pool = check_features(X_pool, "pool features")
    X_test = check_features(X_test, "test features")
    check_same_length(X_pool, y_pool, "pool features", "pool labels")
    check_same_length(X_test, y_test, "test features", "test labels")
    strat = _as_strategy(strategy)
    batch_size = check_positive_int(batch_size, "batch size")
    classes = None
    if isinstance(learner, str) or not hasattr(learner, "classes_"):
        classes = _classes_of(check_labels(y_pool, None, "pool labels"),
                              check_labels(y_test, None, "test labels"))
    engine = ActiveLearner(X_pool, learner, strat, classes=classes, random_state=random_state,
                           learner_params=learner_params)
    n_classes = len(engine.classes_)
    y_pool = check_labels(y_pool, engine.classes_, "pool labels")
    # the metrics compare class indices (columns of the probabilities): labels may be strings
    y_test = engine.template.encode(check_labels(y_test, engine.classes_, "test labels"))

    # the seed set draws per class index (labels may be strings)
    labeled = initial_labeled_set(engine.template.encode(y_pool), seed_size, n_classes, seed_set,
                                  random_state, X=X_pool)
    if budget is not None:
        budget = check_positive_int(budget, "budget")
        if budget < len(labeled):
            raise LabelwiseError(f"budget {budget} is smaller than the seed set ({len(labeled)})")
        rounds = -(-(budget - len(labeled)) // batch_size)
    rounds = check_positive_int(rounds, "rounds", minimum=0)
    if pool_subsample is not None:
        pool_subsample = check_positive_int(pool_subsample, "pool subsample")

    engine.teach(labeled, y_pool[labeled])
    rng = np.random.default_rng(random_state)
    stopper = _Stopper(engine, random_state, stop_set_size, stopping_cv, monitor)
    records: list[RoundRecord] = []
    for r in range(rounds + 1):
        fit = engine.fit_or_cold_start()
        if fit is not None:
            test_proba = engine.model.predict_proba(X_test)
        else:  # a random seed set of one class (a warning says so): the engine's cold start
            fit = FitInfo(engine.n_labeled, 0.0)  # picks; the model is the class prior
            test_proba = _class_prior(engine, n_classes, len(X_test))
        record = RoundRecord(r, fit.n_labeled, classification_metrics(y_test, test_proba),
                             train_seconds=fit.train_seconds, pseudo_labels=fit.pseudo_labels)
        if evaluate is not None:
            record.metrics.update(evaluate(engine.model, engine.labeled_idx, test_proba))
        unlabeled = engine.unlabeled_idx()
        k = batch_size if budget is None else min(batch_size, budget - engine.n_labeled)
        k = min(k, len(unlabeled))
        if r < rounds and k > 0:
            cand = unlabeled
            if pool_subsample is not None and pool_subsample < len(unlabeled):
                cand = np.sort(rng.choice(unlabeled, pool_subsample, replace=False))
            picks = engine.query(min(k, len(cand)), cand, rng.integers(2**32))
            record.query_seconds = engine.last_query.query_seconds
            record.picks = picks
        record.stopping, record.stopping_seconds = stopper.update(record.picks)
        if len(record.picks):
            engine.teach(record.picks, y_pool[record.picks])
        records.append(record)
        if on_round is not None:
            on_round(record)
        if r < rounds and len(record.picks) == 0:
            break
    return records


class _Stopper:
    """Feeds the run's :class:`StoppingMonitor` from the engine once per round (see
    :func:`run_active_learning`)."""

    def __init__(self, engine: ActiveLearner, random_state: int, stop_set_size: int | None,
                 cv: bool | None, monitor: StoppingMonitor | None):
        self.engine = engine
        if monitor is None:
            if stop_set_size is not None:
                stop_set_size = check_positive_int(stop_set_size, "stop set size")
            monitor = StoppingMonitor(stop_set_size, random_state, cv=bool(cv))
        self.monitor = monitor
        self.monitor.stop_set_for(len(engine.X_pool))  # a stop set larger than the pool fails now

    def update(self, picks: np.ndarray) -> tuple[dict, float]:
        """This round's flat row and the seconds it took; ``picks`` (b,) are the items picked
        for the next batch (empty on the last round)."""
        import time

        engine = self.engine
        t0 = time.perf_counter()
        row = self.monitor.observe(engine.model, engine.X_pool, engine.labeled_idx, picks,
                                   learner=engine.template, labels=engine.labels)
        return flat_row(row), time.perf_counter() - t0
