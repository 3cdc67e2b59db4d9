"""The app's errors, file names and the annotator check, shared by its modules."""

from __future__ import annotations

from labelwise.validation import LabelwiseError

DB_NAME = "labelwise.db"
EMBEDDINGS_NAME = "embeddings.npy"
#: a lease not renewed for this long (seconds) lapses: the item may go to another annotator
#: (the page renews it every 15 s while open)
DEFAULT_LEASE_SECONDS = 60.0


class ItemNotFound(LabelwiseError):
    """An item index that the project does not have (the server answers 404)."""


class Conflict(LabelwiseError):
    """An action the project's state forbids: already labeled, held by another annotator,
    nothing to undo (the server answers 409)."""


class DiskFull(LabelwiseError):
    """The disk is full: nothing was written (the server answers 507)."""


def check_annotator(annotator) -> str:
    """An annotator name: a non-empty string of at most 100 characters."""
    if not isinstance(annotator, str) or not annotator.strip() or len(annotator) > 100:
        raise LabelwiseError("annotator must be a non-empty name of at most 100 characters")
    return annotator.strip()


def check_item(item, n_items: int) -> int:
    """An item number of a project of ``n_items`` items (ItemNotFound otherwise)."""
    import numpy as np

    if isinstance(item, bool) or not isinstance(item, (int, np.integer)):
        raise ItemNotFound(f"item must be an item number, got {item!r}")
    if not 0 <= int(item) < n_items:
        raise ItemNotFound(f"unknown item {item}: the project has items 0..{n_items - 1}")
    return int(item)


def check_label(label, classes: list[str]) -> str:
    """A class of the project (LabelwiseError naming the classes otherwise)."""
    if not isinstance(label, str) or label not in classes:
        raise LabelwiseError(f"unknown class {label!r}; classes are: {', '.join(classes)}")
    return label
