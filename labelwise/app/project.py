"""A labeling project on disk: opening it, its settings, and what it reads.

A project folder holds ``labelwise.db`` (SQLite, see :mod:`labelwise.app.db`), ``embeddings.npy``
((n, d) float32 features of the pool, row ``idx`` = item ``idx``) and ``cache/`` (the encoder's
embedding cache). The server, the worker and the CLI all go through :class:`Project`, a thin
composition of services with explicit interfaces, each built from what it needs (a connection
provider, the settings, the features) and tested alone; none calls another's private methods:

- :mod:`labelwise.app.create`: making a project from images, texts or features;
- :class:`~labelwise.app.labeling.Queue` (``project.queue_service``): the queue's state machine
  and its assignments (next item, label, skip, undo, leases);
- :class:`~labelwise.app.labels.Labels` (``project.labels``): the labels in force;
- :class:`~labelwise.app.model_step.ModelService` (``project.model_service``): the model's
  round through the shared engine, with the stopping advice
  (:class:`~labelwise.app.round_stopping.RoundStopping`);
- :class:`~labelwise.app.transfer.Transfer` (``project.transfer``): importing and exporting labels;
- :class:`~labelwise.app.annotators.Annotators` (``project.annotators``): the accounts.

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
import weakref
from collections import Counter
from pathlib import Path

import numpy as np

from labelwise.app import db
from labelwise.app.annotators import Annotators
from labelwise.app.errors import (
    DB_NAME,
    EMBEDDINGS_NAME,
    Conflict,
    DiskFull,
    ItemNotFound,
    check_annotator,
    check_item,
)
from labelwise.app.files import interrupted_build, pid_alive
from labelwise.app.labeling import Queue
from labelwise.app.labels import Labels
from labelwise.app.model_step import ModelService, Ranking
from labelwise.app.project_files import (  # noqa: F401 (importable from here as before)
    EMBEDDINGS_HINT,
    REQUIRED_SETTINGS,
    SETTING_DEFAULTS,
    check_embeddings_file,
    check_settings,
)
from labelwise.app.transfer import Transfer
from labelwise.io import is_disk_full
from labelwise.validation import LabelwiseError

__all__ = ["DB_NAME", "EMBEDDINGS_NAME", "Conflict", "ItemNotFound", "Project", "check_annotator"]


class Project:
    """An open project: each method is one short transaction on the database, delegated to the
    project's services (see the module docstring).

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
        # the services reach the project through a weak reference: no cycle, so a project let
        # go of is freed at once, its memory map of the features with it (creating a project
        # relies on that before it maps the finished project's file again)
        project = weakref.ref(self)
        connect = lambda: project().conn  # noqa: E731 (this thread's connection, on demand)
        features = lambda: project().features  # noqa: E731 (memory-mapped when first read)
        self.labels = Labels(connect)
        self.queue_service = Queue(connect, self.settings)
        self.model_service = ModelService(connect, self.settings, features, self.queue_service,
                                          self.labels)
        self.transfer = Transfer(connect, self.settings, self.path, self.labels,
                                 self.queue_service, self.model_service.learner, features)
        self.annotators = Annotators(connect)

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

    # -- reading -------------------------------------------------------------------------------
    def item_content(self, item) -> tuple[str, object]:
        """``("text", str)`` for a text item, ``("image", Path)`` for an image item.

        Only registered items are served: the image path must resolve inside the data folder
        given at init (no path traversal, no symlinks leading out of it).
        """
        idx = check_item(item, self.n_items)
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
        """See :meth:`Labels.active_labels`."""
        return self.labels.active_labels(upto)

    def labeled_arrays(self, upto: tuple[int, float] | None = None
                       ) -> tuple[np.ndarray, np.ndarray]:
        """See :meth:`Labels.labeled_arrays`."""
        return self.labels.labeled_arrays(upto)

    def progress(self, annotator: str | None = None) -> dict:
        """Counts, the current batch's position, the accuracy estimate per round
        (:meth:`Queue.progress`) and the stopping advice (``"stopping"``)."""
        return {**self.queue_service.progress(annotator), "stopping": self.stopping_status()}

    def queue(self) -> list[dict]:
        """The batches not yet done: round, status, position and item, in order."""
        return self.queue_service.batches()

    def status(self) -> dict:
        """What ``labelwise status`` prints: settings, counts, rounds, labels per class."""
        p = self.progress()
        per_class = Counter(self.labeled_arrays()[1].tolist())
        return {
            "path": str(self.path), "modality": self.settings["modality"],
            "encoder": self.settings["encoder"], "strategy": self.settings["strategy"],
            "learner": self.settings["learner"], "batch_size": self.settings["batch_size"],
            "warm_start": bool(self.settings["warm_start"]),
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
            "cold_start": self.settings["cold_start"],
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
        row = self.model_service.newest_fitted_round()
        info = row[1].get("pseudo_labels") if row is not None else None
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


    # -- the queue and its assignments (labelwise.app.labeling.Queue) --------------------------
    @property
    def lease_seconds(self) -> float:
        return self.queue_service.lease_seconds

    def active_annotators(self) -> int:
        return self.queue_service.active_annotators()

    def label_rate(self, window: float = 30.0) -> float:
        return self.queue_service.label_rate(window)

    def potential_rate(self) -> float:
        return self.queue_service.potential_rate()

    def next_item(self, annotator: str) -> dict:
        """See :meth:`Queue.next_item`; with ``"progress"`` (:meth:`progress`)."""
        out = self.queue_service.next_item(annotator)
        return {**out, "progress": self.progress(check_annotator(annotator))}

    def renew_all_leases(self) -> int:
        return self.queue_service.renew_all_leases()

    def heartbeat(self, annotator: str) -> dict:
        return self.queue_service.heartbeat(annotator)

    def label(self, item, label, annotator: str) -> dict:
        return self.queue_service.label(item, label, annotator)

    def skip(self, item, annotator: str) -> dict:
        return self.queue_service.skip(item, annotator)

    def undo(self, annotator: str) -> dict:
        return self.queue_service.undo(annotator)

    # -- the model step (labelwise.app.model_step.ModelService) --------------------------------
    def engine(self):
        return self.model_service.engine()

    def current_engine(self):
        """The engine if one was built in this process, else None (see
        :meth:`ModelService.current_engine`)."""
        return self.model_service.current_engine()

    def batches_wanted(self) -> int:
        return self.model_service.batches_wanted()

    def batches_missing(self) -> int:
        return self.model_service.batches_missing()

    def open_batches(self) -> int:
        return self.model_service.open_batches()

    def has_model(self) -> bool:
        return self.model_service.has_model()

    def prepare_next_batch(self, batches: int | None = 1, accuracy: bool = True) -> dict | None:
        return self.model_service.prepare_next_batch(batches, accuracy)

    def rank(self, depth: int | None = None, batches: int | None = 1,
             refit: bool = True) -> Ranking | None:
        return self.model_service.rank(depth, batches, refit)

    def model_labels(self) -> int | None:
        return self.model_service.model_labels()

    def model_summary(self) -> tuple[int | None, dict]:
        return self.model_service.model_summary()

    def latest_ranking(self) -> Ranking | None:
        return self.model_service.latest_ranking()

    def queue_ranked(self, ranking: Ranking, batches: int | None = None,
                     accuracy: bool = False) -> dict | None:
        return self.model_service.queue_ranked(ranking, batches, accuracy)

    def stopping_status(self) -> dict | None:
        return self.model_service.stopping_status()

    def estimate_accuracy(self, before_fold=None) -> dict | None:
        return self.model_service.estimate_accuracy(before_fold)

    def _stopping(self, conn, engine, new_round: int, n_labels: int) -> dict:
        # what tests/test_stopping.py feeds the app's monitor through
        return self.model_service.round_stopping.observe(conn, engine, self.features,
                                                         new_round)

    # -- import and export (labelwise.app.transfer.Transfer) -----------------------------------
    def import_labels(self, csv_path: str | Path, annotator: str = "import") -> dict:
        return self.transfer.import_labels(csv_path, annotator)

    def export(self, out: str | Path, format: str = "csv", predictions: bool = False,
               document_root: str | Path | None = None, image_url: str | None = None,
               credit: dict[str, str] | None = None) -> dict:
        return self.transfer.export(out, format, predictions, document_root, image_url, credit)

    def predictions(self) -> tuple[np.ndarray, np.ndarray]:
        return self.transfer.predictions()


def _alive(pid) -> bool:
    """Whether process ``pid`` (from the database: any JSON value) runs on this machine."""
    return isinstance(pid, int) and pid > 0 and pid_alive(pid)
