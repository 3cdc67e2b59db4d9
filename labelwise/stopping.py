"""When to stop labeling: stopping criteria as pure functions, and a per-round monitor.

Each criterion returns ``{"value": float, "stop": bool}`` (value NaN and stop False while it
cannot be computed yet). Defaults follow the papers:

* ``stabilizing_predictions`` (Bloodgood & Vijay-Shanker 2009, "A Method for Stopping Active
  Learning Based on Stabilizing Predictions and the Need for User-Adjustable Stopping", CoNLL):
  Cohen's kappa between the predicted classes of successive models on a fixed "stop set" of
  unlabeled items (no labels needed); value = mean kappa of the last 3 model pairs, stop when
  it is > 0.99.
* ``overall_uncertainty`` (Zhu, Wang & Hovy 2008, "Multi-criteria-based strategy to stop
  active learning for data annotation", COLING): value = mean predictive entropy (natural log)
  over the remaining unlabeled pool; stop when it is < 0.01.
* ``max_confidence`` (same paper, after Zhu & Hovy 2007): value = the largest entropy among
  the items the strategy picked for the next batch (each selected item's uncertainty); stop
  when it is < 0.001, i.e. every selected item is predicted with near certainty.
* ``accuracy_plateau``: with the cross-validated accuracy estimates a_1..a_t of the rounds that
  have one, value = max(a_{t-w+1..t}) - max(a_1..a_{t-w}), the gain of the last w = 3 estimates
  over the best before them; stop when it is <= 0.005 (needs t > w).

Zhu et al. tune thresholds per task (their values suit entropies of few-class NLP tasks); every
threshold here is a parameter.
"""

from __future__ import annotations

import math
import warnings
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
CRITERIA = ("stabilizing_predictions", "overall_uncertainty", "max_confidence",
            "accuracy_plateau")


def _row(value: float, stop: bool) -> dict:
    return {"value": float(value), "stop": bool(stop)}


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
    from sklearn.metrics import cohen_kappa_score

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return float(cohen_kappa_score(a, b))


def stabilizing_predictions(kappas: Sequence[float], window: int = KAPPA_WINDOW,
                            threshold: float = KAPPA_THRESHOLD) -> dict:
    """Mean of the last ``window`` kappas between successive models; stop when > ``threshold``."""
    if len(kappas) < window:
        return _row(math.nan, False)
    value = float(np.mean(np.asarray(kappas[-window:], dtype=float)))
    return _row(value, value > threshold)


def overall_uncertainty(pool_proba, threshold: float = OVERALL_UNCERTAINTY_THRESHOLD) -> dict:
    """Mean entropy of ``pool_proba`` (n, K), the model on the unlabeled pool; stop when below
    ``threshold``."""
    p = np.asarray(pool_proba, dtype=float)
    if p.ndim != 2 or len(p) == 0:
        return _row(math.nan, False)
    value = float(entropy(p).mean())
    return _row(value, value < threshold)


def max_confidence(picks_proba, threshold: float = MAX_CONFIDENCE_THRESHOLD) -> dict:
    """Largest entropy among the next batch's picks, ``picks_proba`` (b, K); stop when below
    ``threshold``."""
    p = np.asarray(picks_proba, dtype=float)
    if p.ndim != 2 or len(p) == 0:
        return _row(math.nan, False)
    value = float(entropy(p).max())
    return _row(value, value < threshold)


def accuracy_plateau(accuracies: Iterable[float | None], window: int = PLATEAU_WINDOW,
                     eps: float = PLATEAU_EPS) -> dict:
    """Gain of the best of the last ``window`` accuracy estimates over the best before them
    (rounds without an estimate, None or NaN, are skipped); stop when the gain is <= ``eps``."""
    a = np.array([x for x in accuracies if x is not None and not math.isnan(x)], dtype=float)
    if len(a) <= window:
        return _row(math.nan, False)
    value = float(a[-window:].max() - a[:-window].max())
    return _row(value, value <= eps)


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


class StoppingMonitor:
    """Feed once per round what the model said; get every criterion's value and verdict.

    ``update`` takes (all optional, each feeds its criteria): ``stop_set_pred`` (s,) the
    current model's predicted classes on the fixed stop set (see :func:`draw_stop_set`),
    ``pool_proba`` (n, K) its probabilities on the unlabeled pool, ``picks_proba`` (b, K) its
    probabilities on the items picked for the next batch, and ``cv_accuracy`` this round's
    cross-validated accuracy estimate. It returns ``{criterion: {"value", "stop"}}`` for the
    names in :data:`CRITERIA` and appends it to ``rows``. Kappa compares successive calls that
    pass ``stop_set_pred``.
    """

    def __init__(self, kappa_window: int = KAPPA_WINDOW,
                 kappa_threshold: float = KAPPA_THRESHOLD,
                 uncertainty_threshold: float = OVERALL_UNCERTAINTY_THRESHOLD,
                 confidence_threshold: float = MAX_CONFIDENCE_THRESHOLD,
                 plateau_window: int = PLATEAU_WINDOW, plateau_eps: float = PLATEAU_EPS):
        self.kappa_window = kappa_window
        self.kappa_threshold = kappa_threshold
        self.uncertainty_threshold = uncertainty_threshold
        self.confidence_threshold = confidence_threshold
        self.plateau_window = plateau_window
        self.plateau_eps = plateau_eps
        self.kappas: list[float] = []
        self.accuracies: list[float] = []
        self.rows: list[dict] = []
        self._last_pred: np.ndarray | None = None

    def update(self, *, stop_set_pred=None, pool_proba=None, picks_proba=None,
               cv_accuracy: float | None = None) -> dict:
        nan = _row(math.nan, False)
        row = dict.fromkeys(CRITERIA, nan)
        if stop_set_pred is not None:
            pred = np.asarray(stop_set_pred)
            if self._last_pred is not None:
                if pred.shape != self._last_pred.shape:
                    raise LabelwiseError(
                        f"stop-set predictions changed shape from {self._last_pred.shape} to "
                        f"{pred.shape}; predict on the same fixed stop set every round")
                self.kappas.append(agreement_kappa(self._last_pred, pred))
                row["stabilizing_predictions"] = stabilizing_predictions(
                    self.kappas, self.kappa_window, self.kappa_threshold)
            self._last_pred = pred.copy()
        if pool_proba is not None:
            row["overall_uncertainty"] = overall_uncertainty(pool_proba,
                                                             self.uncertainty_threshold)
        if picks_proba is not None:
            row["max_confidence"] = max_confidence(picks_proba, self.confidence_threshold)
        if cv_accuracy is not None and not math.isnan(cv_accuracy):
            self.accuracies.append(float(cv_accuracy))
            row["accuracy_plateau"] = accuracy_plateau(self.accuracies, self.plateau_window,
                                                       self.plateau_eps)
        row = {name: dict(v) for name, v in row.items()}
        self.rows.append(row)
        return row


def flat_row(row: Mapping) -> dict:
    """One monitor row as flat columns for a results table: ``{"<criterion>_value": float,
    "<criterion>_stop": bool}``."""
    out = {}
    for name, cell in row.items():
        out[f"{name}_value"] = cell["value"]
        out[f"{name}_stop"] = cell["stop"]
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
