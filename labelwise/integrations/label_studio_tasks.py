"""What the Label Studio backend reads from a task: its features, under the backend's settings.

Features of a task: the list under ``data[features_key]`` when the task holds one (every task
then must), else the item the labeling config's object tag reads (``value="$text"`` / ``"$image"``)
encoded by a labelwise encoder, cached on disk (:func:`labelwise.encoders.embed`). Images are read
from Label Studio's local-files URLs below ``document_root`` or fetched over http(s).

A task that cannot give a row (a null among its numbers, another length, no item, an unreadable
image) is refused alone (:func:`task_features`), so one bad task cannot poison a project.
"""

from __future__ import annotations

import inspect
import io
from dataclasses import dataclass, field

import numpy as np

from labelwise.integrations.label_studio import LabelConfig, local_files_path
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

    from labelwise.data.images import MAX_SIDE, read_image

    if urlsplit(url).path.rstrip("/") == "/data/local-files":
        if document_root is None:
            raise LabelwiseError(f"task image {url!r} is a local-files URL: give the backend "
                                 "Label Studio's LOCAL_FILES_DOCUMENT_ROOT (--document-root)")
        return read_image(local_files_path(url, document_root), max_side=MAX_SIDE)
    if url.startswith(("http://", "https://")):
        import httpx

        try:
            response = httpx.get(url, timeout=30, follow_redirects=True)
            response.raise_for_status()
        except httpx.HTTPError as exc:
            raise LabelwiseError(f"cannot fetch task image {url}: {exc}") from None
        return read_image(io.BytesIO(response.content), max_side=MAX_SIDE)
    raise LabelwiseError(f"cannot read task image {url!r}: give local-files URLs (with "
                         "--document-root), http(s) URLs, or features in the task data")


def _task_vector(task: dict, key: str, dim: int | None) -> np.ndarray:
    """One task's ``data[key]`` as a (d,) float32 vector, or a LabelwiseError naming the fault."""
    value = task["data"][key]
    if not isinstance(value, list) or not all(
            v is None or isinstance(v, (int, float)) and not isinstance(v, bool) for v in value):
        raise LabelwiseError(f"data {key!r} must be a list of numbers")
    x = np.asarray([np.nan if v is None else v for v in value], dtype=np.float32)
    if not len(x) or not np.isfinite(x).all():
        raise LabelwiseError(f"data {key!r} must hold finite numbers (no null, NaN or inf)")
    if dim is not None and len(x) != dim:
        raise LabelwiseError(f"data {key!r} has {len(x)} numbers, the pool's tasks {dim}")
    return x


def task_features(tasks: list[dict], config: LabelConfig, settings: BackendSettings,
                  dim: int | None = None, use_features: bool | None = None
                  ) -> tuple[np.ndarray, list[dict], dict[int, str]]:
    """Features of ``tasks``: their ``data[features_key]`` lists, or their items encoded (see the
    module docstring). A task that cannot give a row (a null among its numbers, another length,
    no item, an unreadable image) is refused alone, so it cannot poison the pool.

    Args:
        dim: the pool's number of features (None: the first good task's).
        use_features: whether the pool reads ``data[features_key]`` (None: whether the first
            task holds it).

    Returns:
        (m, d) float32 features of the m kept tasks, those tasks in order, and
        {task id: one-line reason} of the refused ones.
    """
    from labelwise.encoders import embed

    key, refused, kept, rows = settings.features_key, {}, [], []
    if use_features is None:
        use_features = bool(tasks) and key in tasks[0].get("data", {})
    for t in tasks:
        data = t.get("data", {})
        try:
            if use_features:
                if key not in data:
                    raise LabelwiseError(f"no {key!r} in its data, as the other tasks have")
                x = _task_vector(t, key, dim)
                dim = len(x) if dim is None else dim
                rows.append(x)
            elif config.value_key not in data:
                raise LabelwiseError(f"no {config.value_key!r} in its data (the labeling config "
                                     f"reads ${config.value_key})")
            elif config.modality == "image":
                rows.append(read_task_image(str(data[config.value_key]),
                                            settings.document_root))
            else:
                rows.append(str(data[config.value_key]))
            kept.append(t)
        except LabelwiseError as exc:
            refused[int(t["id"])] = f"task {t['id']}: {exc}"
    if use_features or not kept:
        X = np.asarray(rows, dtype=np.float32).reshape(len(kept), dim or 0)
        return X, kept, refused
    encoder = settings.encoder or DEFAULT_ENCODERS[config.modality]
    X = np.asarray(embed(encoder, rows, cache_dir=settings.cache_dir, progress=False),
                   dtype=np.float32)
    if dim is not None and X.shape[1] != dim:
        raise LabelwiseError(f"the encoder gives {X.shape[1]} features, the pool has {dim}")
    return X, kept, refused
