"""One Label Studio project as labelwise's engine sees it: a pool of tasks, their labels, a ranking.

:class:`TaskPool` holds the features of every task the backend has been sent (row ``i`` = the
``i``-th task seen), the labels Label Studio's annotations give, and one
:class:`~labelwise.engine.ActiveLearner` over those features. Whenever the pool or the labels
change, the next :meth:`TaskPool.refresh` runs one engine round (:meth:`ActiveLearner.step`: fit
when two classes are labeled, then the strategy's query, from the cold-start strategy before) and
turns its pick order into scores:

    the unlabeled tasks, n of them, in pick order p_0, p_1, ...: score(p_i) = i / n
    unlabeled tasks past the first ``max_ranked`` picks: score = max_ranked / n (tied)
    labeled tasks: score = 1

So the *lowest* score is labelwise's first pick: Label Studio's own reading of a prediction score
(a confidence: "the task with the lowest score is shown first", its ``prediction-score-min``
sampling), and the Data Manager sorted by "Prediction score" ascending lists the tasks in
labelwise's pick order. Batch selectors (BADGE, LHD, coreset's k-center greedy, the diversified
orders) give their selection order for the first ``max_ranked`` picks, which bounds the cost of a
k-means++ or k-center pass over a large pool; per-item scores (margin, entropy, ...) rank every
task when the pool is no larger than ``max_ranked``.

The features of a task, and the settings, are read in
:mod:`labelwise.integrations.label_studio_tasks`.
"""

from __future__ import annotations

import logging
import threading
from collections import Counter

import numpy as np

from labelwise.integrations.label_studio import LabelConfig, annotation_label, choice_result
from labelwise.integrations.label_studio_tasks import BackendSettings, task_features
from labelwise.validation import LabelwiseError

__all__ = ["BackendSettings", "TaskPool"]

log = logging.getLogger("labelwise.label_studio")


class TaskPool:
    """The tasks of one Label Studio project, their labels and the engine's ranking.

    Two locks: ``lock`` guards the tasks, the labels and the current ranking, and is held only
    briefly; rankings (:meth:`refresh`, which may fit a model for seconds) run one at a time
    under a lock of their own and take ``lock`` only to read the labels and to install their
    result. So :meth:`predict` never waits for a fit: it answers from the last ranking while
    the next one trains in a background thread (:meth:`refresh_later`); ``model_version`` names
    the ranking that answered.
    """

    def __init__(self, config: LabelConfig, settings: BackendSettings):
        self.config, self.settings = config, settings
        self.lock = threading.RLock()
        self._train_lock = threading.Lock()
        self._worker: threading.Thread | None = None
        self.task_ids: list[int] = []
        self._row: dict[int, int] = {}
        self.X = np.empty((0, 0), dtype=np.float32)
        self._use_features: bool | None = None
        #: task id -> {annotation id: label}
        self.votes: dict[int, dict[int, str]] = {}
        #: bumped on every change of the pool or of the labels
        self.version = 0
        self._ranked = -1  # the version the current ranking was computed on
        self._failed = -1  # the version whose ranking failed (not retried until a change)
        self._engine = None
        self.stopping = None  # the StoppingMonitor, made by the first background round
        #: the current ranking: scores of its rows, the tie score of rows it did not order, the
        #: model's predicted classes (None before a model), the model itself
        self.scores = np.empty(0)
        self._tie = 1.0
        self.predicted: np.ndarray | None = None
        self.model = None
        self.model_version = f"{settings.name}-0-labels"
        self.info: dict = {}
        self.last_error: str | None = None

    # -- what Label Studio sends ---------------------------------------------------------------
    def add_tasks(self, tasks: list[dict]) -> dict[int, str]:
        """Add the tasks not seen yet (encoding them). Returns {task id: reason} of the tasks
        refused (see :func:`task_features`); the others join the pool."""
        with self.lock:
            new = {}
            for t in tasks:
                if "id" not in t:
                    raise LabelwiseError("a task without an 'id': send Label Studio's tasks")
                if int(t["id"]) not in self._row:
                    new.setdefault(int(t["id"]), t)
            if not new:
                return {}
            dim = self.X.shape[1] if self.task_ids else None
            X, kept, refused = task_features(list(new.values()), self.config, self.settings,
                                             dim, self._use_features)
            if kept:
                if self._use_features is None:
                    self._use_features = self.settings.features_key in kept[0].get("data", {})
                self.X = X if not self.task_ids else np.concatenate([self.X, X])
                for t in kept:
                    self._row[int(t["id"])] = len(self.task_ids)
                    self.task_ids.append(int(t["id"]))
                self._engine = None  # the engine's pool is fixed: a new one over the grown pool
                self.version += 1
            return refused

    def set_annotation(self, task_id: int, annotation: dict) -> bool:
        """Record one annotation (created or updated); a skipped one withdraws its label."""
        with self.lock:
            label = annotation_label(annotation, self.config)
            votes = self.votes.setdefault(int(task_id), {})
            aid = int(annotation["id"])
            if votes.get(aid) == label or (label is None and aid not in votes):
                return False
            if label is None:
                votes.pop(aid)
            else:
                votes[aid] = label
            self.version += 1
            return True

    def set_task_annotations(self, task_id: int, annotations: list[dict]) -> bool:
        """Make ``annotations`` the whole set of a task's annotations (what ``/predict`` and
        ``/train`` send), so a restarted backend catches up."""
        with self.lock:
            votes = {int(a["id"]): lab for a in annotations
                     if (lab := annotation_label(a, self.config)) is not None}
            if self.votes.get(int(task_id), {}) == votes:
                return False
            self.votes[int(task_id)] = votes
            self.version += 1
            return True

    def delete_annotations(self, ids) -> bool:
        with self.lock:
            ids, changed = {int(i) for i in ids}, False
            for votes in self.votes.values():
                for aid in ids & votes.keys():
                    votes.pop(aid)
                    changed = True
            self.version += changed
            return changed

    def labeled(self) -> tuple[np.ndarray, np.ndarray]:
        """(m,) pool rows of the labeled tasks and (m,) their labels: the majority of their
        annotations (ties: the earliest annotation), as labelwise's app counts them."""
        with self.lock:
            rows, labels = [], []
            for tid, votes in self.votes.items():
                if votes and tid in self._row:
                    counts = Counter(votes[a] for a in sorted(votes))
                    rows.append(self._row[tid])
                    labels.append(counts.most_common(1)[0][0])
            order = np.argsort(rows)
            return (np.asarray(rows, dtype=np.int64)[order],
                    np.asarray(labels, dtype=object)[order].astype(str))

    # -- the engine round ----------------------------------------------------------------------
    def refresh(self, blocking: bool = True) -> None:
        """One engine round on the current labels, unless nothing changed since the last one.

        Runs one at a time; ``blocking=False`` returns at once when another is running. A
        round that fails (a learner's error) keeps the last ranking and records the reason in
        ``last_error``; it is not retried until the labels or the pool change.
        """
        if not self._train_lock.acquire(blocking=blocking):
            return
        try:
            self._refresh()
        finally:
            self._train_lock.release()

    def _refresh(self) -> None:
        from labelwise.engine import ActiveLearner

        with self.lock:
            if self._settled or not self.task_ids:
                return
            version, X = self.version, self.X
            idx, y = self.labeled()
            s = self.settings
            if self._engine is None:
                self._engine = ActiveLearner(
                    X, s.learner, s.strategy, classes=list(self.config.classes),
                    random_state=s.random_state, learner_params=dict(s.learner_params),
                    cold_start=s.cold_start)
            engine = self._engine
        try:
            engine.set_labels(idx, y)
            n = len(X)
            scores, tie, info = np.ones(n), 1.0, {}
            unlabeled = np.setdiff1d(np.arange(n), idx)
            if len(unlabeled):
                k = min(s.max_ranked, len(unlabeled))
                picks = engine.step(k, random_state=s.random_state + len(idx))
                tie = k / len(unlabeled)
                scores[unlabeled] = tie
                scores[picks] = np.arange(k) / len(unlabeled)
                info = {"strategy": engine.last_query.strategy,
                        "cold_start": engine.last_query.cold_start}
            else:
                engine.fit_or_cold_start()
            predicted = None
            if engine.model is not None:
                # the unlabeled rows were scored by this round's query (its candidates, in
                # order): only the labeled rows need a forward pass of their own
                best = np.empty(n, dtype=np.int64)
                if len(unlabeled) and not engine.last_query.cold_start:
                    best[unlabeled] = engine.last_context.proba.argmax(axis=1)
                    rows = idx
                else:
                    rows = np.arange(n)
                if len(rows):
                    best[rows] = engine.model.predict_proba(X[rows]).argmax(axis=1)
                predicted = np.asarray(engine.classes_)[best].astype(str)
            stopping = self._observe_stopping(engine, X, idx)
        except Exception as exc:  # a learner's error: keep answering from the last ranking
            with self.lock:
                self._failed = version
                self.last_error = f"{type(exc).__name__}: {exc}".splitlines()[0]
            log.warning("labelwise: the round on %d labels failed (%s); answering from the "
                        "last model", len(idx), self.last_error)
            return
        with self.lock:
            n_labels = len(idx) if engine.model is not None else 0
            self.scores, self._tie, self.predicted = scores, tie, predicted
            self.model = engine.model
            self.model_version = f"{s.name}-{n_labels}-labels-v{version}"
            self.info = dict(info, n_tasks=n, n_labeled=len(idx),
                             model_version=self.model_version, stopping=stopping)
            self._ranked, self.last_error = version, None

    @property
    def _settled(self) -> bool:
        """Whether the ranking is current, or its round failed on these labels (not retried
        until a change). Read under ``lock``."""
        return self._ranked == self.version or self._failed == self.version

    def refresh_later(self) -> None:
        """Start a background round if the ranking is stale and none is running; the
        background thread goes on until the ranking is current."""
        with self.lock:
            if self._worker is not None or self._settled:
                return
            self._worker = threading.Thread(target=self._work, daemon=True,
                                            name="labelwise-ls-retrain")
            self._worker.start()

    def _work(self) -> None:
        while True:
            self.refresh()
            with self.lock:
                if self._settled:
                    self._worker = None
                    return

    def wait(self, timeout: float | None = None) -> bool:
        """Wait for the background round (tests, ``/train``); True when none is running."""
        worker = self._worker
        if worker is not None:
            worker.join(timeout)
        return self._worker is None

    def _observe_stopping(self, engine, X, idx) -> dict:
        """Feed the round to the pool's stopping monitor (the one ``labelwise run`` and the app
        call) and return its flat row, which becomes ``info["stopping"]``. A pool with no batch
        has no picks to judge, so max confidence stays NaN here. A grown pool keeps the stop
        set drawn at the first round. Runs in the background round (one at a time)."""
        from labelwise.stopping import StoppingMonitor, flat_row

        if self.stopping is None:
            self.stopping = StoppingMonitor(random_state=self.settings.random_state)
        return flat_row(self.stopping.observe(engine.model, X, idx))

    def predict(self, tasks: list[dict]) -> list[dict]:
        """One Label Studio prediction per task, in order, from the last ranking: the predicted
        class (none before a model exists), the score of labelwise's pick order and the version
        of the model that answered; a refused task (see :func:`task_features`) gets an empty
        result and ``"error"``.

        New labels or tasks start a background round; the answer does not wait for it, except
        while no model is needed (before two classes are labeled: no fit, only the cold-start
        order) and some of the tasks have no score yet.
        """
        with self.lock:
            refused = self.add_tasks(tasks)
            for t in tasks:
                if "annotations" in t and int(t["id"]) not in refused:
                    self.set_task_annotations(t["id"], t["annotations"] or [])
            rows = [self._row.get(int(t["id"])) for t in tasks]
            unscored = any(r is not None and r >= len(self.scores) for r in rows)
            cold = len(set(self.labeled()[1].tolist())) < 2
        if unscored and cold:
            self.refresh(blocking=False)
        self.refresh_later()
        with self.lock:
            new = [r for r in rows if r is not None and r >= len(self.scores)]
            guess = {}
            if new and self.model is not None:  # tasks newer than the model: its guess
                proba = self.model.predict_proba(self.X[new])
                guess = dict(zip(new, np.asarray(self.model.classes_)[proba.argmax(axis=1)],
                                 strict=True))
            out = []
            for t, row in zip(tasks, rows, strict=True):
                if row is None:
                    out.append({"result": [], "score": 1.0, "model_version": self.model_version,
                                "error": refused.get(int(t["id"]), "refused")})
                    continue
                if row < len(self.scores):
                    label = None if self.predicted is None else self.predicted[row]
                    score = float(self.scores[row])
                else:
                    label, score = guess.get(row), self._tie
                out.append({"result": [] if label is None else choice_result(str(label),
                                                                              self.config),
                            "score": score, "model_version": self.model_version})
            return out
