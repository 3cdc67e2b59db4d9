"""``check_learner``: the contract every learner keeps, run on toy data."""

from __future__ import annotations

from typing import Any

import numpy as np

from labelwise.protocol import (
    CAPABILITIES,
    CONTRASTIVE,
    EMA,
    EMBEDDING,
    LOSS_PREDICTION,
    PSEUDO_LABEL_FT,
    SAMPLES,
    Learner,
)
from labelwise.testing.common import _Runner, quick_learner, toy_data


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
