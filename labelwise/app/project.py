"""A labeling project on disk, and every operation on it as a library call.

A project folder holds ``labelwise.db`` (SQLite, see :mod:`labelwise.app.db`), ``embeddings.npy``
((n, d) float32 features of the pool, row ``idx`` = item ``idx``) and ``cache/`` (the encoder's
embedding cache). The server, the worker and the CLI all go through :class:`Project`.

The batch pipeline (issue 6): round r's batch is labeled while round r+1's batch is already
queued, picked by the strategy from the model trained on every label given before round r
started ("prepared ahead, from the model of the previous round"). When round r is done, round r+1
becomes current at once and the worker trains on the new labels to prepare round r+2, so the
annotator never waits as long as training plus selection is faster than labeling a batch. Until
the labels hold two classes the batches are drawn uniformly at random (cold start).
"""

from __future__ import annotations

import csv
import json
import threading
import time
from collections import Counter
from pathlib import Path

import numpy as np

from labelwise.app import db
from labelwise.validation import LabelwiseError, check_features, check_positive_int

DB_NAME = "labelwise.db"
EMBEDDINGS_NAME = "embeddings.npy"
EXPORT_FORMATS = ("csv", "jsonl", "label-studio")
TEXT_SUFFIXES = (".csv", ".tsv", ".jsonl", ".ndjson")
#: an assignment older than this (seconds) may be handed to another annotator
DEFAULT_LEASE_SECONDS = 600.0


class ItemNotFound(LabelwiseError):
    """An item index that the project does not have (the server answers 404)."""


class Conflict(LabelwiseError):
    """An action the project's state forbids: already labeled, held by another annotator,
    nothing to undo (the server answers 409)."""


def _parse_classes(classes) -> list[str]:
    if classes is None:
        return []
    if isinstance(classes, str):
        classes = classes.split(",")
    out = [str(c).strip() for c in classes if str(c).strip()]
    dup = sorted({c for c in out if out.count(c) > 1})
    if dup:
        raise LabelwiseError(f"the classes contain duplicates: {', '.join(dup)}")
    return out


def check_annotator(annotator) -> str:
    """An annotator name: a non-empty string of at most 100 characters."""
    if not isinstance(annotator, str) or not annotator.strip() or len(annotator) > 100:
        raise LabelwiseError("annotator must be a non-empty name of at most 100 characters")
    return annotator.strip()


def cross_validated_accuracy(learner, X: np.ndarray, y: np.ndarray,
                             random_state: int = 0, n_splits: int = 5) -> float | None:
    """Stratified k-fold accuracy of ``learner`` (cloned per fold) on the labels so far.

    Args:
        learner: an unfitted or fitted learner; each fold fits ``learner.clone()``.
        X: (m, d) features of the labeled items; y: (m,) their labels.
        n_splits: at most this many folds (fewer when no class has that many labels).

    Returns:
        Correct predictions over all scored held-out items (folds whose training part lacks two
        classes are left out), or None with fewer than 4 labels or 2 classes.
    """
    import warnings

    from sklearn.model_selection import StratifiedKFold

    _, counts = np.unique(y, return_counts=True)
    if len(counts) < 2 or len(y) < 4:
        return None
    k = int(min(n_splits, counts.max()))
    if k < 2:
        return None
    correct = scored = 0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "least populated class has fewer members than n_splits"
        folds = StratifiedKFold(k, shuffle=True, random_state=random_state).split(X, y)
        for train, test in folds:
            if len(np.unique(y[train])) < 2:
                continue
            model = learner.clone().fit(X[train], y[train])
            correct += int((model.predict(X[test]) == y[test]).sum())
            scored += len(test)
    return correct / scored if scored else None


def _load_raw(data: Path, text_column: str, label_column: str | None):
    if data.is_dir():
        from labelwise.data.images import load_image_folder

        return load_image_folder(data)
    if data.suffix.lower() in TEXT_SUFFIXES:
        from labelwise.data.texts import load_text_table

        return load_text_table(data, text_column=text_column, label_column=label_column)
    if not data.exists():
        raise LabelwiseError(f"data not found: {data}")
    raise LabelwiseError(f"cannot read {data}: give a folder of images or a "
                         f"{'/'.join(TEXT_SUFFIXES)} file of texts")


def init_project(
    path: str | Path,
    data: str | Path,
    classes=None,
    encoder: str | None = None,
    strategy: str = "margin",
    learner: str = "logreg",
    batch_size: int = 10,
    labels_per_item: int = 1,
    labels_csv: str | Path | None = None,
    text_column: str = "text",
    label_column: str | None = "label",
    random_state: int = 0,
    progress: bool = True,
) -> Project:
    """Create a project from a folder of images or a CSV/JSONL file of texts.

    The items are encoded once (``encoder``; default ``efficientnet-lite0`` for images and
    ``minilm`` for texts) with the embedding cache under ``PATH/cache``. Labels found in the data
    (class subfolders, a label column) and in ``labels_csv`` (columns ``id,label``) are imported.
    The first batch is queued before this returns.

    Args:
        path: the project folder to create (must not hold a project yet).
        data: a folder of images (one subfolder per class, or flat) or a .csv/.tsv/.jsonl file.
        classes: the class names (list or comma-separated); default: the labels in the data.
        strategy, learner: registry names (see ``labelwise strategies`` / ``learners``).
        batch_size: items per round.
        labels_per_item: how many annotators label each item (2+ = double labeling).

    Raises:
        LabelwiseError: a missing or corrupt data file (named with its path), unknown names,
            labels outside the classes, or fewer than 2 classes.
    """
    from labelwise.encoders import embed

    data = Path(data).expanduser()
    if not data.exists():
        raise LabelwiseError(f"data not found: {data}")
    path = Path(path).expanduser()
    if (path / DB_NAME).exists():
        raise LabelwiseError(f"{path} already holds a labelwise project")
    raw = _load_raw(data, text_column, label_column)
    names = _parse_classes(classes)
    found = sorted({lab for lab in (raw.labels or []) if lab is not None})
    if not names:
        names = found
        if len(names) < 2:
            raise LabelwiseError("name the classes with --classes a,b,c (the data holds labels "
                                 f"of {len(names)} class(es))")
    if encoder is None:
        encoder = "efficientnet-lite0" if raw.modality == "image" else "minilm"
    features = embed(encoder, raw.items, cache_dir=path / "cache", progress=progress)
    paths = raw.ids if raw.modality == "image" else None
    texts = raw.items if raw.modality == "text" else None
    project = create_project(
        path, raw.ids, features, names, raw.modality, texts=texts, paths=paths,
        data_root=str(data.resolve()),
        labels=raw.labels, strategy=strategy, learner=learner, batch_size=batch_size,
        labels_per_item=labels_per_item, random_state=random_state, encoder=str(encoder),
        prepare=labels_csv is None,
    )
    if labels_csv is not None:
        project.import_labels(labels_csv)
        project.prepare_next_batch()
    return project


def create_project(
    path: str | Path,
    item_ids,
    features,
    classes,
    modality: str = "features",
    texts=None,
    paths=None,
    data_root: str | None = None,
    labels=None,
    strategy: str = "margin",
    learner: str = "logreg",
    batch_size: int = 10,
    labels_per_item: int = 1,
    random_state: int = 0,
    encoder: str = "",
    lease_seconds: float = DEFAULT_LEASE_SECONDS,
    prepare: bool = True,
) -> Project:
    """Create a project from encoded items (what :func:`init_project` does after encoding).

    Args:
        item_ids: (n,) unique string ids.
        features: (n, d) features; stored as float32 in ``embeddings.npy``.
        classes: the class names.
        modality: ``"image"`` (``paths`` relative to ``data_root``), ``"text"`` (``texts``) or
            ``"features"`` (nothing to show but the id).
        labels: optional (n,) label or None per item, imported with source ``data``.
        prepare: queue the first batch now.
    """
    from labelwise.learners import make_learner
    from labelwise.loop import check_capabilities
    from labelwise.strategies import get_strategy

    path = Path(path).expanduser()
    if (path / DB_NAME).exists():
        raise LabelwiseError(f"{path} already holds a labelwise project")
    names = _parse_classes(classes)
    if len(names) < 2:
        raise LabelwiseError(f"a project needs at least 2 classes, got {len(names)}")
    check_capabilities(get_strategy(strategy), make_learner(learner, names))
    batch_size = check_positive_int(batch_size, "batch size")
    labels_per_item = check_positive_int(labels_per_item, "labels per item")
    X = check_features(features, "features").astype(np.float32, copy=False)
    ids = [str(i) for i in item_ids]
    if len(ids) != len(X):
        raise LabelwiseError(f"{len(ids)} item ids but {len(X)} feature rows")
    if len(set(ids)) != len(ids):
        raise LabelwiseError("the item ids contain duplicates")
    if labels is not None:
        bad = [f"{ids[i]} ({lab!r})" for i, lab in enumerate(labels)
               if lab is not None and str(lab) not in names]
        if bad:
            raise LabelwiseError(f"labels outside the classes {', '.join(names)} in "
                                 f"{len(bad)} item(s): {', '.join(bad[:10])}")
    if modality not in ("image", "text", "features"):
        raise LabelwiseError(f"modality must be image, text or features, got {modality!r}")
    path.mkdir(parents=True, exist_ok=True)
    tmp = path / (EMBEDDINGS_NAME + ".tmp.npy")
    np.save(tmp, X)
    tmp.replace(path / EMBEDDINGS_NAME)
    conn = db.connect(path / DB_NAME)
    db.create_schema(conn)
    settings = {
        "classes": names, "modality": modality, "strategy": strategy, "learner": learner,
        "batch_size": batch_size, "labels_per_item": labels_per_item,
        "random_state": int(random_state), "encoder": encoder, "data_root": data_root,
        "lease_seconds": float(lease_seconds), "n_items": len(ids), "created": time.time(),
    }
    now = time.time()
    with db.transaction(conn):
        conn.executemany("INSERT INTO settings VALUES (?, ?)",
                         [(k, json.dumps(v)) for k, v in settings.items()])
        conn.executemany(
            "INSERT INTO items (idx, item_id, text, path) VALUES (?, ?, ?, ?)",
            ((i, ids[i], texts[i] if texts is not None else None,
              paths[i] if paths is not None else None) for i in range(len(ids))))
        if labels is not None:
            conn.executemany(
                "INSERT INTO labels (item_idx, label, annotator, created, source) "
                "VALUES (?, ?, 'data', ?, 'data')",
                [(i, str(lab), now) for i, lab in enumerate(labels) if lab is not None])
    conn.close()
    project = Project(path)
    if prepare:
        project.prepare_next_batch()
    return project


# SQL fragments: an item is "done" when skipped or labeled labels_per_item times.
_ACTIVE_COUNT = ("(SELECT count(*) FROM labels l WHERE l.item_idx = {col} "
                 "AND l.undone_at IS NULL)")
_NOT_DONE = ("{col} NOT IN (SELECT item_idx FROM skips) AND " + _ACTIVE_COUNT + " < :lpi")


class Project:
    """An open project: each method is one short transaction on the database.

    Thread-safe: each thread gets its own SQLite connection; concurrent writers (two annotators,
    the worker) are serialised by ``BEGIN IMMEDIATE``.
    """

    def __init__(self, path: str | Path):
        self.path = Path(path).expanduser()
        if not (self.path / DB_NAME).is_file():
            raise LabelwiseError(f"no labelwise project at {self.path} (create one with "
                                 "`labelwise init`)")
        self._local = threading.local()
        rows = self.conn.execute("SELECT key, value FROM settings").fetchall()
        self.settings = {k: json.loads(v) for k, v in rows}
        self.classes: list[str] = self.settings["classes"]
        self.n_items: int = self.settings["n_items"]
        self._features = None
        self._features_lock = threading.Lock()

    # -- plumbing ------------------------------------------------------------------------------
    @property
    def conn(self):
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._local.conn = db.connect(self.path / DB_NAME)
        return conn

    @property
    def features(self) -> np.ndarray:
        """(n, d) float32 features of the pool, loaded once."""
        with self._features_lock:
            if self._features is None:
                self._features = np.load(self.path / EMBEDDINGS_NAME)
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

    def _advance(self, conn) -> None:
        """Close the current round when all its items are done and promote the next one."""
        while True:
            cur = conn.execute("SELECT round FROM rounds WHERE status = 'current'").fetchone()
            if cur is not None:
                open_item = conn.execute(
                    "SELECT 1 FROM queue q WHERE q.round = :r AND "
                    + _NOT_DONE.format(col="q.item_idx") + " LIMIT 1",
                    {"r": cur[0], "lpi": self.lpi}).fetchone()
                if open_item is not None:
                    return
                conn.execute("UPDATE rounds SET status = 'done' WHERE round = ?", cur)
            nxt = conn.execute("SELECT min(round) FROM rounds WHERE status = 'next'").fetchone()[0]
            if nxt is None:
                return
            conn.execute("UPDATE rounds SET status = 'current' WHERE round = ?", (nxt,))

    def _item_info(self, conn, idx: int) -> dict:
        item_id, text = conn.execute("SELECT item_id, text FROM items WHERE idx = ?",
                                     (idx,)).fetchone()
        info = {"idx": idx, "id": item_id, "modality": self.settings["modality"],
                "round": None, "position": None, "batch_size": None}
        row = conn.execute("SELECT round, position FROM queue WHERE item_idx = ?",
                           (idx,)).fetchone()
        if row is not None:
            info["round"], pos = row
            info["position"] = pos + 1
            info["batch_size"] = conn.execute("SELECT count(*) FROM queue WHERE round = ?",
                                              (row[0],)).fetchone()[0]
        return info

    # -- labeling ------------------------------------------------------------------------------
    def next_item(self, annotator: str) -> dict:
        """The item ``annotator`` should label now, assigned to them.

        The item they already hold (not yet labeled, e.g. after an undo or a page reload) comes
        first; otherwise the first item of the current batch (then of the prepared next batch)
        that nobody else holds, unless ``labels_per_item`` > 1 leaves room for more annotators.

        Returns:
            ``{"item": info or None, "state": "labeling" | "waiting" | "finished", "progress"}``;
            "waiting" means the next batch is being prepared (or others hold the open items).
        """
        annotator = check_annotator(annotator)
        conn = self.conn
        now = time.time()
        args = {"a": annotator, "lpi": self.lpi,
                "stale": now - float(self.settings["lease_seconds"])}
        with db.transaction(conn):
            self._advance(conn)
            row = conn.execute(
                "SELECT a.item_idx FROM assignments a WHERE a.annotator = :a AND "
                + _NOT_DONE.format(col="a.item_idx")
                + " AND NOT EXISTS (SELECT 1 FROM labels l WHERE l.item_idx = a.item_idx AND "
                "l.undone_at IS NULL AND l.annotator = :a) ORDER BY a.assigned_at DESC LIMIT 1",
                args).fetchone()
            if row is None:
                row = conn.execute(
                    "SELECT q.item_idx FROM queue q JOIN rounds r ON r.round = q.round "
                    "WHERE r.status IN ('current', 'next') "
                    "AND q.item_idx NOT IN (SELECT item_idx FROM skips) "
                    "AND NOT EXISTS (SELECT 1 FROM labels l WHERE l.item_idx = q.item_idx AND "
                    "l.undone_at IS NULL AND l.annotator = :a) AND "
                    + _ACTIVE_COUNT.format(col="q.item_idx")
                    + " + (SELECT count(*) FROM assignments s WHERE s.item_idx = q.item_idx AND "
                    "s.annotator != :a AND s.assigned_at > :stale) < :lpi "
                    "ORDER BY q.round, q.position LIMIT 1", args).fetchone()
                if row is not None:
                    conn.execute("INSERT OR REPLACE INTO assignments VALUES (?, ?, ?)",
                                 (row[0], annotator, now))
            item = self._item_info(conn, row[0]) if row is not None else None
        state = "labeling" if item is not None else (
            "waiting" if self._work_left() else "finished")
        return {"item": item, "state": state, "progress": self.progress(annotator)}

    def _work_left(self) -> bool:
        """Whether items remain that are open in a queue or could still be picked."""
        conn = self.conn
        queued_open = conn.execute(
            "SELECT 1 FROM queue q JOIN rounds r ON r.round = q.round WHERE r.status != 'done' "
            "AND " + _NOT_DONE.format(col="q.item_idx") + " LIMIT 1",
            {"lpi": self.lpi}).fetchone()
        if queued_open is not None:
            return True
        return self._pool_left(conn) > 0

    def _pool_left(self, conn) -> int:
        return conn.execute(
            "SELECT count(*) FROM items i WHERE i.idx NOT IN (SELECT item_idx FROM queue) "
            "AND i.idx NOT IN (SELECT item_idx FROM skips) AND NOT EXISTS (SELECT 1 FROM labels "
            "l WHERE l.item_idx = i.idx AND l.undone_at IS NULL)").fetchone()[0]

    def label(self, item, label, annotator: str) -> dict:
        """Record ``annotator``'s ``label`` for ``item``; committed when this returns.

        Raises:
            ItemNotFound: an item number the project lacks.
            LabelwiseError: a class outside the project's classes.
            Conflict: the item is already labeled (by this annotator, or as often as the project
                asks), skipped, held by another annotator, or was never asked for.
        """
        label = self._check_label(label)
        annotator = check_annotator(annotator)
        idx = self._check_item(item)
        conn = self.conn
        now = time.time()
        stale = now - float(self.settings["lease_seconds"])
        with db.transaction(conn):
            if conn.execute("SELECT 1 FROM skips WHERE item_idx = ?", (idx,)).fetchone():
                raise Conflict(f"item {idx} was skipped")
            if conn.execute("SELECT 1 FROM labels WHERE item_idx = ? AND annotator = ? AND "
                            "undone_at IS NULL", (idx, annotator)).fetchone():
                raise Conflict(f"item {idx} is already labeled by {annotator}; undo it first")
            count = conn.execute("SELECT count(*) FROM labels WHERE item_idx = ? AND "
                                 "undone_at IS NULL", (idx,)).fetchone()[0]
            if count >= self.lpi:
                raise Conflict(f"item {idx} is already labeled")
            held = conn.execute("SELECT 1 FROM assignments WHERE item_idx = ? AND annotator = ?",
                                (idx, annotator)).fetchone() is not None
            queued = conn.execute("SELECT 1 FROM queue WHERE item_idx = ?",
                                  (idx,)).fetchone() is not None
            if not (held or queued):
                raise Conflict(f"item {idx} is not in the query queue; label the items the "
                               "app serves")
            others = [r[0] for r in conn.execute(
                "SELECT annotator FROM assignments WHERE item_idx = ? AND annotator != ? AND "
                "assigned_at > ?", (idx, annotator, stale))]
            if not held and count + len(others) >= self.lpi:
                raise Conflict(f"item {idx} is assigned to {others[0]}")
            cur = conn.execute(
                "INSERT INTO labels (item_idx, label, annotator, created, source) "
                "VALUES (?, ?, ?, ?, 'app')", (idx, label, annotator, now))
            label_id = cur.lastrowid
            conn.execute("DELETE FROM assignments WHERE item_idx = ? AND annotator = ?",
                         (idx, annotator))
            if count + 1 >= self.lpi:
                conn.execute("DELETE FROM assignments WHERE item_idx = ?", (idx,))
            self._advance(conn)
        return {"label_id": label_id, "item": idx, "label": label, "annotator": annotator}

    def skip(self, item, annotator: str) -> dict:
        """Take ``item`` out of the queue for everyone; the strategy never picks it again."""
        annotator = check_annotator(annotator)
        idx = self._check_item(item)
        conn = self.conn
        with db.transaction(conn):
            if conn.execute("SELECT 1 FROM skips WHERE item_idx = ?", (idx,)).fetchone():
                raise Conflict(f"item {idx} was already skipped")
            count = conn.execute("SELECT count(*) FROM labels WHERE item_idx = ? AND "
                                 "undone_at IS NULL", (idx,)).fetchone()[0]
            if count >= self.lpi:
                raise Conflict(f"item {idx} is already labeled")
            if not (conn.execute("SELECT 1 FROM queue WHERE item_idx = ?", (idx,)).fetchone()
                    or conn.execute("SELECT 1 FROM assignments WHERE item_idx = ? AND "
                                    "annotator = ?", (idx, annotator)).fetchone()):
                raise Conflict(f"item {idx} is not in the query queue")
            conn.execute("INSERT INTO skips VALUES (?, ?, ?)", (idx, annotator, time.time()))
            conn.execute("DELETE FROM assignments WHERE item_idx = ?", (idx,))
            self._advance(conn)
        return {"item": idx, "skipped": True}

    def undo(self, annotator: str) -> dict:
        """Withdraw ``annotator``'s last label given in the app; the item comes back to them next.

        Raises:
            Conflict: when they have no label left to undo.
        """
        annotator = check_annotator(annotator)
        conn = self.conn
        now = time.time()
        with db.transaction(conn):
            row = conn.execute(
                "SELECT id, item_idx, label FROM labels WHERE annotator = ? AND source = 'app' "
                "AND undone_at IS NULL ORDER BY id DESC LIMIT 1", (annotator,)).fetchone()
            if row is None:
                raise Conflict(f"{annotator} has no label to undo")
            label_id, idx, label = row
            conn.execute("UPDATE labels SET undone_at = ? WHERE id = ?", (now, label_id))
            conn.execute("INSERT OR REPLACE INTO assignments VALUES (?, ?, ?)",
                         (idx, annotator, now))
        return {"item": idx, "label": label, "undone": label_id}

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

    def active_labels(self) -> list[dict]:
        """Every label in force (not undone), oldest first."""
        rows = self.conn.execute(
            "SELECT l.id, l.item_idx, i.item_id, l.label, l.annotator, l.created, l.source "
            "FROM labels l JOIN items i ON i.idx = l.item_idx WHERE l.undone_at IS NULL "
            "ORDER BY l.id").fetchall()
        keys = ("label_id", "item", "id", "label", "annotator", "created", "source")
        return [dict(zip(keys, r, strict=True)) for r in rows]

    def labeled_arrays(self) -> tuple[np.ndarray, np.ndarray]:
        """(m,) item indices and (m,) labels: the majority label per item (ties: earliest)."""
        by_item: dict[int, list[str]] = {}
        for r in self.active_labels():
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
        }

    # -- the model -----------------------------------------------------------------------------
    def _learner(self):
        from labelwise.learners import make_learner

        return make_learner(self.settings["learner"], self.classes,
                            random_state=self.settings["random_state"])

    def prepare_next_batch(self) -> dict | None:
        """Queue the next batch when none is prepared ahead (what the background worker runs).

        Trains the learner on every label in force, estimates its cross-validated accuracy and
        asks the strategy (:func:`labelwise.loop.query`) for ``batch_size`` items among those
        neither labeled, skipped nor queued; with labels of fewer than 2 classes the batch is
        drawn at random. The batch is stored as round ``status='next'`` (``'current'`` when no
        batch is open).

        Returns:
            ``{"round", "size", "strategy", "cv_accuracy", "train_seconds", "select_seconds",
            "n_labels", "cv_seconds"}``; the batch is committed (and served) before the
            cross-validated accuracy is computed and stored with its round;
            or None when a batch is already prepared or the pool is exhausted.
        """
        from labelwise.loop import select_from
        from labelwise.strategies import get_strategy

        conn = self.conn
        conn.execute("BEGIN")  # a consistent snapshot of the labels and the queue
        try:
            if conn.execute("SELECT 1 FROM rounds WHERE status = 'next'").fetchone():
                return None
            if conn.execute("SELECT 1 FROM rounds WHERE status = 'current'").fetchone() is None \
                    and conn.execute("SELECT 1 FROM rounds").fetchone() is not None \
                    and self._pool_left(conn) == 0:
                return None
            labeled_idx, y = self.labeled_arrays()
            queued = np.array([r[0] for r in conn.execute("SELECT item_idx FROM queue")] +
                              [r[0] for r in conn.execute("SELECT item_idx FROM skips")],
                              dtype=np.int64)
            new_round = (conn.execute("SELECT max(round) FROM rounds").fetchone()[0] or 0) + 1
        finally:
            conn.execute("COMMIT")
        taken = np.zeros(self.n_items, dtype=bool)
        taken[labeled_idx] = True
        taken[queued] = True
        candidates = np.flatnonzero(~taken)
        if len(candidates) == 0:
            return None
        k = min(int(self.settings["batch_size"]), len(candidates))
        seed = int(self.settings["random_state"]) + new_round
        cv, fitted = None, False
        train_s = select_s = 0.0
        if len(set(y.tolist())) >= 2:
            X = self.features
            learner = self._learner()
            t0 = time.perf_counter()
            learner.fit(X[labeled_idx], y)
            train_s = time.perf_counter() - t0
            t0 = time.perf_counter()
            # the features were checked at init and the strategy/learner pair too: skip
            # query()'s whole-pool checks, which cost as much as the scoring on 100,000 items
            picks = select_from(get_strategy(self.settings["strategy"]), learner, X,
                                labeled_idx, y, k, candidates, random_state=seed)
            select_s = time.perf_counter() - t0
            strategy = self.settings["strategy"]
            fitted = True
        else:
            picks = np.random.default_rng(seed).choice(candidates, k, replace=False)
            strategy = "random"
        with db.transaction(conn):
            if conn.execute("SELECT 1 FROM rounds WHERE status = 'next'").fetchone():
                return None
            still = {r[0] for r in conn.execute(
                "SELECT item_idx FROM queue UNION SELECT item_idx FROM skips UNION "
                "SELECT item_idx FROM labels WHERE undone_at IS NULL")}
            picks = [int(i) for i in picks if int(i) not in still]
            if not picks:
                return None
            new_round = (conn.execute("SELECT max(round) FROM rounds").fetchone()[0] or 0) + 1
            conn.execute("INSERT INTO rounds VALUES (?, 'next', ?, ?, ?, ?, ?, ?)",
                         (new_round, time.time(), len(y), strategy, cv, train_s, select_s))
            conn.executemany("INSERT INTO queue VALUES (?, ?, ?)",
                             [(new_round, pos, i) for pos, i in enumerate(picks)])
            self._advance(conn)
        t0 = time.perf_counter()
        if fitted:  # the batch is served already; the accuracy estimate only feeds the chart
            cv = cross_validated_accuracy(learner, X[labeled_idx], y, random_state=seed)
            with db.transaction(conn):
                conn.execute("UPDATE rounds SET cv_accuracy = ? WHERE round = ?", (cv, new_round))
        return {"round": new_round, "size": len(picks), "strategy": strategy, "cv_accuracy": cv,
                "train_seconds": train_s, "select_seconds": select_s, "n_labels": len(y),
                "cv_seconds": time.perf_counter() - t0}

    # -- import / export -----------------------------------------------------------------------
    def import_labels(self, csv_path: str | Path, annotator: str = "import") -> dict:
        """Import labels from a CSV with columns ``id`` (the item id) and ``label``.

        Items that already carry a label in force are left as they are (counted in
        ``already_labeled``). Unknown ids and classes are reported with their row numbers.
        """
        p = Path(csv_path).expanduser()
        if not p.is_file():
            raise LabelwiseError(f"label file not found: {p}")
        try:
            with open(p, newline="", encoding="utf-8") as f:
                reader = csv.DictReader(f)
                fields = reader.fieldnames or []
                if "id" not in fields or "label" not in fields:
                    raise LabelwiseError(f"{p} must have columns 'id' and 'label' (has: "
                                         f"{', '.join(fields) or 'none'})")
                rows = [(n, r["id"], r["label"]) for n, r in enumerate(reader, start=2)]
        except (UnicodeDecodeError, csv.Error) as exc:
            raise LabelwiseError(f"cannot read {p}: {exc}") from None
        lookup = dict(self.conn.execute("SELECT item_id, idx FROM items").fetchall())
        bad = [f"line {n} (unknown id {i!r})" for n, i, _ in rows if i not in lookup]
        bad += [f"line {n} (unknown class {lab!r})" for n, _, lab in rows
                if lab not in self.classes]
        if bad:
            raise LabelwiseError(f"{p}: {len(bad)} bad row(s): {', '.join(bad[:10])}"
                                 + (" ..." if len(bad) > 10 else "") +
                                 f"; classes are {', '.join(self.classes)}")
        now = time.time()
        conn = self.conn
        with db.transaction(conn):
            labeled = {r[0] for r in conn.execute(
                "SELECT item_idx FROM labels WHERE undone_at IS NULL")}
            new = []
            for _, i, lab in rows:
                idx = lookup[i]
                if idx not in labeled:
                    labeled.add(idx)
                    new.append((idx, lab, annotator, now))
            conn.executemany("INSERT INTO labels (item_idx, label, annotator, created, source) "
                             "VALUES (?, ?, ?, ?, 'import')", new)
            self._advance(conn)
        return {"imported": len(new), "already_labeled": len(rows) - len(new)}

    def predictions(self) -> tuple[np.ndarray, np.ndarray]:
        """(n,) predicted class and (n,) confidence (max probability) for every item, from the
        learner trained on all labels in force."""
        idx, y = self.labeled_arrays()
        if len(set(y.tolist())) < 2:
            raise LabelwiseError("predictions need labels of at least 2 classes")
        learner = self._learner().fit(self.features[idx], y)
        proba = learner.predict_proba(self.features)
        return learner.classes_[proba.argmax(axis=1)].astype(str), proba.max(axis=1)

    def export(self, out: str | Path, format: str = "csv", predictions: bool = False) -> dict:
        """Write the labels (and optionally predictions for unlabeled items) to ``out``.

        Formats: ``csv`` and ``jsonl`` (one row per labeled item: id, label, annotator(s),
        labeled_at; with ``predictions`` also one row per unlabeled item with an empty label,
        every row gaining ``prediction`` and ``confidence``), ``label-studio`` (a JSON list of
        tasks with ``annotations`` and, with ``predictions``, ``predictions`` carrying a score).
        """
        if format not in EXPORT_FORMATS:
            raise LabelwiseError(f"unknown export format {format!r}; choose one of: "
                                 f"{', '.join(EXPORT_FORMATS)}")
        by_item: dict[int, list[dict]] = {}
        for r in self.active_labels():
            by_item.setdefault(r["item"], []).append(r)
        items = self.conn.execute("SELECT idx, item_id, text, path FROM items ORDER BY idx"
                                  ).fetchall()
        pred = conf = None
        if predictions:
            pred, conf = self.predictions()
        records = []
        for idx, item_id, text, rel in items:
            labs = by_item.get(idx, [])
            if not labs and not predictions:
                continue
            rec = {
                "id": item_id,
                "label": Counter(r["label"] for r in labs).most_common(1)[0][0] if labs else None,
                "annotator": ";".join(r["annotator"] for r in labs) or None,
                "labeled_at": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(
                    max(r["created"] for r in labs))) if labs else None,
            }
            if predictions:
                rec["prediction"] = str(pred[idx])
                rec["confidence"] = round(float(conf[idx]), 6)
            records.append((rec, labs, text, rel))
        out = Path(out).expanduser()
        out.parent.mkdir(parents=True, exist_ok=True)
        if format == "csv":
            import pandas as pd

            pd.DataFrame([r for r, *_ in records],
                         columns=["id", "label", "annotator", "labeled_at"]
                         + (["prediction", "confidence"] if predictions else [])
                         ).to_csv(out, index=False)
        elif format == "jsonl":
            with open(out, "w", encoding="utf-8") as f:
                for rec, *_ in records:
                    f.write(json.dumps(rec, ensure_ascii=False) + "\n")
        else:
            with open(out, "w", encoding="utf-8") as f:
                json.dump([self._label_studio_task(*r) for r in records], f, ensure_ascii=False,
                          indent=1)
        return {"path": str(out), "rows": len(records),
                "labeled": sum(1 for r, *_ in records if r["label"] is not None)}

    def _label_studio_task(self, rec: dict, labs: list[dict], text, rel) -> dict:
        kind = "image" if self.settings["modality"] == "image" else "text"
        if kind == "image":
            data = {"image": str(Path(self.settings["data_root"]) / rel)}
        else:
            data = {"text": text if text is not None else rec["id"]}
        data["id"] = rec["id"]

        def result(choice):
            return [{"from_name": "label", "to_name": kind, "type": "choices",
                     "value": {"choices": [choice]}}]

        task = {"data": data, "annotations": [
            {"result": result(r["label"]), "completed_by": r["annotator"],
             "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(r["created"]))}
            for r in labs]}
        if "prediction" in rec:
            task["predictions"] = [{"model_version": f"labelwise-{self.settings['learner']}",
                                    "score": rec["confidence"],
                                    "result": result(rec["prediction"])}]
        return task
