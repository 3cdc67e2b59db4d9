"""When to stop labeling: the criteria as pure functions, and the one monitor everything calls.

:class:`StoppingMonitor` owns the stop set, the history and every threshold; ``labelwise run``
(:func:`labelwise.loop.run_active_learning`), the labeling app and the Label Studio backend all
feed it once per round with :meth:`StoppingMonitor.observe`, and it can be saved and restored as
JSON. Each criterion returns ``{"value", "threshold", "stop"}`` (value NaN and stop False while it
cannot be computed yet):

* ``stabilizing_predictions`` (Bloodgood & Vijay-Shanker 2009, "A Method for Stopping Active
  Learning Based on Stabilizing Predictions and the Need for User-Adjustable Stopping", CoNLL):
  Cohen's kappa between the predicted classes of successive models on a fixed "stop set" of
  pool items (no labels needed); value = mean kappa of the last 3 model pairs, stop when > 0.99.
* ``overall_uncertainty`` (Zhu, Wang & Hovy 2008, "Multi-criteria-based strategy to stop
  active learning for data annotation", COLING): value = mean predictive entropy (natural log)
  over the stop-set items still unlabeled; stop when it is < 0.01.
* ``max_confidence`` (same paper, after Zhu & Hovy 2007): value = the largest entropy among the
  items picked for the next batch; stop when it is < 0.001 (every pick predicted with near
  certainty).
* ``accuracy_plateau``: with cross-validated accuracy estimates a_1..a_t (5 more fits a round:
  only when asked for), value = max(a_{t-w+1..t}) - max(a_1..a_{t-w}), the gain of the last
  w = 3 estimates over the best before them; stop when it is <= 0.005.
* ``recommended`` (the project's default advice, see docs/stopping.md for how it was chosen and
  how it behaves on data sets it was not tuned on): the estimated accuracy gain of the last
  ``gain_labels`` = 50 labels, judged by the current model on the stop set,
  ``mean_i [p_t(i, ŷ_t(i)) - p_t(i, ŷ_{t-50}(i))]`` (ŷ_{t-50} = the predictions of the newest
  model trained on at least 50 fewer labels); stop when it is < 0.0025 (a quarter point). It
  reads the same stop-set forward pass as stabilizing predictions, so it costs no extra fit; like
  Bloodgood & Vijay-Shanker's criterion it needs no labels, but it weighs a changed prediction by
  how much the current model prefers its new answer, so items that flip between two near-equal
  classes do not hold it back.

Zhu et al. tune thresholds per task (their values suit entropies of few-class NLP tasks); every
threshold is a parameter of the monitor and is written beside every value.
"""

from __future__ import annotations

import json
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
_STOP_SET_STREAM = 0x5709


def value_column(criterion: str) -> str:
    """The flat column holding ``criterion``'s value, e.g. ``stabilizing_predictions_kappa``."""
    return f"{criterion}_{MEASURES[criterion]}"


def _row(value: float, stop: bool, threshold: float = math.nan) -> dict:
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
        return _row(math.nan, False, threshold)
    value = float(np.mean(np.asarray(kappas[-window:], dtype=float)))
    return _row(value, value > threshold, threshold)


def overall_uncertainty(pool_proba, threshold: float = OVERALL_UNCERTAINTY_THRESHOLD) -> dict:
    """Mean entropy of ``pool_proba`` (n, K), the model on unlabeled items; stop when below
    ``threshold``."""
    p = np.asarray(pool_proba, dtype=float)
    if p.ndim != 2 or len(p) == 0:
        return _row(math.nan, False, threshold)
    value = float(entropy(p).mean())
    return _row(value, value < threshold, threshold)


def max_confidence(picks_proba, threshold: float = MAX_CONFIDENCE_THRESHOLD) -> dict:
    """Largest entropy among the next batch's picks, ``picks_proba`` (b, K); stop when below
    ``threshold``."""
    p = np.asarray(picks_proba, dtype=float)
    if p.ndim != 2 or len(p) == 0:
        return _row(math.nan, False, threshold)
    value = float(entropy(p).max())
    return _row(value, value < threshold, threshold)


def accuracy_plateau(accuracies: Iterable[float | None], window: int = PLATEAU_WINDOW,
                     eps: float = PLATEAU_EPS) -> dict:
    """Gain of the best of the last ``window`` accuracy estimates over the best before them
    (rounds without an estimate, None or NaN, are skipped); stop when the gain is <= ``eps``."""
    a = np.array([x for x in accuracies if x is not None and not math.isnan(x)], dtype=float)
    if len(a) <= window:
        return _row(math.nan, False, eps)
    value = float(a[-window:].max() - a[:-window].max())
    return _row(value, value <= eps, eps)


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
        return _row(math.nan, False, threshold)
    return _row(gain, gain < threshold, threshold)


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
    """Every stopping criterion, fed once per round; the one place stopping is computed.

    The monitor owns the stop set (``stop_set_size`` pool rows drawn once from
    ``random_state``, from the whole pool, so it does not depend on which items are labeled when
    it is drawn), the history (kappas, accuracy estimates, the stop-set predictions of the last
    ``gain_labels`` labels) and the thresholds. Feed it with :meth:`observe` (a fitted model and
    the pool) or, with your own forward passes, :meth:`update`; save it with :meth:`to_json` and
    :meth:`from_json` (a restored monitor continues exactly where it stopped).

    Args:
        stop_set_size: items in the stop set; None = 1,000, or the whole pool when smaller. A
            size larger than the pool is an error (the criteria would read fewer items than
            asked).
        random_state: seeds the stop set (its own stream, so the picks of a run do not move).
        cv: compute the 5-fold cross-validated accuracy the accuracy plateau reads (5 more fits
            a round; off by default).
        kappa_window, kappa_threshold, uncertainty_threshold, confidence_threshold,
        plateau_window, plateau_eps, gain_labels, gain_threshold: the criteria's settings (see
            the module docstring).
    """

    def __init__(self, stop_set_size: int | None = None, random_state: int | None = 0,
                 cv: bool = False, kappa_window: int = KAPPA_WINDOW,
                 kappa_threshold: float = KAPPA_THRESHOLD,
                 uncertainty_threshold: float = OVERALL_UNCERTAINTY_THRESHOLD,
                 confidence_threshold: float = MAX_CONFIDENCE_THRESHOLD,
                 plateau_window: int = PLATEAU_WINDOW, plateau_eps: float = PLATEAU_EPS,
                 gain_labels: int = GAIN_LABELS, gain_threshold: float = GAIN_THRESHOLD):
        if stop_set_size is not None and int(stop_set_size) < 1:
            raise LabelwiseError(f"stop set size must be at least 1, got {stop_set_size}")
        self.stop_set_size = None if stop_set_size is None else int(stop_set_size)
        self.random_state = None if random_state is None else int(random_state)
        self.cv = bool(cv)
        self.kappa_window, self.kappa_threshold = int(kappa_window), float(kappa_threshold)
        self.uncertainty_threshold = float(uncertainty_threshold)
        self.confidence_threshold = float(confidence_threshold)
        self.plateau_window, self.plateau_eps = int(plateau_window), float(plateau_eps)
        self.gain_labels, self.gain_threshold = int(gain_labels), float(gain_threshold)
        self.stop_set: np.ndarray | None = None
        self.kappas: list[float] = []
        self.accuracies: list[float] = []
        #: (labels, (s,) predicted classes on the stop set) of recent rounds, oldest first
        self.history: list[tuple[int | None, np.ndarray]] = []
        self.rows: list[dict] = []

    _PARAMS = ("stop_set_size", "random_state", "cv", "kappa_window", "kappa_threshold",
               "uncertainty_threshold", "confidence_threshold", "plateau_window", "plateau_eps",
               "gain_labels", "gain_threshold")

    # -- the stop set ----------------------------------------------------------------------------
    def stop_set_for(self, n_pool: int) -> np.ndarray:
        """(s,) the stop set's pool rows, drawn on the first call for a pool of ``n_pool`` rows."""
        if self.stop_set is None:
            if n_pool < 1:
                raise LabelwiseError("the pool is empty: nothing to judge stopping on")
            size = STOP_SET_SIZE if self.stop_set_size is None else self.stop_set_size
            if self.stop_set_size is not None and size > n_pool:
                raise LabelwiseError(
                    f"the stop set ({size} items) is larger than the pool ({n_pool} items): "
                    f"pass a stop set size of at most {n_pool}, or none (the whole pool)")
            seed = None if self.random_state is None else [self.random_state, _STOP_SET_STREAM]
            self.stop_set = draw_stop_set(n_pool, size, np.random.default_rng(seed))
        elif len(self.stop_set) and self.stop_set[-1] >= n_pool:
            raise LabelwiseError(f"the pool shrank to {n_pool} items below the stop set's rows; "
                                 "start a new monitor for a new pool")
        return self.stop_set

    # -- one round -------------------------------------------------------------------------------
    def observe(self, model, X_pool, labeled_idx, picks=None, learner=None,
                labels=None) -> dict:
        """This round's row from a fitted ``model`` (None before one exists, e.g. labels of one
        class) over the pool ``X_pool`` (n, d), with ``labeled_idx`` (m,) the labeled rows and
        ``picks`` (b,) the rows picked for the next batch (None or empty: none). ``learner``
        (unfitted) and ``labels`` (m,) feed the cross-validated accuracy when ``cv`` is on.

        A round counts once per label count: called again with no more labels than the last
        counted round (batches prepared ahead on the same labels), it returns that round's row.
        """
        labeled_idx = np.asarray(labeled_idx, dtype=np.int64)
        n = len(labeled_idx)
        if self.rows and self.rows[-1]["n_labeled"] is not None and n <= self.rows[-1]["n_labeled"]:
            return self.rows[-1]
        stop_set = self.stop_set_for(len(X_pool))
        if model is None:
            return self.update(n_labeled=n, note="no model yet: the labels cover fewer than 2 "
                                                 "classes; label an item of another class")
        picks = np.empty(0, np.int64) if picks is None else np.asarray(picks, dtype=np.int64)
        # one forward pass over the stop set and the picks (each call re-checks its input)
        both = np.asarray(model.predict_proba(X_pool[np.concatenate([stop_set, picks])]))
        proba, picks_proba = both[:len(stop_set)], both[len(stop_set):] if len(picks) else None
        still = ~np.isin(stop_set, labeled_idx)
        cv = None
        if self.cv and learner is not None and labels is not None:
            cv = cross_validated_accuracy(learner, X_pool[labeled_idx], np.asarray(labels),
                                          random_state=self.random_state or 0)
        return self.update(n_labeled=n, stop_set_proba=proba,
                           pool_proba=proba[still] if still.any() else None,
                           picks_proba=picks_proba, cv_accuracy=cv)

    def update(self, *, n_labeled: int | None = None, stop_set_proba=None, stop_set_pred=None,
               pool_proba=None, picks_proba=None, cv_accuracy: float | None = None,
               note: str | None = None) -> dict:
        """Record one round from its forward passes (all optional, each feeds its criteria):
        ``stop_set_proba`` (s, K) the model's probabilities on the stop set (or only its
        predicted classes ``stop_set_pred`` (s,): no recommended stop then), ``pool_proba``
        (n, K) on the unlabeled items, ``picks_proba`` (b, K) on the next batch's picks,
        ``cv_accuracy`` this round's cross-validated accuracy; ``n_labeled`` the labels the
        model was trained on. Returns the row ``{"n_labeled", "stop_set_size", <criterion>:
        {"value", "threshold", "stop"}, "recommended": {..., "reason"}}``, also appended to
        ``rows``."""
        row = {"n_labeled": n_labeled, "stop_set_size":
               None if self.stop_set is None else len(self.stop_set)}
        row["stabilizing_predictions"] = _row(math.nan, False, self.kappa_threshold)
        row["overall_uncertainty"] = overall_uncertainty(None, self.uncertainty_threshold)
        row["max_confidence"] = max_confidence(None, self.confidence_threshold)
        row["accuracy_plateau"] = _row(math.nan, False, self.plateau_eps)
        gain, apart = None, None
        if stop_set_proba is not None or stop_set_pred is not None:
            pred = (np.asarray(stop_set_pred) if stop_set_proba is None
                    else np.asarray(stop_set_proba).argmax(axis=1))
            if row["stop_set_size"] is None:
                row["stop_set_size"] = len(pred)
            if self.history:
                last = self.history[-1][1]
                if pred.shape != last.shape:
                    raise LabelwiseError(
                        f"stop-set predictions changed shape from {last.shape} to {pred.shape}; "
                        "predict on the same fixed stop set every round")
                self.kappas.append(agreement_kappa(last, pred))
                row["stabilizing_predictions"] = stabilizing_predictions(
                    self.kappas, self.kappa_window, self.kappa_threshold)
            if stop_set_proba is not None and n_labeled is not None:
                back = [(m, p) for m, p in self.history
                        if m is not None and m <= n_labeled - self.gain_labels]
                if back:
                    apart = n_labeled - back[-1][0]
                    gain = estimated_gain(stop_set_proba, back[-1][1])
            self._remember(n_labeled, pred)
        if pool_proba is not None:
            row["overall_uncertainty"] = overall_uncertainty(pool_proba,
                                                             self.uncertainty_threshold)
        if picks_proba is not None:
            row["max_confidence"] = max_confidence(picks_proba, self.confidence_threshold)
        if cv_accuracy is not None and not math.isnan(cv_accuracy):
            self.accuracies.append(float(cv_accuracy))
            row["accuracy_plateau"] = accuracy_plateau(self.accuracies, self.plateau_window,
                                                       self.plateau_eps)
        rec = recommended_stop(gain, apart, self.gain_threshold)
        rec["reason"] = note or self._reason(rec, apart, row)
        row[RECOMMENDED] = rec
        self.rows.append(row)
        return row

    def _remember(self, n_labeled: int | None, pred: np.ndarray) -> None:
        """Keep the predictions the next rounds may compare with: every round newer than the
        newest one at least ``gain_labels`` labels back (that one included)."""
        self.history.append((n_labeled, pred.copy()))
        if n_labeled is None:
            self.history = self.history[-1:]
            return
        old = [i for i, (m, _) in enumerate(self.history)
               if m is not None and m <= n_labeled - self.gain_labels]
        if old:
            self.history = self.history[old[-1]:]

    def _reason(self, rec: dict, apart: int | None, row: dict) -> str:
        size = row["stop_set_size"]
        items = f"{size:,} items" if size is not None else "the stop set"
        if apart is None:
            have = row["n_labeled"]
            return (f"go on: too few rounds to judge (the estimate compares models "
                    f"{self.gain_labels} labels apart" + ("" if have is None else
                                                         f"; {have} labels so far") + ")")
        points, thr = 100 * rec["value"], 100 * rec["threshold"]
        stab = row["stabilizing_predictions"]
        agreed = ("" if math.isnan(stab["value"]) else
                  f"; predictions agreed with the previous models' at kappa {stab['value']:.3f} "
                  f"over {self.kappa_window} rounds")
        if rec["stop"]:
            return (f"stop: the last {apart} labels improved predictions on {items} by an "
                    f"estimated {points:.2f} accuracy points (< {thr:.2f}){agreed}")
        return (f"go on: the last {apart} labels improved predictions on {items} by an "
                f"estimated {points:.2f} accuracy points (stop below {thr:.2f}){agreed}")

    @property
    def latest(self) -> dict | None:
        """The newest row, or None before any round."""
        return self.rows[-1] if self.rows else None

    # -- save and restore ------------------------------------------------------------------------
    def to_dict(self) -> dict:
        """Everything the monitor knows, as JSON-ready values (NaN written as None)."""
        return {"version": 1, "params": {p: getattr(self, p) for p in self._PARAMS},
                "stop_set": None if self.stop_set is None else self.stop_set.tolist(),
                "kappas": self.kappas, "accuracies": self.accuracies,
                "history": [[m, p.tolist()] for m, p in self.history],
                "rows": _nan_to_none(self.rows)}

    @classmethod
    def from_dict(cls, state: Mapping) -> StoppingMonitor:
        """The monitor :meth:`to_dict` described."""
        try:
            m = cls(**state["params"])
            m.stop_set = (None if state["stop_set"] is None
                          else np.asarray(state["stop_set"], dtype=np.int64))
            m.kappas = [float(k) for k in state["kappas"]]
            m.accuracies = [float(a) for a in state["accuracies"]]
            m.history = [(None if n is None else int(n), np.asarray(p, dtype=np.int64))
                         for n, p in state["history"]]
            m.rows = _none_to_nan(state["rows"])
        except (KeyError, TypeError, ValueError) as e:
            raise LabelwiseError(f"not a saved stopping monitor ({type(e).__name__}: {e}); "
                                 "save one with StoppingMonitor.to_json") from None
        return m

    def to_json(self) -> str:
        return json.dumps(self.to_dict())

    @classmethod
    def from_json(cls, text: str) -> StoppingMonitor:
        try:
            state = json.loads(text)
        except json.JSONDecodeError as e:
            raise LabelwiseError(f"not a saved stopping monitor: {e}") from None
        return cls.from_dict(state)


def _nan_to_none(rows: list[dict]) -> list[dict]:
    return [{k: ({**v, "value": None if math.isnan(v["value"]) else v["value"]}
                 if isinstance(v, dict) else v) for k, v in r.items()} for r in rows]


def _none_to_nan(rows: list[dict]) -> list[dict]:
    return [{k: ({**v, "value": math.nan if v["value"] is None else float(v["value"])}
                 if isinstance(v, dict) else v) for k, v in r.items()} for r in rows]


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
