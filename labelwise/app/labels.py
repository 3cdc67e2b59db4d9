"""The labels in force, read from the project's database: what the model trains on and exports.

A service of its own (:class:`Labels`), built from a connection provider, so the model step and
import/export read the labels the same way without reaching into each other.
"""

from __future__ import annotations

import sqlite3
from collections import Counter
from collections.abc import Callable

import numpy as np


class Labels:
    """Reads the labels in force.

    Args:
        connect: returns this thread's connection to the project's database.
    """

    def __init__(self, connect: Callable[[], sqlite3.Connection]):
        self._connect = connect

    def active_labels(self, upto: tuple[int, float] | None = None) -> list[dict]:
        """Every label in force (not undone), oldest first; with ``upto=(label_id, time)``, the
        labels that were in force then (given up to that id, not undone before that time)."""
        where, args = "l.undone_at IS NULL", ()
        if upto is not None:
            where, args = "l.id <= ? AND (l.undone_at IS NULL OR l.undone_at > ?)", tuple(upto)
        rows = self._connect().execute(
            "SELECT l.id, l.item_idx, i.item_id, l.label, l.annotator, l.created, l.source "
            f"FROM labels l JOIN items i ON i.idx = l.item_idx WHERE {where} ORDER BY l.id",
            args).fetchall()
        keys = ("label_id", "item", "id", "label", "annotator", "created", "source")
        return [dict(zip(keys, r, strict=True)) for r in rows]

    def labeled_arrays(self, upto: tuple[int, float] | None = None
                       ) -> tuple[np.ndarray, np.ndarray]:
        """(m,) item indices and (m,) labels: the majority label per item (ties: earliest);
        ``upto`` as in :meth:`active_labels`."""
        by_item: dict[int, list[str]] = {}
        for r in self.active_labels(upto):
            by_item.setdefault(r["item"], []).append(r["label"])
        idx = np.fromiter(by_item, dtype=np.int64, count=len(by_item))
        y = np.array([Counter(v).most_common(1)[0][0] for v in by_item.values()], dtype=object)
        order = np.argsort(idx)
        return idx[order], y[order].astype(str) if len(y) else np.array([], dtype=str)
