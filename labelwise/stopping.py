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
threshold is a parameter of the monitor and is written beside every value. The criteria live in
:mod:`labelwise.stopping_criteria` and are imported here, so ``labelwise.stopping`` is still
where users import every name from.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping

import numpy as np

from labelwise.stopping_criteria import (  # the criteria, importable from here as before
    CRITERIA,
    GAIN_LABELS,
    GAIN_THRESHOLD,
    KAPPA_THRESHOLD,
    KAPPA_WINDOW,
    MAX_CONFIDENCE_THRESHOLD,
    MEASURES,
    OVERALL_UNCERTAINTY_THRESHOLD,
    PLATEAU_EPS,
    PLATEAU_WINDOW,
    RECOMMENDED,
    STOP_SET_SIZE,
    STOP_SET_STREAM,
    accuracy_plateau,
    agreement_kappa,
    criterion_row,
    cross_validated_accuracy,
    draw_stop_set,
    estimated_gain,
    first_stop_round,
    flat_row,
    max_confidence,
    overall_uncertainty,
    recommended_stop,
    stabilizing_predictions,
    value_column,
)
from labelwise.validation import LabelwiseError

__all__ = [
    "CRITERIA",
    "GAIN_LABELS",
    "GAIN_THRESHOLD",
    "KAPPA_THRESHOLD",
    "KAPPA_WINDOW",
    "MAX_CONFIDENCE_THRESHOLD",
    "MEASURES",
    "OVERALL_UNCERTAINTY_THRESHOLD",
    "PLATEAU_EPS",
    "PLATEAU_WINDOW",
    "RECOMMENDED",
    "STOP_SET_SIZE",
    "accuracy_plateau",
    "agreement_kappa",
    "cross_validated_accuracy",
    "draw_stop_set",
    "estimated_gain",
    "first_stop_round",
    "flat_row",
    "max_confidence",
    "overall_uncertainty",
    "recommended_stop",
    "stabilizing_predictions",
    "value_column",
    "StoppingMonitor",
    "nan_to_none",
]


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
            seed = None if self.random_state is None else [self.random_state, STOP_SET_STREAM]
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
        row["stabilizing_predictions"] = criterion_row(math.nan, False, self.kappa_threshold)
        row["overall_uncertainty"] = overall_uncertainty(None, self.uncertainty_threshold)
        row["max_confidence"] = max_confidence(None, self.confidence_threshold)
        row["accuracy_plateau"] = criterion_row(math.nan, False, self.plateau_eps)
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
                "rows": nan_to_none(self.rows)}

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


def nan_to_none(rows: list[dict]) -> list[dict]:
    """Monitor rows for JSON: each criterion's NaN value (not computable yet) as None."""
    return [{k: ({**v, "value": None if math.isnan(v["value"]) else v["value"]}
                 if isinstance(v, dict) else v) for k, v in r.items()} for r in rows]


def _none_to_nan(rows: list[dict]) -> list[dict]:
    return [{k: ({**v, "value": math.nan if v["value"] is None else float(v["value"])}
                 if isinstance(v, dict) else v) for k, v in r.items()} for r in rows]

