"""``check_strategy``: the contract every acquisition strategy keeps, run on toy data."""

from __future__ import annotations

import numpy as np

from labelwise.protocol import CONTRASTIVE, EMA, EMBEDDING, LOSS_PREDICTION, PROBA, SAMPLES
from labelwise.testing.common import TOY_LEARNERS, ContractError, _Runner, quick_learner, toy_data
from labelwise.validation import LabelwiseError

#: what a strategy may call on the learner, and the capability (any of) that allows it
_METHOD_NEEDS = {"predict_proba": {PROBA}, "predict_proba_as": {PROBA}, "predict": {PROBA},
                 "embed": {EMBEDDING, CONTRASTIVE}, "sample_proba": {SAMPLES},
                 "ema_outputs": {EMA}, "predict_loss": {LOSS_PREDICTION}}


class _Guard:
    """The fitted learner as a strategy sees it: calling a method the strategy did not declare
    the capability for fails (``_METHOD_NEEDS``), and so does training (a strategy never fits)."""

    def __init__(self, learner, needs: frozenset[str], subject: str):
        self._learner, self._needs, self._subject = learner, needs, subject

    def __getattr__(self, name: str):
        if name in ("fit", "finetune_pseudo_labels", "partial_fit"):
            raise ContractError(self._subject, "capabilities",
                                f"calls learner.{name}: a strategy never trains the model")
        allowed = _METHOD_NEEDS.get(name)
        if allowed is not None and not allowed & self._needs:
            raise ContractError(self._subject, "capabilities",
                                f"calls learner.{name} but declares needs "
                                f"{sorted(self._needs) or '{}'}; add {sorted(allowed)[0]!r}")
        return getattr(self._learner, name)


def _fitted_for(strategy, learner, params: dict | None, X, y, labeled):
    """A learner fitted on X[labeled] that has the strategy's needs: ``learner`` if given (name,
    class or object), else the first of TOY_LEARNERS that is installed and has them."""
    from labelwise.learners import LEARNERS, as_learner

    classes = np.unique(y)
    if learner is not None:
        if isinstance(learner, type):
            learner = learner(classes, random_state=0, **(params or {}))
        model = as_learner(learner, classes, random_state=0, **(params or {}))
        return model.fit(X[labeled], y[labeled])
    needs = strategy.needs
    names = [n for n in TOY_LEARNERS if n in LEARNERS] + [n for n in LEARNERS
                                                          if n not in TOY_LEARNERS]
    for name in names:
        if needs <= LEARNERS[name].capabilities:
            try:
                model = quick_learner(name, classes, params)
            except LabelwiseError:  # not installed here (torch, kornia...): try the next
                continue
            return model.fit(X[labeled], y[labeled])
    raise LabelwiseError(f"no installed learner has what strategy {strategy.name!r} needs "
                         f"({', '.join(sorted(needs))}); pass learner=")


def _select(strategy, learner, X, y, labeled, candidates, k, seed, previous=None, pending=()):
    """``strategy.select`` on a fresh context; returns the raw picks (positions in candidates)."""
    from labelwise.strategies import SelectionContext

    guard = None if learner is None else _Guard(learner, strategy.needs, f"strategy "
                                                f"{strategy.name!r}")
    prev = None if previous is None else _Guard(previous, strategy.needs, f"strategy "
                                                f"{strategy.name!r}")
    ctx = SelectionContext(guard, X[candidates], X[labeled], y[labeled], previous_learner=prev,
                           random_state=seed, X_pool=X, candidate_idx=candidates,
                           labeled_idx=labeled, classes=np.unique(y),
                           pending_idx=np.asarray(pending, dtype=np.int64))
    return strategy.select(ctx, k)


def _assert_picks(raw, k: int, candidates: np.ndarray, labeled: np.ndarray) -> np.ndarray:
    picks = np.asarray(raw)
    assert picks.ndim == 1, f"picks must be a 1-d array, got shape {picks.shape}"
    assert picks.dtype.kind in "iu", f"picks must be integer positions, got dtype {picks.dtype}"
    assert len(picks) == k, f"asked for k={k} picks, got {len(picks)}"
    assert len(np.unique(picks)) == len(picks), \
        f"picks hold duplicates: {sorted(picks.tolist())}"
    assert len(picks) == 0 or (picks.min() >= 0 and picks.max() < len(candidates)), \
        f"picks out of range [0, {len(candidates)}): {sorted(picks.tolist())}"
    assert not np.isin(candidates[picks], labeled).any(), "picks hold labeled items"
    return picks


def check_strategy(strategy, learner=None, *, params: dict | None = None, n: int = 60,
                   k: int = 5, random_state: int = 0) -> list[str]:
    """Run the strategy contract on ``n`` toy items in 3 blobs, 9 of them labeled.

    Args:
        strategy: a registered name (``"margin"``, ``"margin+ft"``) or a ``Strategy``.
        learner: the learner to fit (name, class or object); default: the first of
            ``TOY_LEARNERS`` that has the strategy's needs, with short training.
        params: the learner's parameters.
        n, k, random_state: pool size, batch size and the strategy's seed.

    Checks: picks are ``k`` unique integer positions of unlabeled candidates; ``k=0`` gives none
    and ``k`` = every candidate gives each once; the same seed gives the same picks; the inputs
    are not modified; float32 features work; the strategy calls only what its ``needs`` declare
    (and never trains); without needs it runs with no model (cold start); a strategy that compares
    rounds runs with and without last round's model.

    Returns: the names of the checks run. Raises: ContractError on the first broken check.
    """
    from labelwise.strategies import Strategy, get_strategy

    s = strategy if isinstance(strategy, Strategy) else get_strategy(strategy)
    run = _Runner(f"strategy {s.name!r}")
    X, y = toy_data(n)
    labeled = np.concatenate([np.flatnonzero(y == c)[:3] for c in np.unique(y)])
    unlabeled = np.setdiff1d(np.arange(n), labeled)
    pending, candidates = unlabeled[:2], unlabeled[2:]  # two items picked earlier, not labeled
    model = _fitted_for(s, learner, params, X, y, labeled)
    previous = None
    if s.compares_rounds:  # last round's model: fitted on two labels per class
        previous = model.clone().fit(X[labeled[::3].tolist() + labeled[1::3].tolist()],
                                     y[labeled[::3].tolist() + labeled[1::3].tolist()])

    def pick(kk, seed=random_state, X_=X, mdl=model, prev=previous):
        return _select(s, mdl, X_, y, labeled, candidates, kk, seed, prev, pending)

    run("picks", lambda: _assert_picks(pick(k), k, candidates, labeled))
    run("capabilities", lambda: pick(k))  # the guard has raised by now if a need is undeclared
    run("k=0", lambda: _assert_picks(pick(0), 0, candidates, labeled))
    run("k=all", lambda: _assert_picks(pick(len(candidates)), len(candidates), candidates,
                                       labeled))

    def same_seed():
        a, b = np.asarray(pick(k)), np.asarray(pick(k))
        assert np.array_equal(a, b), f"same seed, different picks: {a.tolist()} vs {b.tolist()}"
    run("same seed", same_seed)

    def not_mutated():
        before = (X.copy(), y.copy(), labeled.copy(), candidates.copy())
        pick(k)
        for name, old, new in zip(("X", "y", "labeled", "candidates"), before,
                                  (X, y, labeled, candidates), strict=True):
            assert np.array_equal(old, new), f"the strategy modified its input {name}"
    run("inputs not mutated", not_mutated)

    def float32():
        X32 = X.astype(np.float32)
        m32 = _fitted_for(s, learner, params, X32, y, labeled)
        p32 = None if previous is None else m32.clone().fit(X32[labeled[:6]], y[labeled[:6]])
        _assert_picks(pick(k, X_=X32, mdl=m32, prev=p32), k, candidates, labeled)
    run("float32", float32)
    if not s.needs:
        run("cold start", lambda: _assert_picks(pick(k, mdl=None, prev=None), k, candidates,
                                                labeled))
    if s.compares_rounds:
        run("first round", lambda: _assert_picks(pick(k, prev=None), k, candidates, labeled))
    return run.done
