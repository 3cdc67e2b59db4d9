"""Contract checks for strategies and learners, run on small data (as scikit-learn's
``check_estimator``, Pedregosa et al. 2011, does for estimators).

A plugin author runs them in a test of their own::

    from labelwise.testing import check_learner, check_strategy

    def test_my_strategy_keeps_the_contract():
        check_strategy("my_strategy")         # a registered name or a Strategy

    def test_my_learner_keeps_the_contract():
        check_learner(MyLearner, params={"epochs": 3})   # a registered name, a class or an object

Each returns the names of the checks it ran; the first broken one raises :class:`ContractError`
(an ``AssertionError``) naming the check and the strategy or learner. The test suite runs both on
every built-in strategy and learner.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from labelwise.protocol import (
    CAPABILITIES,
    CONTRASTIVE,
    EMA,
    EMBEDDING,
    LOSS_PREDICTION,
    PROBA,
    PSEUDO_LABEL_FT,
    SAMPLES,
    Learner,
)
from labelwise.validation import LabelwiseError

#: learners the strategy checks may fit, in order of preference (cheap first, plain features)
TOY_LEARNERS = ("logreg", "svm", "mlp", "ensemble", "supcon", "lossnet")
#: short training for the torch learners in the checks; applied only where a learner has the key
QUICK_PARAMS = {"max_epochs": 8, "hidden": 16, "mc_samples": 4, "ft_epochs": 2,
                "contrastive_epochs": 4, "n_members": 2, "projection": 8, "loss_hidden": 8,
                "snapshot_patience": 2, "max_steps": 4}
#: what a strategy may call on the learner, and the capability (any of) that allows it
_METHOD_NEEDS = {"predict_proba": {PROBA}, "predict_proba_as": {PROBA}, "predict": {PROBA},
                 "embed": {EMBEDDING, CONTRASTIVE}, "sample_proba": {SAMPLES},
                 "ema_outputs": {EMA}, "predict_loss": {LOSS_PREDICTION}}


class ContractError(AssertionError):
    """A strategy or learner broke the contract; ``subject``, ``check`` and ``problem`` say how."""

    def __init__(self, subject: str, check: str, problem: str):
        super().__init__(f"{subject} fails check {check!r}: {problem}")
        self.subject, self.check, self.problem = subject, check, problem


def gaussian_blobs(centres, n: int, scale: float = 1.0, labels: str = "cycle", seed: int = 0,
                   dtype=None) -> tuple[np.ndarray, np.ndarray]:
    """Synthetic classes: item i is ``centres[y[i]]`` plus Gaussian noise of sd ``scale``.

    Args:
        centres: (K, d) one centre per class.
        n: the number of items.
        labels: how y (n,) of class indices is laid out: ``"cycle"`` (0, 1, ..., K-1, 0, ...),
            ``"block"`` (the first n // K items are class 0, the next class 1, ..., the last class
            takes the remainder) or ``"random"`` (drawn uniformly, before the noise).
        seed: seeds the labels (``"random"``) and the noise.
        dtype: the dtype of X (default float64).

    Returns: X (n, d) and y (n,) int64.
    """
    centres = np.asarray(centres, dtype=float)
    K = len(centres)
    rng = np.random.default_rng(seed)
    if labels == "cycle":
        y = np.arange(n) % K
    elif labels == "block":
        y = np.minimum(np.arange(n) // max(n // K, 1), K - 1)
    elif labels == "random":
        y = rng.integers(0, K, n)
    else:
        raise LabelwiseError(f"labels must be cycle, block or random, got {labels!r}")
    X = centres[y] + rng.normal(0, scale, (n, centres.shape[1]))
    return (X if dtype is None else X.astype(dtype)), y.astype(np.int64)


def toy_data(n: int = 60, n_classes: int = 3, d: int = 4, seed: int = 0,
             dtype=np.float64) -> tuple[np.ndarray, np.ndarray]:
    """``n_classes`` well-separated Gaussian blobs: X (n, d) of ``dtype``, y (n,) strings "c0"...
    (string labels, so a learner must map labels to columns itself)."""
    centres = np.random.default_rng(seed).normal(scale=4.0, size=(n_classes, d))
    X, y_idx = gaussian_blobs(centres, n, seed=seed + 1, dtype=dtype)
    return X, np.array([f"c{i}" for i in y_idx])


class _Runner:
    """Runs checks in order and turns the first failure into a ContractError."""

    def __init__(self, subject: str):
        self.subject = subject
        self.done: list[str] = []

    def __call__(self, name: str, fn: Callable[[], None]) -> None:
        try:
            fn()
        except ContractError:
            raise
        except AssertionError as exc:
            raise ContractError(self.subject, name, str(exc) or "assertion failed") from exc
        except Exception as exc:  # noqa: BLE001 - any crash breaks the contract, say which
            raise ContractError(self.subject, name,
                                f"raised {type(exc).__name__}: {exc}") from exc
        self.done.append(name)


# --- strategies -------------------------------------------------------------------------------


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


def quick_learner(name: str, classes, params: dict | None = None, random_state: int = 0):
    """The registered learner ``name`` with short training (``QUICK_PARAMS`` where it takes
    them), then ``params``."""
    from labelwise.learners import make_learner

    params = params or {}
    model = make_learner(name, classes, random_state=random_state, **params)
    own = model.get_params(deep=False)
    return model.set_params(**{k: v for k, v in QUICK_PARAMS.items()
                               if k in own and k not in params})


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


# --- learners ---------------------------------------------------------------------------------


def _build(learner, classes, params: dict | None, random_state: int):
    from labelwise.learners import as_learner

    if isinstance(learner, str):
        return quick_learner(learner, classes, params, random_state)
    if isinstance(learner, type):
        return learner(classes, random_state=random_state, **(params or {}))
    model = as_learner(learner, None)
    return model.clone().set_params(**(params or {})) if params else model.clone()


def _assert_proba(P, n: int, K: int, what: str = "predict_proba") -> None:
    P = np.asarray(P)
    assert P.shape == (n, K), f"{what} has shape {P.shape}, expected ({n}, {K})"
    assert np.isfinite(P).all(), f"{what} holds NaN or inf"
    assert (P >= -1e-6).all() and (P <= 1 + 1e-6).all(), f"{what} leaves [0, 1]"
    assert np.allclose(P.sum(axis=-1), 1.0, atol=1e-4), f"{what} rows do not sum to 1"


def _same(a, b) -> bool:
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return np.array_equal(np.asarray(a), np.asarray(b))
    try:
        return bool(a == b) or a is b
    except Exception:  # noqa: BLE001 - objects without a usable ==
        return a is b


def _check_capabilities(model, X, y, K: int) -> None:
    n = len(X)
    caps = set(model.capabilities)
    assert caps <= CAPABILITIES, f"unknown capabilities {sorted(caps - CAPABILITIES)}"
    if caps & {EMBEDDING, CONTRASTIVE}:
        E = np.asarray(model.embed(X))
        assert E.ndim == 2 and len(E) == n and np.isfinite(E).all(), \
            f"embed gives shape {E.shape} (or non-finite values), expected ({n}, d)"
    if SAMPLES in caps:
        S = np.asarray(model.sample_proba(X))
        assert S.ndim == 3 and S.shape[1:] == (n, K), \
            f"sample_proba has shape {S.shape}, expected (T, {n}, {K})"
        _assert_proba(S.reshape(-1, K), S.shape[0] * n, K, "sample_proba")
    if EMA in caps:
        out = model.ema_outputs(X)
        for key in ("proba_main", "embed_main", "proba_ema", "embed_ema"):
            assert key in out, f"ema_outputs lacks {key!r}"
            assert len(out[key]) == n, f"ema_outputs[{key!r}] has {len(out[key])} rows, not {n}"
    if LOSS_PREDICTION in caps:
        L = np.asarray(model.predict_loss(X))
        assert L.shape == (n,) and np.isfinite(L).all(), \
            f"predict_loss has shape {L.shape} (or non-finite values), expected ({n},)"
    if PSEUDO_LABEL_FT in caps:
        info = model.finetune_pseudo_labels(X[9:], X[:9], y[:9])
        assert isinstance(info, dict), f"finetune_pseudo_labels returned {type(info).__name__}"
        _assert_proba(model.predict_proba(X), n, K, "predict_proba after finetune_pseudo_labels")


def check_learner(learner, *, params: dict | None = None, X=None, y=None,
                  random_state: int = 0) -> list[str]:
    """Run the learner contract on toy data (3 blobs of 60 items in 4-d, string labels).

    Args:
        learner: a registered name (built with short training, ``QUICK_PARAMS``), a learner
            class (built as ``cls(classes, random_state=..., **params)``) or a learner object
            (its ``clone()`` is checked).
        params: the learner's parameters.
        X, y: other data where the learner does not take plain features (items, images):
            (n, d) and (n,) with every class at least 4 times.

    Checks: the protocol's members; predicting before ``fit`` fails; ``fit`` returns the learner;
    ``predict_proba`` gives (n, K) probabilities; each declared capability's method answers in its
    shape; the inputs are not modified; float32 and float64 features work; the same seed gives the
    same probabilities; ``get_params``/``clone`` round trip (and ``sklearn.base.clone``);
    fitting again forgets the first fit.

    Returns: the names of the checks run. Raises: ContractError on the first broken check.
    """
    from labelwise.learners import as_learner

    if X is None:
        X, y = toy_data()
    X, y = np.asarray(X), np.asarray(y)
    classes = np.unique(y)
    K, n = len(classes), len(X)
    model = _build(learner, classes, params, random_state)
    # the object given, whose clone() is checked; a learner built here checks its own
    source = model if isinstance(learner, (str, type)) else as_learner(learner, None)
    run = _Runner(f"learner {type(model).__name__}")
    state: dict[str, Any] = {}

    def protocol():
        assert isinstance(model, Learner), "lacks a member of labelwise.protocol.Learner"
        assert np.array_equal(model.classes_, classes), \
            f"classes_ {list(model.classes_)} differ from the declared {list(classes)}"
    run("protocol", protocol)

    def unfitted():
        try:
            model.predict_proba(X)
        except Exception:  # noqa: BLE001 - any clear error will do
            return
        raise AssertionError("predict_proba before fit returned instead of raising")
    run("unfitted", unfitted)

    def fit():
        before = (X.copy(), y.copy())
        assert model.fit(X, y) is model, "fit must return the learner itself"
        state["P"] = np.asarray(model.predict_proba(X))
        assert np.array_equal(before[0], X) and np.array_equal(before[1], y), \
            "fit or predict_proba modified its input"
    run("fit and inputs not mutated", fit)
    run("predict_proba", lambda: _assert_proba(state["P"], n, K))
    run("capabilities", lambda: _check_capabilities(model.clone().fit(X, y), X, y, K))

    def dtypes():
        for dtype in (np.float32, np.float64):
            _assert_proba(model.clone().fit(X.astype(dtype), y).predict_proba(
                X.astype(dtype)), n, K, f"predict_proba on {np.dtype(dtype).name}")
    run("float32 and float64", dtypes)

    def same_seed():
        P2 = np.asarray(_build(learner, classes, params, random_state).fit(X, y).predict_proba(X))
        assert np.allclose(state["P"], P2, atol=1e-6), \
            f"same seed, probabilities differ by {np.abs(state['P'] - P2).max():.3g}"
    run("same seed", same_seed)

    def params_round_trip():
        p = source.get_params(deep=False)
        twin = source.clone()
        assert twin is not source and type(twin) is type(source), "clone must be a new object"
        q = twin.get_params(deep=False)
        assert set(p) == set(q), f"clone changes the parameters {sorted(set(p) ^ set(q))}"
        changed = [key for key in p if not _same(p[key], q[key])]
        assert not changed, f"clone changes the values of {changed}"
        assert not getattr(twin, "fitted_", False), "a clone must be unfitted"
        assert twin.set_params(**q) is twin, "set_params must return the learner"
        try:
            from sklearn.base import clone
        except ImportError:
            return
        assert set(clone(source).get_params(deep=False)) == set(p), \
            "sklearn.base.clone changes the parameters"
    run("get_params and clone", params_round_trip)

    def refit():
        # the first fit sees half of each class's items
        other = np.concatenate([np.flatnonzero(y == c)[: max(2, (y == c).sum() // 2)]
                                for c in classes])
        again = model.clone().fit(X[other], y[other]).fit(X, y)
        P = np.asarray(again.predict_proba(X))
        gap = np.abs(state["P"] - P).max()
        assert gap <= 1e-6, f"fitting twice keeps state from the first fit (differs by {gap:.3g})"
    run("fitting twice resets", refit)
    return run.done


__all__ = ["QUICK_PARAMS", "TOY_LEARNERS", "ContractError", "check_learner", "check_strategy",
           "gaussian_blobs", "quick_learner", "toy_data"]
