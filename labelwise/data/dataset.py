"""The :class:`Dataset` record that every data source returns."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass
class Dataset:
    """A labeled train pool and a held-out test split.

    Attributes:
        name: registry name or file path the data came from.
        X_train: (n_train, d) float features of the pool.
        y_train: (n_train,) int class indices in ``range(len(classes))``, or ``None`` for an
            unlabeled pool.
        X_test, y_test: the held-out split, same layout (``None`` when there is none).
        classes: (K,) human-readable class names; ``y`` values index into it.
        description: one line for ``labelwise datasets``.
        raw_train, raw_test: the raw inputs when the features were derived from images or texts
            (e.g. (n, H, W) uint8 images, or a list of strings); ``None`` for tabular data.
        groups_train, groups_test: optional (n,) group ids for per-group metrics.
    """

    name: str
    X_train: np.ndarray
    y_train: np.ndarray | None
    X_test: np.ndarray | None
    y_test: np.ndarray | None
    classes: list[str]
    description: str = ""
    raw_train: Any = None
    raw_test: Any = None
    groups_train: np.ndarray | None = None
    groups_test: np.ndarray | None = None
    info: dict = field(default_factory=dict)

    @property
    def n_classes(self) -> int:
        return len(self.classes)

    def __repr__(self) -> str:
        n_test = 0 if self.X_test is None else len(self.X_test)
        return (
            f"Dataset({self.name!r}, pool={self.X_train.shape}, test={n_test}, "
            f"classes={self.n_classes})"
        )


@dataclass
class RawData:
    """Raw user items before encoding: images or texts, with optional labels.

    Attributes:
        items: the inputs: images as (H, W, 3) uint8 arrays, or texts as strings.
        labels: one label (str) per item, ``None`` for an unlabeled item; or ``None`` when the whole
            source is unlabeled.
        ids: a stable id per item (the image's path relative to the folder, or the row number).
        modality: ``"image"`` or ``"text"``.
        source: where the data came from (a folder or file path).
    """

    items: list
    labels: list | None
    ids: list[str]
    modality: str
    source: str = ""

    def __len__(self) -> int:
        return len(self.items)
