"""The stopping criteria as pure functions of arrays, and the table helpers of their rows.

Each criterion returns ``{"value", "threshold", "stop"}`` (value NaN and stop False while it
cannot be computed yet); what each one measures, and after whom, is in the docstring of
:mod:`labelwise.stopping`, whose :class:`~labelwise.stopping.StoppingMonitor` feeds them once
a round. Import them from :mod:`labelwise.stopping`; this module holds them so that the
monitor and the criteria each stay one readable file.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence

import numpy as np

from labelwise.strategies.scores import entropy
from labelwise.validation import LabelwiseError

STOP_SET_SIZE = 1000
KAPPA_WINDOW = 3
KAPPA_THRESHOLD = 0.99
OVERALL_UNCERTAINTY_THRESHOLD = 0.01
MAX_CONFIDENCE_THRESHOLD = 0.001
PLATEAU_WINDOW = 3
PLATEAU_EPS = 0.005
GAIN_LABELS = 50
GAIN_THRESHOLD = 0.0025
CRITERIA = ("stabilizing_predictions", "overall_uncertainty", "max_confidence",
            "accuracy_plateau")
RECOMMENDED = "recommended"
#: what each criterion's value is, the name of its column in flat records
MEASURES = {"stabilizing_predictions": "kappa", "overall_uncertainty": "mean_entropy",
            "max_confidence": "largest_entropy", "accuracy_plateau": "gain",
            RECOMMENDED: "value"}
#: the stream of the run's seed that draws the stop set (apart from the picks' stream)
STOP_SET_STREAM = 0x5709


def value_column(criterion: str) -> str:
    """The flat column holding ``criterion``'s value, e.g. ``stabilizing_predictions_kappa``."""
    return f"{criterion}_{MEASURES[criterion]}"


def criterion_row(value: float, stop: bool, threshold: float = math.nan) -> dict:
    """One criterion's result, ``{"value", "threshold", "stop"}``, as plain floats and a bool."""
    return {"value": float(value), "threshold": float(threshold), "stop": bool(stop)}


def draw_stop_set(n_pool: int, size: int = STOP_SET_SIZE, random_state=None) -> np.ndarray:
    """The stop set: ``size`` rows of the pool drawn once without replacement (all ``n_pool``
    rows if fewer), sorted, int64. Keep it fixed for the whole run."""
    if n_pool < 0 or size < 1:
        raise LabelwiseError(f"a stop set needs n_pool >= 0 and size >= 1, got {n_pool}, {size}")
    if n_pool <= size:
        return np.arange(n_pool, dtype=np.int64)
    rng = np.random.default_rng(random_state)
    return np.sort(rng.choice(n_pool, size=size, replace=False)).astype(np.int64)


def agreement_kappa(a, b) -> float:
    """Cohen's kappa between two predicted-class vectors of the same items (n,).

    Identical constant predictions (where kappa is 0/0) agree perfectly: 1.0.
    """
    a, b = np.asarray(a), np.asarray(b)
    if a.shape != b.shape or a.ndim != 1 or len(a) == 0:
        raise LabelwiseError(f"kappa needs two non-empty 1-D predictions of the same items, got "
                             f"shapes {a.shape} and {b.shape}")
    if np.array_equal(a, b):
        return 1.0
    # scikit-learn's cohen_kappa_score, written out: its input checks cost as much as the rest
    # of the monitor (this runs every round)
    n = len(a)
    if a.dtype.kind in "iu" and b.dtype.kind in "iu" and min(a.min(), b.min()) >= 0:
        k, ia, ib = int(max(a.max(), b.max())) + 1, a, b  # class indices, as the monitor has
    else:
        codes, inv = np.unique(np.concatenate([a, b]), return_inverse=True)
        k, ia, ib = len(codes), inv[:n], inv[n:]
    table = np.bincount(ia * k + ib, minlength=k * k).reshape(k, k) / n
    observed = np.trace(table)
    chance = float(table.sum(axis=1) @ table.sum(axis=0))
    return float((observed - chance) / (1 - chance))


def stabilizing_predictions(kappas: Sequence[float], window: int = KAPPA_WINDOW,
                            threshold: float = KAPPA_THRESHOLD) -> dict:
    """Mean of the last ``window`` kappas between successive models; stop when > ``threshold``."""
    if len(kappas) < window:
        return criterion_row(math.nan, False, threshold)
    value = float(np.mean(np.asarray(kappas[-window:], dtype=float)))
    return criterion_row(value, value > threshold, threshold)


def _entropy_below(proba, reduce, threshold: float) -> dict:
    """``reduce`` of the rows' entropies of ``proba`` (n, K); stop when below ``threshold``
    (NaN and no stop for an empty or malformed array)."""
    p = np.asarray(proba, dtype=float)
    if p.ndim != 2 or len(p) == 0:
        return criterion_row(math.nan, False, threshold)
    value = float(reduce(entropy(p)))
    return criterion_row(value, value < threshold, threshold)


def overall_uncertainty(pool_proba, threshold: float = OVERALL_UNCERTAINTY_THRESHOLD) -> dict:
    """Mean entropy of ``pool_proba`` (n, K), the model on unlabeled items; stop when below
    ``threshold``."""
    return _entropy_below(pool_proba, np.mean, threshold)


def max_confidence(picks_proba, threshold: float = MAX_CONFIDENCE_THRESHOLD) -> dict:
    """Largest entropy among the next batch's picks, ``picks_proba`` (b, K); stop when below
    ``threshold``."""
    return _entropy_below(picks_proba, np.max, threshold)


def accuracy_plateau(accuracies: Iterable[float | None], window: int = PLATEAU_WINDOW,
                     eps: float = PLATEAU_EPS) -> dict:
    """Gain of the best of the last ``window`` accuracy estimates over the best before them
    (rounds without an estimate, None or NaN, are skipped); stop when the gain is <= ``eps``."""
    a = np.array([x for x in accuracies if x is not None and not math.isnan(x)], dtype=float)
    if len(a) <= window:
        return criterion_row(math.nan, False, eps)
    value = float(a[-window:].max() - a[:-window].max())
    return criterion_row(value, value <= eps, eps)


def estimated_gain(proba, earlier_pred) -> float:
    """How much more accurate the current predictions are than earlier ones, as the current
    model judges: ``mean_i [proba[i, argmax proba[i]] - proba[i, earlier_pred[i]]]`` (>= 0).

    Args:
        proba: (s, K) the current model's probabilities on the stop set.
        earlier_pred: (s,) an earlier model's predicted classes (column indices) on the same items.
    """
    p = np.asarray(proba, dtype=float)
    rows = np.arange(len(p))
    return float(np.mean(p[rows, p.argmax(axis=1)] - p[rows, np.asarray(earlier_pred)]))


def recommended_stop(gain: float | None, labels_apart: int | None,
                     threshold: float = GAIN_THRESHOLD) -> dict:
    """The recommended criterion from :func:`estimated_gain` over ``labels_apart`` labels (None:
    no model that far back yet); stop when the gain is < ``threshold``."""
    if gain is None or labels_apart is None or math.isnan(gain):
        return criterion_row(math.nan, False, threshold)
    return criterion_row(gain, gain < threshold, threshold)


def cross_validated_accuracy(learner, X: np.ndarray, y: np.ndarray,
                             random_state: int = 0, n_splits: int = 5,
                             before_fold=None) -> float | None:
    """Stratified k-fold accuracy of ``learner`` on the labels so far: scikit-learn's
    ``cross_val_score`` with accuracy (each fold fits a clone), written out so that the worker
    can give way to batch preparation between folds.

    The folds are fixed by ``random_state`` (the project's seed, not the round's), so the estimate
    does not jump between rounds when the labels did not change.

    Args:
        learner: an unfitted or fitted learner (cloned per fold).
        X: (m, d) features of the labeled items; y: (m,) their labels.
        n_splits: at most this many folds (fewer when no class has that many labels).
        before_fold: called before each fold's fit (the worker waits there while a batch is
            being prepared, so the estimate gives way to it).

    Returns:
        The mean accuracy over the folds that could be fitted (a fold whose training part lacks
        two classes is left out), or None with fewer than 4 labels or 2 classes.
    """
    import warnings

    from sklearn.base import clone
    from sklearn.model_selection import StratifiedKFold

    _, counts = np.unique(y, return_counts=True)
    if len(counts) < 2 or len(y) < 4:
        return None
    k = int(min(n_splits, counts.max()))
    if k < 2:
        return None
    folds = StratifiedKFold(k, shuffle=True, random_state=random_state)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # small classes; folds left out when they cannot fit
        scores = []
        for train, test in folds.split(X, y):
            if before_fold is not None:
                before_fold()
            try:
                model = clone(learner).fit(X[train], y[train])
            except (LabelwiseError, ValueError):  # a training part of one class
                continue
            scores.append(model.score(X[test], y[test]))
    return float(np.mean(scores)) if scores else None



def flat_row(row: Mapping) -> dict:
    """One monitor row as flat columns for a results table, named for what they hold: per
    criterion ``<criterion>_<measure>`` (see :data:`MEASURES`, e.g.
    ``stabilizing_predictions_kappa``), ``<criterion>_threshold``, ``<criterion>_stop``; and
    ``recommended_value``, ``recommended_threshold``, ``recommended_stop``,
    ``recommended_reason``, ``stop_set_size``."""
    out = {}
    for name in (*CRITERIA, RECOMMENDED):
        if name not in row:
            continue
        cell = row[name]
        out[value_column(name)] = cell["value"]
        out[f"{name}_threshold"] = cell.get("threshold", math.nan)
        out[f"{name}_stop"] = cell["stop"]
    if RECOMMENDED in row:
        out["recommended_reason"] = row[RECOMMENDED].get("reason", "")
    if "stop_set_size" in row:
        out["stop_set_size"] = row["stop_set_size"]
    return out


def first_stop_round(rows: Sequence[Mapping], criterion: str | None = None) -> int | None:
    """The position (0-based) of the first row in which ``criterion`` says stop, or None.

    ``rows`` are per-round results as :meth:`StoppingMonitor.update` returns them, or flat ones,
    ``{"<criterion>_stop": bool}`` (see :func:`flat_row`); with ``criterion=None``, one
    criterion's own results ``{"value", "stop"}``.
    """
    for i, row in enumerate(rows):
        if criterion is None:
            stop = row.get("stop")
        elif isinstance(row.get(criterion), Mapping):
            stop = row[criterion].get("stop")
        else:
            stop = row.get(f"{criterion}_stop")
        if stop is not None and not (isinstance(stop, float) and math.isnan(stop)) and stop:
            return i
    return None
