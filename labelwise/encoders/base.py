"""The :class:`Encoder` interface: raw images or texts in, (n, d) float32 features out.

An encoder turns the raw items of a pool into the fixed features that learners and strategies
work on (Aggarwal et al. 2022: "frozen features + shallow classifier"; Pretrained Models Are Good
Active Learners, 2021: pretrained representations are what make active learning work). Subclasses
implement ``_encode_batch``; this module holds the input checks, the batching and the progress bar
that every encoder shares.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from labelwise.validation import LabelwiseError, check_positive_int

#: Modalities an encoder may declare. ``"any"`` accepts images, texts' features or numeric arrays.
MODALITIES = ("image", "text", "any")


def unwrap_items(items):
    """The item list of a :class:`~labelwise.data.dataset.RawData`, or ``items`` unchanged."""
    from labelwise.data.dataset import RawData

    return items.items if isinstance(items, RawData) else items


def items_modality(items) -> str:
    """What ``items`` hold: ``"text"`` (strings), ``"image"`` (2-D/3-D arrays) or ``"features"``.

    ``items`` is a list of strings, a list of (H, W) or (H, W, 3) arrays, an (n, H, W[, 3]) array of
    images, or an (n, d) numeric array of features.
    """
    if isinstance(items, np.ndarray):
        if items.dtype.kind in "US":
            return "text"
        if items.dtype == object:
            items = list(items)
        elif items.ndim == 2:
            return "features"
        elif items.ndim in (3, 4):
            return "image"
        else:
            raise LabelwiseError(
                f"cannot read an array of shape {items.shape} as items: give (n, d) features, "
                "(n, H, W) or (n, H, W, 3) images, or a list of texts"
            )
    if len(items) == 0:
        raise LabelwiseError("there are no items to encode")
    first = items[0]
    if isinstance(first, str):
        bad = [i for i, t in enumerate(items) if not isinstance(t, str)]
        if bad:
            raise LabelwiseError(f"items mix texts and other values (rows {_rows(bad)})")
        return "text"
    if isinstance(first, np.ndarray) and first.ndim in (2, 3):
        return "image"
    if isinstance(first, (Sequence, np.ndarray)):
        return "features"
    raise LabelwiseError(
        f"cannot encode items of type {type(first).__name__}: give texts (str), images "
        "((H, W) or (H, W, 3) uint8 arrays) or an (n, d) array of features"
    )


def _rows(rows: Sequence[int], limit: int = 10) -> str:
    shown = ", ".join(map(str, rows[:limit]))
    return shown + (f" ... ({len(rows)} in all)" if len(rows) > limit else "")


def check_texts(items) -> list[str]:
    """Return texts as a list of str, rejecting empty ones with the offending rows."""
    texts = [str(t) for t in items]
    empty = [i for i, t in enumerate(texts) if not t.strip()]
    if empty:
        raise LabelwiseError(f"{len(empty)} text(s) are empty (rows {_rows(empty)})")
    return texts


def to_rgb_uint8(image: np.ndarray, row: int = 0) -> np.ndarray:
    """One image as (H, W, 3) uint8: grayscale (H, W) or (H, W, 1) is repeated on 3 channels.

    Float images are taken as values in [0, 1] when their maximum is <= 1, else in [0, 255].
    """
    img = np.asarray(image)
    if img.ndim == 3 and img.shape[2] == 1:
        img = img[:, :, 0]
    if img.ndim == 2:
        img = np.repeat(img[:, :, None], 3, axis=2)
    if img.ndim != 3 or img.shape[2] not in (3, 4):
        raise LabelwiseError(
            f"image at row {row} has shape {img.shape}; expected (H, W) or (H, W, 3)"
        )
    img = img[:, :, :3]
    if img.dtype != np.uint8:
        if not np.issubdtype(img.dtype, np.number) or not np.isfinite(img).all():
            raise LabelwiseError(f"image at row {row} is not a finite numeric array")
        scale = 255.0 if img.size and float(img.max()) <= 1.0 else 1.0
        img = np.clip(np.rint(img.astype(np.float64) * scale), 0, 255).astype(np.uint8)
    return img


class Encoder:
    """Turns raw items into features.

    Attributes:
        name: the registry name (part of the cache key).
        modality: ``"image"``, ``"text"`` or ``"any"``.

    Subclasses set ``name`` and ``modality``, keep their options in ``self._settings`` (everything
    that changes the output must be there: it is part of the cache key), and implement
    ``_encode_batch(batch) -> (b, d) float32``.
    """

    name: str = "encoder"
    modality: str = "any"
    default_batch_size: int = 64

    def __init__(self, **settings: Any):
        self._settings = dict(settings)

    def settings(self) -> dict:
        """The options that determine the output (JSON-serialisable); part of the cache key."""
        return dict(self._settings)

    def check_items(self, items) -> list | np.ndarray:
        """Check ``items`` fit this encoder's modality; return them as ``_encode_batch`` takes."""
        kind = items_modality(items)
        if self.modality == "text" and kind != "text":
            raise LabelwiseError(
                f"encoder {self.name!r} embeds texts, but the items are {_plural(kind)}; "
                "use an image encoder or 'identity'"
            )
        if self.modality == "image" and kind != "image":
            raise LabelwiseError(
                f"encoder {self.name!r} embeds images, but the items are {_plural(kind)}; "
                "use a text encoder or 'identity'"
            )
        if kind == "text":
            return check_texts(items)
        return items

    def encode(self, items, batch_size: int | None = None, progress: bool = True) -> np.ndarray:
        """Embed ``items`` in batches: returns an (n, d) float32 array, row i for item i.

        Args:
            items: texts (list of str) or images ((H, W) / (H, W, 3) uint8 arrays, or one
                (n, H, W[, 3]) array), as the encoder's ``modality`` allows; or a ``RawData``.
            batch_size: items per forward pass (default: the encoder's ``default_batch_size``).
            progress: show a progress bar with items/s.
        """
        items = self.check_items(unwrap_items(items))
        batch_size = check_positive_int(
            self.default_batch_size if batch_size is None else batch_size, "batch_size"
        )
        n = len(items)
        out: list[np.ndarray] = []
        with progress_bar(f"embedding with {self.name}", n, enabled=progress) as advance:
            for start in range(0, n, batch_size):
                batch = items[start:start + batch_size]
                out.append(np.asarray(self._encode_batch(batch), dtype=np.float32))
                advance(len(batch))
        return np.concatenate(out, axis=0)

    def _encode_batch(self, batch) -> np.ndarray:
        raise NotImplementedError

    def __repr__(self) -> str:
        opts = ", ".join(f"{k}={v!r}" for k, v in self._settings.items())
        return f"{type(self).__name__}({opts})"


def _plural(kind: str) -> str:
    return {"text": "texts", "image": "images", "features": "feature vectors"}.get(kind, kind)


class progress_bar:
    """A rich progress bar showing items done, items/s and time left; a no-op when disabled.

    Usage: ``with progress_bar("embedding", n) as advance: advance(b)``.
    """

    def __init__(self, description: str, total: int, enabled: bool = True):
        self.description, self.total, self.enabled = description, total, enabled
        self._progress = None

    def __enter__(self):
        if not self.enabled:
            return lambda k: None
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            ProgressColumn,
            TextColumn,
            TimeRemainingColumn,
        )
        from rich.text import Text

        class ItemsPerSecond(ProgressColumn):
            def render(self, task):
                speed = task.finished_speed or task.speed
                return Text("" if speed is None else f"{speed:,.1f} items/s")

        self._progress = Progress(
            TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
            ItemsPerSecond(), TimeRemainingColumn(), transient=False,
        )
        self._progress.__enter__()
        task = self._progress.add_task(self.description, total=self.total)
        return lambda k: self._progress.advance(task, k)

    def __exit__(self, *exc):
        if self._progress is not None:
            self._progress.__exit__(*exc)
        return False
