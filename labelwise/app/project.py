"""A labeling project on disk: opening it, its settings, and what it reads.

A project folder holds ``labelwise.db`` (SQLite, see :mod:`labelwise.app.db`), ``embeddings.npy``
((n, d) float32 features of the pool, row ``idx`` = item ``idx``) and ``cache/`` (the encoder's
embedding cache). The server, the worker and the CLI all go through :class:`Project`, whose
operations live in four modules, one job each:

- :mod:`labelwise.app.create`: making a project from images, texts or features;
- :mod:`labelwise.app.labeling`: the queue's state machine (next item, label, skip, undo);
- :mod:`labelwise.app.model_step`: the model's round, through the shared engine;
- :mod:`labelwise.app.transfer`: importing and exporting labels.

The batch pipeline: the batch being labeled is followed by batches already queued, so the
annotators never wait for a model. Synchronously, :meth:`prepare_next_batch` fits and picks the
next batch(es); the server's background worker (:mod:`labelwise.app.worker`) instead ranks the
pool deep with each new model in its own thread and queues batches from the newest ranking while
the next model trains, so an item may come from a model one round old (never twice). Until the
labels hold two classes the batches come from the cold-start strategy.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections import Counter
from pathlib import Path

import numpy as np

from labelwise.app import db
from labelwise.app.errors import (
    DB_NAME,
    DEFAULT_LEASE_SECONDS,
    EMBEDDINGS_NAME,
    Conflict,
    DiskFull,
    ItemNotFound,
    check_annotator,
)
from labelwise.app.files import interrupted_build
from labelwise.app.labeling import _NOT_DONE, Labeling
from labelwise.app.model_step import ModelStep
from labelwise.app.transfer import Transfer
from labelwise.io import is_disk_full
from labelwise.validation import LabelwiseError

__all__ = ["DB_NAME", "EMBEDDINGS_NAME", "Conflict", "ItemNotFound", "Project", "check_annotator"]


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
                    "data_root": None, "learner_params": None}
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


class Project(Labeling, ModelStep, Transfer):
    """An open project: each method is one short transaction on the database.

    Thread-safe: each thread gets its own SQLite connection; concurrent writers (two annotators,
    the worker) are serialised by ``BEGIN IMMEDIATE``.
    """

    def __init__(self, path: str | Path, embeddings: bool = True):
        """Open the project at ``path``, checking its files first.

        Args:
            embeddings: check ``embeddings.npy`` too; False opens a project whose embeddings
                are damaged, for what needs only the database (status, export of the labels).

        Raises:
            LabelwiseError: no project there; a damaged database (``PRAGMA quick_check``) or
                settings; an ``embeddings.npy`` that is missing, unreadable, truncated, not
                (n_items, d) as created, or holds NaN/inf. The one-line message names the file
                and what to do.
        """
        self.path = Path(path).expanduser()
        db_path = self.path / DB_NAME
        if self.path.exists() and not self.path.is_dir():
            raise LabelwiseError(f"{self.path} is a file, not a labelwise project folder")
        if not db_path.is_file():
            if interrupted_build(self.path):
                raise LabelwiseError(f"no labelwise project at {self.path}: its `labelwise "
                                     "init` was interrupted; run it again")
            raise LabelwiseError(f"no labelwise project at {self.path} (create one with "
                                 "`labelwise init`)")
        self._local = threading.local()
        try:
            db.check_intact(self.conn, db_path)
            db.migrate(self.conn)
            db.check_tables(self.conn)
            rows = self.conn.execute("SELECT key, value FROM settings").fetchall()
            self.settings = {**SETTING_DEFAULTS, **{k: json.loads(v) for k, v in rows}}
            check_settings(self.settings)
            self.classes: list[str] = self.settings["classes"]
            self.n_items: int = self.settings["n_items"]
            n_rows = self.conn.execute("SELECT count(*) FROM items").fetchone()[0]
        except (sqlite3.DatabaseError, KeyError, ValueError) as exc:
            self.close()
            if isinstance(exc, LabelwiseError):
                raise
            if is_disk_full(exc, where=self.path):
                raise DiskFull(f"the disk is full: cannot open {db_path}; free some space and "
                               "try again") from None
            if isinstance(exc, sqlite3.DatabaseError) and not db.is_corrupt(exc):
                raise LabelwiseError(f"cannot open the project database {db_path} ({exc}): "
                                     "check that the folder and the file are writable"
                                     ) from None
            why = f"no setting {exc}" if isinstance(exc, KeyError) else str(exc)
            raise LabelwiseError(f"the project database {db_path} is damaged ({why}): "
                                 f"{db.REPAIR_HINT}") from None
        if n_rows != self.n_items:
            self.close()
            raise LabelwiseError(f"the project database {db_path} is damaged (it lists {n_rows} "
                                 f"items, its settings {self.n_items}): {db.REPAIR_HINT}")
        self._features = None
        self._embeddings_checked = False
        if embeddings:
            try:
                self.check_embeddings()
            except LabelwiseError:
                self.close()
                raise
        self._features_lock = threading.Lock()

    def check_embeddings(self) -> None:
        """Check ``embeddings.npy`` (see :func:`check_embeddings_file`), once."""
        if not self._embeddings_checked:
            check_embeddings_file(self.path / EMBEDDINGS_NAME, self.n_items,
                                  self.settings.get("n_features"))
            self._embeddings_checked = True

    def close(self) -> None:
        """Close this thread's database connection (the next use opens a new one)."""
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            self._local.conn = None
            conn.close()

    # -- plumbing ------------------------------------------------------------------------------
    @property
    def conn(self):
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._local.conn = db.connect(self.path / DB_NAME)
        return conn

    @property
    def features(self) -> np.ndarray:
        """(n, d) float32 features of the pool, memory-mapped read-only once: the pages live in
        the page cache, shared with every process that reads the project, and a 100,000 x 384
        pool costs the server no private copy (``benchmarks/bench_app_memory.py``)."""
        with self._features_lock:
            if self._features is None:
                self.check_embeddings()
                self._features = np.load(self.path / EMBEDDINGS_NAME, mmap_mode="r")
            return self._features

    @property
    def lpi(self) -> int:
        return int(self.settings["labels_per_item"])

    def _check_item(self, item) -> int:
        if isinstance(item, bool) or not isinstance(item, (int, np.integer)):
            raise ItemNotFound(f"item must be an item number, got {item!r}")
        if not 0 <= int(item) < self.n_items:
            raise ItemNotFound(f"unknown item {item}: the project has items 0..{self.n_items - 1}")
        return int(item)

    def _check_label(self, label) -> str:
        if not isinstance(label, str) or label not in self.classes:
            raise LabelwiseError(f"unknown class {label!r}; classes are: "
                                 f"{', '.join(self.classes)}")
        return label
    # -- reading -------------------------------------------------------------------------------
    def item_content(self, item) -> tuple[str, object]:
        """``("text", str)`` for a text item, ``("image", Path)`` for an image item.

        Only registered items are served: the image path must resolve inside the data folder
        given at init (no path traversal, no symlinks leading out of it).
        """
        idx = self._check_item(item)
        item_id, text, rel = self.conn.execute(
            "SELECT item_id, text, path FROM items WHERE idx = ?", (idx,)).fetchone()
        if self.settings["modality"] != "image":
            return "text", text if text is not None else item_id
        root = Path(self.settings["data_root"]).resolve()
        target = (root / rel).resolve()
        if not target.is_relative_to(root) or not target.is_file():
            raise ItemNotFound(f"item {idx}'s image is missing from {root}")
        return "image", target

    def active_labels(self, upto: tuple[int, float] | None = None) -> list[dict]:
        """Every label in force (not undone), oldest first; with ``upto=(label_id, time)``, the
        labels that were in force then (given up to that id, not undone before that time)."""
        where, args = "l.undone_at IS NULL", ()
        if upto is not None:
            where, args = "l.id <= ? AND (l.undone_at IS NULL OR l.undone_at > ?)", tuple(upto)
        rows = self.conn.execute(
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

    def progress(self, annotator: str | None = None) -> dict:
        """Counts, the current batch's position, and the accuracy estimate per round."""
        conn = self.conn
        n_labels, n_labeled = conn.execute(
            "SELECT count(*), count(DISTINCT item_idx) FROM labels WHERE undone_at IS NULL"
        ).fetchone()
        out = {
            "n_items": self.n_items, "n_labels": n_labels, "n_labeled_items": n_labeled,
            "n_skipped": conn.execute("SELECT count(*) FROM skips").fetchone()[0],
            "round": None, "batch_size": 0, "batch_done": 0,
            "next_ready": conn.execute("SELECT 1 FROM rounds WHERE status = 'next'"
                                       ).fetchone() is not None,
        }
        cur = conn.execute("SELECT round FROM rounds WHERE status = 'current'").fetchone()
        if cur is not None:
            out["round"] = cur[0]
            out["batch_size"] = conn.execute("SELECT count(*) FROM queue WHERE round = ?",
                                             cur).fetchone()[0]
            out["batch_done"] = out["batch_size"] - conn.execute(
                "SELECT count(*) FROM queue q WHERE q.round = :r AND "
                + _NOT_DONE.format(col="q.item_idx"), {"r": cur[0], "lpi": self.lpi}
            ).fetchone()[0]
        if annotator is not None:
            out["mine"] = conn.execute("SELECT count(*) FROM labels WHERE annotator = ? AND "
                                       "undone_at IS NULL", (annotator,)).fetchone()[0]
        out["history"] = [
            {"round": r, "n_labels": n, "cv_accuracy": a, "strategy": s}
            for r, n, a, s in conn.execute(
                "SELECT round, n_labels, cv_accuracy, strategy FROM rounds ORDER BY round")]
        out["stopping"] = self.stopping_status()
        return out

    def queue(self) -> list[dict]:
        """The batches not yet done: round, status, position and item, in order."""
        rows = self.conn.execute(
            "SELECT q.round, r.status, q.position, q.item_idx FROM queue q JOIN rounds r "
            "ON r.round = q.round WHERE r.status != 'done' ORDER BY q.round, q.position")
        return [dict(zip(("round", "status", "position", "item"), r, strict=True)) for r in rows]

    def status(self) -> dict:
        """What ``labelwise status`` prints: settings, counts, rounds, labels per class."""
        p = self.progress()
        per_class = Counter(self.labeled_arrays()[1].tolist())
        return {
            "path": str(self.path), "modality": self.settings["modality"],
            "encoder": self.settings["encoder"], "strategy": self.settings["strategy"],
            "learner": self.settings["learner"], "batch_size": self.settings["batch_size"],
            "classes": self.classes, "items": p["n_items"], "labels": p["n_labels"],
            "labeled_items": p["n_labeled_items"], "skipped": p["n_skipped"],
            "unlabeled": p["n_items"] - p["n_labeled_items"] - p["n_skipped"],
            "per_class": {c: per_class.get(c, 0) for c in self.classes},
            "rounds": len(p["history"]), "current_round": p["round"],
            "batch": f"{p['batch_done']}/{p['batch_size']}",
            "annotators": dict(self.conn.execute(
                "SELECT annotator, count(*) FROM labels WHERE undone_at IS NULL "
                "GROUP BY annotator").fetchall()),
            "cv_accuracy": next((h["cv_accuracy"] for h in reversed(p["history"])
                                 if h["cv_accuracy"] is not None), None),
            "cold_start": self.settings.get("cold_start", "random"),
            "stopping": self.stopping_status(),
            "model": self.model_state(),
            "fine_tuning": self.fine_tuning_status(),
        }

    def model_state(self) -> dict | None:
        """What the labeling server's worker last published (:meth:`BatchWorker.model_state`):
        which model ranked the items handed out, which one trains, any problem; with
        ``"running"``: whether the server that published it still runs. None before any."""
        row = self.conn.execute("SELECT value FROM settings WHERE key = 'model_state'"
                                ).fetchone()
        if row is None:
            return None
        state = json.loads(row[0])
        state["running"] = _alive(state.get("pid"))
        return state

    def fine_tuning_status(self) -> str | None:
        """One line on what "+ft" fine-tuning did in the newest fitted round (Khosla et al.
        2022: pseudo-labels of confident pool items), or None when the round did none."""
        row = self.conn.execute(
            "SELECT n_labels, info FROM rounds WHERE json_extract(info, '$.fitted') "
            "ORDER BY round DESC LIMIT 1").fetchone()
        info = json.loads(row[1]).get("pseudo_labels") if row is not None else None
        if not info:
            return None
        head = f"+ft in the last round (model on {row[0]} labels): "
        if info.get("skipped"):
            why = info.get("reason") or (f"{info.get('n_confident')} confident items, fewer "
                                         f"than the {info.get('min_confident')} it needs")
            return head + f"skipped ({why})"
        out = head + (f"fine-tuned on {info.get('n_confident')} pseudo-labels (pool items "
                      f"with confidence > {info.get('gamma')}) + {info.get('n_labeled')} labels")
        if info.get("epochs"):
            out += f", {info['epochs']} epochs (stopped on {info.get('stopped')})"
        return out


def _alive(pid) -> bool:
    """Whether process ``pid`` runs on this machine."""
    import os

    if not isinstance(pid, int) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
