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

Features of a task: the list under ``data[features_key]`` when the task holds one (every task
then must), else the item the labeling config's object tag reads (``value="$text"`` / ``"$image"``)
encoded by a labelwise encoder, cached on disk (:func:`labelwise.encoders.embed`). Images are read
from Label Studio's local-files URLs below ``document_root`` or fetched over http(s).
"""

from __future__ import annotations

import inspect
import io
import threading
from collections import Counter
from dataclasses import dataclass, field

import numpy as np

from labelwise.integrations.label_studio import (
    LabelConfig,
    annotation_label,
    choice_result,
    local_files_path,
)
from labelwise.validation import LabelwiseError, check_positive_int, unknown_name_error

#: encoders used when none is given, as ``labelwise init`` chooses them
DEFAULT_ENCODERS = {"text": "minilm", "image": "efficientnet-lite0"}


@dataclass(frozen=True)
class BackendSettings:
    """How the backend learns and ranks (one set for every Label Studio project it serves).

    Attributes:
        strategy, learner, cold_start: registry names (``labelwise strategies`` / ``learners``).
        learner_params: parameters of the learner.
        encoder: the encoder of texts or images (default: ``minilm`` / ``efficientnet-lite0``).
        features_key: the ``data`` key of precomputed features, read before any encoding.
        document_root: Label Studio's ``LOCAL_FILES_DOCUMENT_ROOT``, to read local-files images.
        cache_dir: the embedding cache (default ``$LABELWISE_CACHE`` or ``~/.cache/labelwise``).
        max_ranked: how many picks the strategy orders (the rest of the unlabeled tasks tie).
        random_state: seeds the learner; the query of a round with m labels uses seed + m.
    """

    strategy: str = "margin"
    learner: str = "logreg"
    learner_params: dict = field(default_factory=dict)
    cold_start: str = "random"
    encoder: str | None = None
    features_key: str = "features"
    document_root: str | None = None
    cache_dir: str | None = None
    max_ranked: int = 5000
    random_state: int = 0

    def check(self) -> None:
        """Fail before serving on unknown names, a learner that lacks what the strategy needs,
        or a learner that trains on raw items rather than features."""
        from labelwise.engine import check_capabilities
        from labelwise.learners import LEARNERS
        from labelwise.strategies import get_strategy

        strategy = get_strategy(self.strategy)
        if self.learner not in LEARNERS:
            raise unknown_name_error("learner", self.learner, LEARNERS)
        cls = LEARNERS[self.learner].cls
        if "items" in inspect.signature(cls).parameters:
            on_features = [n for n, s in LEARNERS.items()
                           if "items" not in inspect.signature(s.cls).parameters]
            raise LabelwiseError(f"learner {self.learner!r} trains on the raw items; the backend "
                                 f"trains on features: choose one of {', '.join(on_features)}")
        check_capabilities(strategy, cls)
        if get_strategy(self.cold_start).needs:
            raise LabelwiseError(f"cold-start strategy {self.cold_start!r} needs a model; "
                                 "choose one that needs none, e.g. random")
        check_positive_int(self.max_ranked, "max_ranked")

    @property
    def name(self) -> str:
        return f"labelwise-{self.strategy}-{self.learner}"


def read_task_image(url: str, document_root: str | None) -> np.ndarray:
    """The image a task's URL names, as (H, W, 3) uint8 (shrunk to 512 px at most, as
    ``labelwise init`` reads image folders)."""
    from urllib.parse import urlsplit

    from labelwise.data.images import read_image

    if urlsplit(url).path.rstrip("/") == "/data/local-files":
        if document_root is None:
            raise LabelwiseError(f"task image {url!r} is a local-files URL: give the backend "
                                 "Label Studio's LOCAL_FILES_DOCUMENT_ROOT (--document-root)")
        return read_image(local_files_path(url, document_root), max_side=512)
    if url.startswith(("http://", "https://")):
        import httpx

        try:
            response = httpx.get(url, timeout=30, follow_redirects=True)
            response.raise_for_status()
        except httpx.HTTPError as exc:
            raise LabelwiseError(f"cannot fetch task image {url}: {exc}") from None
        return read_image(io.BytesIO(response.content), max_side=512)
    raise LabelwiseError(f"cannot read task image {url!r}: give local-files URLs (with "
                         "--document-root), http(s) URLs, or features in the task data")


def task_features(tasks: list[dict], config: LabelConfig,
                  settings: BackendSettings) -> np.ndarray:
    """(m, d) float32 features of ``tasks``: their ``data[features_key]`` lists, or their items
    encoded (see the module docstring)."""
    from labelwise.encoders import embed

    key = settings.features_key
    has = [key in t.get("data", {}) for t in tasks]
    if all(has):
        try:
            return np.asarray([t["data"][key] for t in tasks], dtype=np.float32)
        except (TypeError, ValueError):
            raise LabelwiseError(f"task data {key!r} must be lists of numbers of one length") \
                from None
    if any(has):
        raise LabelwiseError(f"some tasks hold features under {key!r} and some do not: give "
                             "them to every task or to none")
    missing = [t.get("id") for t in tasks if config.value_key not in t.get("data", {})]
    if missing:
        raise LabelwiseError(f"tasks {missing[:10]} have no {config.value_key!r} in their data "
                             f"(the labeling config reads ${config.value_key})")
    values = [t["data"][config.value_key] for t in tasks]
    if config.modality == "image":
        values = [read_task_image(str(v), settings.document_root) for v in values]
    else:
        values = [str(v) for v in values]
    encoder = settings.encoder or DEFAULT_ENCODERS[config.modality]
    return np.asarray(embed(encoder, values, cache_dir=settings.cache_dir, progress=False),
                      dtype=np.float32)


class TaskPool:
    """The tasks of one Label Studio project, their labels and the engine's ranking.

    Every method takes the pool's lock; :meth:`refresh` trains under it, so a prediction always
    reflects every label received before it.
    """

    def __init__(self, config: LabelConfig, settings: BackendSettings):
        self.config, self.settings = config, settings
        self.lock = threading.RLock()
        self.task_ids: list[int] = []
        self._row: dict[int, int] = {}
        self.X = np.empty((0, 0), dtype=np.float32)
        #: task id -> {annotation id: label}
        self.votes: dict[int, dict[int, str]] = {}
        #: bumped on every change of the pool or of the labels
        self.version = 0
        self._ranked = -1
        self._engine = None
        self.scores = np.empty(0)
        self.predicted: np.ndarray | None = None
        self.info: dict = {}

    @property
    def model_version(self) -> str:
        """Changes whenever the pool or the labels change, so Label Studio asks again."""
        return f"{self.settings.name}-{self.version}"

    # -- what Label Studio sends ---------------------------------------------------------------
    def add_tasks(self, tasks: list[dict]) -> int:
        """Add the tasks not seen yet (encoding them); returns how many were new."""
        with self.lock:
            new = {}
            for t in tasks:
                if "id" not in t:
                    raise LabelwiseError("a task without an 'id': send Label Studio's tasks")
                if int(t["id"]) not in self._row:
                    new.setdefault(int(t["id"]), t)
            if not new:
                return 0
            X = task_features(list(new.values()), self.config, self.settings)
            if len(self.task_ids) and X.shape[1] != self.X.shape[1]:
                raise LabelwiseError(f"new tasks have {X.shape[1]} features, the pool "
                                     f"{self.X.shape[1]}")
            self.X = X if not len(self.task_ids) else np.concatenate([self.X, X])
            for tid in new:
                self._row[tid] = len(self.task_ids)
                self.task_ids.append(tid)
            self._engine = None  # the engine's pool is fixed: a new one over the grown pool
            self.version += 1
            return len(new)

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
    def refresh(self) -> None:
        """One engine round on the current labels, unless nothing changed since the last one."""
        from labelwise.engine import ActiveLearner

        with self.lock:
            if self._ranked == self.version or not self.task_ids:
                return
            s = self.settings
            if self._engine is None:
                self._engine = ActiveLearner(
                    self.X, s.learner, s.strategy, classes=list(self.config.classes),
                    random_state=s.random_state, learner_params=dict(s.learner_params),
                    cold_start=s.cold_start)
            engine = self._engine
            idx, y = self.labeled()
            engine.set_labels(idx, y)
            n = len(self.X)
            scores = np.ones(n)
            unlabeled = np.setdiff1d(np.arange(n), idx)
            if len(unlabeled):
                k = min(s.max_ranked, len(unlabeled))
                picks = engine.step(k, random_state=s.random_state + len(idx))
                scores[unlabeled] = k / len(unlabeled)
                scores[picks] = np.arange(k) / len(unlabeled)
                self.info = {"strategy": engine.last_query.strategy,
                             "cold_start": engine.last_query.cold_start}
            elif engine.can_fit():
                engine.fit()
            else:
                engine.model = None
            self.predicted = None
            if engine.model is not None:
                proba = engine.model.predict_proba(self.X)
                self.predicted = np.asarray(engine.classes_)[proba.argmax(axis=1)].astype(str)
            self.scores = scores
            self.info.update(n_tasks=n, n_labeled=len(idx), model_version=self.model_version)
            self._observe_stopping(engine, idx)
            self._ranked = self.version

    def _observe_stopping(self, engine, idx) -> None:
        """Feed the round to the pool's stopping monitor (the one ``labelwise run`` and the app
        call); its row is ``info["stopping"]``. A pool with no batch has no picks to judge, so
        max confidence stays NaN here. A grown pool keeps the stop set drawn at the first round."""
        from labelwise.stopping import StoppingMonitor, flat_row

        if getattr(self, "stopping", None) is None:
            self.stopping = StoppingMonitor(random_state=self.settings.random_state)
        self.info["stopping"] = flat_row(self.stopping.observe(engine.model, self.X, idx))

    def predict(self, tasks: list[dict]) -> list[dict]:
        """One Label Studio prediction per task, in order: the predicted class (none before a
        model exists), the score of labelwise's pick order and the model version."""
        with self.lock:
            self.add_tasks(tasks)
            for t in tasks:
                if "annotations" in t:
                    self.set_task_annotations(t["id"], t["annotations"] or [])
            self.refresh()
            out = []
            for t in tasks:
                row = self._row[int(t["id"])]
                label = None if self.predicted is None else self.predicted[row]
                out.append({"result": [] if label is None else choice_result(label, self.config),
                            "score": float(self.scores[row]),
                            "model_version": self.model_version})
            return out
