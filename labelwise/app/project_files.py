"""The checks a project's files pass when it is opened: its settings and its embeddings.npy.

Kept apart from :mod:`labelwise.app.project` (which opens the project and composes its services)
so each stays one readable file; ``labelwise.app.project`` imports every name from here.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from labelwise.app.errors import DEFAULT_LEASE_SECONDS
from labelwise.validation import LabelwiseError

#: what to do about a damaged embeddings.npy (the labels, in the database, are safe)
EMBEDDINGS_HINT = ("restore it from a backup, or `labelwise export` the labels (the database is "
                   "fine) and `labelwise init` a new project with --labels set to that file")
#: rows of embeddings.npy checked for NaN/inf at a time (bounds the memory of the check)
_CHECK_ROWS = 8192


def check_embeddings_file(path: Path, n_items: int,
                          n_features: int | None = None) -> tuple[int, int]:
    """Check a project's ``embeddings.npy`` without loading it: it exists, is an (n_items, d)
    float array (d = ``n_features`` when known), whole, and finite. Memory-mapped and checked in
    blocks of rows: 0.03 s for 100,000 x 384 with the file in the page cache
    (``benchmarks/bench_project_open.py``). Returns its shape.

    Raises:
        LabelwiseError: one line naming the file, the problem and what to do.
    """
    fix = EMBEDDINGS_HINT
    if not path.is_file():
        raise LabelwiseError(f"the embeddings file {path} is missing: {fix}")
    try:
        X = np.load(path, mmap_mode="r", allow_pickle=False)
    except (OSError, ValueError, EOFError):
        raise LabelwiseError(f"the embeddings file {path} cannot be read (truncated, or not a "
                             f".npy array of numbers): {fix}") from None
    if X.ndim != 2 or not np.issubdtype(X.dtype, np.floating):
        raise LabelwiseError(f"the embeddings file {path} holds a {X.dtype} array of shape "
                             f"{X.shape}, not (items, features) floats: {fix}")
    want = f"({n_items}, {n_features if n_features is not None else 'd'})"
    if X.shape[0] != n_items or X.shape[1] == 0 or (
            n_features is not None and X.shape[1] != n_features):
        raise LabelwiseError(f"the embeddings file {path} has shape {X.shape}, but the "
                             f"project's items need {want}: {fix}")
    for start in range(0, n_items, _CHECK_ROWS):
        block = np.isfinite(X[start:start + _CHECK_ROWS]).all(axis=1)
        if not block.all():
            row = start + int(np.argmin(block))
            raise LabelwiseError(f"the embeddings file {path} holds NaN or inf (first in "
                                 f"row {row}): {fix}")
    return X.shape


#: settings a project made by an older release may lack, and their values then
SETTING_DEFAULTS = {"labels_per_item": 1, "lease_seconds": DEFAULT_LEASE_SECONDS,
                    "cold_start": "random", "random_state": 0, "encoder": None,
                    "data_root": None, "learner_params": None, "warm_start": False}
#: settings every project has, with a check of each value
REQUIRED_SETTINGS = {
    "classes": lambda v: isinstance(v, list) and len(v) >= 2
    and all(isinstance(c, str) for c in v),
    "n_items": lambda v: _is_int(v) and v >= 0,
    "batch_size": lambda v: _is_int(v) and v >= 1,
    "labels_per_item": lambda v: _is_int(v) and v >= 1,
    "lease_seconds": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool) and v > 0,
    "random_state": lambda v: _is_int(v) and v >= 0,
    "strategy": lambda v: isinstance(v, str), "learner": lambda v: isinstance(v, str),
    "modality": lambda v: v in ("image", "text", "features"),
}


def _is_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def check_settings(settings: dict) -> None:
    """Raise KeyError ``"no setting 'x'"`` or ValueError naming the first missing or malformed
    setting (the caller reports the project as damaged)."""
    for key, ok in REQUIRED_SETTINGS.items():
        if key not in settings:
            raise KeyError(key)
        if not ok(settings[key]):
            raise ValueError(f"setting {key} is {settings[key]!r}")
