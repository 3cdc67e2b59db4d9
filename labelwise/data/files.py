"""Bring your own features: .npy, .npz, .csv or .parquet files, labeled or not."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from labelwise.data.dataset import Dataset
from labelwise.validation import LabelwiseError, check_features, check_same_length

FEATURE_SUFFIXES = (".npy", ".npz", ".csv", ".parquet")


def read_features(
    path: str | Path,
    label_column: str | None = "label",
    labels_path: str | Path | None = None,
) -> tuple[np.ndarray, np.ndarray | None]:
    """Read a feature matrix and optional labels from a file.

    Args:
        path: ``.npy`` (an (n, d) array), ``.npz`` (arrays ``X`` and optionally ``y``), ``.csv`` or
            ``.parquet`` (numeric feature columns plus an optional label column).
        label_column: name of the label column in a table; if the table has no such column the
            data is treated as an unlabeled pool.
        labels_path: for ``.npy`` features, an optional ``.npy`` file of (n,) labels.

    Returns:
        ``(X, y)`` with X of shape (n, d) float32 and y of shape (n,) (raw label values) or None.
    """
    p = Path(path)
    if not p.exists():
        raise LabelwiseError(f"data file not found: {p}")
    suffix = p.suffix.lower()
    if suffix not in FEATURE_SUFFIXES:
        raise LabelwiseError(
            f"cannot read {p.name}: expected one of {', '.join(FEATURE_SUFFIXES)}"
        )
    y = None
    try:
        if suffix == ".npy":
            X = np.load(p, allow_pickle=False)
            if labels_path is not None:
                y = np.load(labels_path, allow_pickle=False)
        elif suffix == ".npz":
            with np.load(p, allow_pickle=False) as z:
                if "X" not in z:
                    raise LabelwiseError(f"{p.name} must hold an array named 'X' (found {z.files})")
                X = z["X"]
                y = z["y"] if "y" in z else None
        else:
            X, y = _read_table(p, suffix, label_column)
    except LabelwiseError:
        raise
    except Exception as exc:
        raise LabelwiseError(f"cannot read {p}: {exc}") from None
    X = check_features(X, name=f"features in {p.name}")
    if y is not None:
        y = np.asarray(y)
        if y.ndim != 1:
            raise LabelwiseError(f"labels for {p.name} must be 1-D, got shape {y.shape}")
        check_same_length(X, y, f"features in {p.name}", "labels")
    return X.astype(np.float32, copy=False), y


def _read_table(p: Path, suffix: str, label_column: str | None):
    import pandas as pd

    df = pd.read_csv(p) if suffix == ".csv" else pd.read_parquet(p)
    if df.empty:
        raise LabelwiseError(f"{p.name} has no rows")
    y = None
    if label_column and label_column in df.columns:
        y = df.pop(label_column)
        missing = y.isna().to_numpy()
        if missing.any():
            rows = np.flatnonzero(missing)
            raise LabelwiseError(
                f"{p.name}: label column {label_column!r} is empty in {len(rows)} row(s), "
                f"first at row {rows[0]}"
            )
        y = y.to_numpy()
    non_numeric = [c for c in df.columns if not pd.api.types.is_numeric_dtype(df[c])]
    if non_numeric:
        raise LabelwiseError(
            f"{p.name}: non-numeric feature column(s) {non_numeric[:5]}; "
            f"name the label column with --label-column (looked for {label_column!r})"
        )
    return df.to_numpy(dtype=np.float64), y


def load_feature_file(
    path: str | Path,
    label_column: str | None = "label",
    labels_path: str | Path | None = None,
    test_size: float = 0.25,
    random_state: int = 0,
) -> Dataset:
    """Load a labeled feature file as a :class:`Dataset` for simulation.

    The labels are encoded as indices into the sorted unique label values; a stratified
    ``test_size`` share (seeded by ``random_state``) is held out for evaluation. Unlabeled files
    cannot be simulated; use :func:`read_features` and :func:`labelwise.query` instead.
    """
    from sklearn.model_selection import train_test_split

    X, y = read_features(path, label_column, labels_path)
    if y is None:
        raise LabelwiseError(
            f"{Path(path).name} has no labels (no column {label_column!r}); a simulation needs "
            "labels. For a real pool, use labelwise.query() or `labelwise init`."
        )
    classes, y_idx = np.unique(y, return_inverse=True)
    if len(classes) < 2:
        raise LabelwiseError(f"{Path(path).name} has a single class; need at least 2")
    counts = np.bincount(y_idx)
    stratify = y_idx if counts.min() >= 2 else None
    tr, te = train_test_split(
        np.arange(len(y_idx)), test_size=test_size, stratify=stratify, random_state=random_state
    )
    return Dataset(
        name=str(path),
        X_train=X[np.sort(tr)],
        y_train=y_idx[np.sort(tr)],
        X_test=X[np.sort(te)],
        y_test=y_idx[np.sort(te)],
        classes=[str(c) for c in classes],
        description=f"features from {Path(path).name}",
    )
