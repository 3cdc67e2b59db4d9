"""The project database: SQLite in WAL mode, one short write transaction per user action.

Tables (one row per ...):

- ``settings``: key -> JSON value (classes, strategy, learner, batch size, encoder, ...; and
  ``model_state``, what the labeling server's worker last published for ``labelwise status``).
- ``items``: pool item ``idx`` (its row in ``embeddings.npy``), its ``item_id`` (path relative to
  the image folder, or ``"line N"`` of a text file), the text (texts only) and the path (images).
- ``labels``: every label ever given, with ``annotator``, ``created`` (unix time) and ``source``
  (``app``, ``data`` or ``import``); an undo sets ``undone_at`` instead of deleting the row.
- ``rounds``: each batch the strategy picked: status ``next`` (prepared ahead), ``current``
  (being handed out) or ``done`` (each item labeled, skipped or held by an annotator), how many
  labels its model used, its cross-validated accuracy and timings, and
  ``info`` (JSON: what the engine did: the strategy that picked, cold start, pseudo-labels used,
  the label watermark that lets last round's model be refitted after a restart, ``group``, the
  first of the rounds picked together in one engine round, and ``cv_done``).
- ``queue``: (round, position) -> item and the strategy's ``score`` of it: the batches, in order.
  An item is queued at most once.
- ``assignments``: which annotator holds which item (a lease: ``assigned_at`` is when it was
  given or last renewed; it lapses after the ``lease_seconds`` setting), so two never get the
  same one.
- ``skips``: items an annotator skipped; they leave the queue and are never picked again.
- ``annotators``: the accounts of :mod:`labelwise.app.annotators`: a name and the SHA-256 of its
  personal token (never the token). With no row, the app trusts the name the page sends.

Durability: ``synchronous=FULL`` with WAL means a committed transaction survives a process kill
and a power loss; the server answers only after the commit returns.
"""

from __future__ import annotations

import re
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from labelwise.validation import LabelwiseError

SCHEMA = """
CREATE TABLE IF NOT EXISTS settings (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS items (
    idx INTEGER PRIMARY KEY,
    item_id TEXT NOT NULL UNIQUE,
    text TEXT,
    path TEXT
);
CREATE TABLE IF NOT EXISTS labels (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    item_idx INTEGER NOT NULL REFERENCES items(idx),
    label TEXT NOT NULL,
    annotator TEXT NOT NULL,
    created REAL NOT NULL,
    source TEXT NOT NULL DEFAULT 'app',
    undone_at REAL
);
CREATE UNIQUE INDEX IF NOT EXISTS labels_once_per_annotator
    ON labels(item_idx, annotator) WHERE undone_at IS NULL;
CREATE INDEX IF NOT EXISTS labels_by_item ON labels(item_idx);
CREATE TABLE IF NOT EXISTS rounds (
    round INTEGER PRIMARY KEY,
    status TEXT NOT NULL CHECK (status IN ('next', 'current', 'done')),
    created REAL NOT NULL,
    n_labels INTEGER NOT NULL,
    strategy TEXT NOT NULL,
    cv_accuracy REAL,
    train_seconds REAL,
    select_seconds REAL,
    info TEXT
);
CREATE TABLE IF NOT EXISTS queue (
    round INTEGER NOT NULL REFERENCES rounds(round),
    position INTEGER NOT NULL,
    item_idx INTEGER NOT NULL UNIQUE REFERENCES items(idx),
    score REAL,
    PRIMARY KEY (round, position)
);
CREATE TABLE IF NOT EXISTS assignments (
    item_idx INTEGER NOT NULL REFERENCES items(idx),
    annotator TEXT NOT NULL,
    assigned_at REAL NOT NULL,
    PRIMARY KEY (item_idx, annotator)
);
CREATE TABLE IF NOT EXISTS skips (
    item_idx INTEGER PRIMARY KEY REFERENCES items(idx),
    annotator TEXT NOT NULL,
    created REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS annotators (
    name TEXT PRIMARY KEY,
    token_hash TEXT NOT NULL UNIQUE,
    created REAL NOT NULL
);
"""

#: tables added since the first release, created when an older project is opened
NEW_TABLES = ("annotators",)


def connect(path: str | Path) -> sqlite3.Connection:
    """Open the project database (WAL, synchronous=FULL, 30 s busy timeout, autocommit mode).

    Writes go through :func:`transaction`; the connection may be used from any one thread.
    """
    conn = sqlite3.connect(str(path), timeout=30.0, isolation_level=None,
                           check_same_thread=False)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute("PRAGMA foreign_keys=ON")
    return conn


#: columns added since the first release: (table, column, type), added when a project is opened
MIGRATIONS = (("rounds", "info", "TEXT"), ("queue", "score", "REAL"))


def create_schema(conn: sqlite3.Connection) -> None:
    """Create every table and index (idempotent)."""
    conn.executescript(SCHEMA)


def migrate(conn: sqlite3.Connection) -> None:
    """Add the tables and columns an older project lacks (idempotent)."""
    have_tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    if any(t not in have_tables for t in NEW_TABLES):
        conn.executescript(SCHEMA)  # CREATE ... IF NOT EXISTS: only the missing ones are made
    for table, column, kind in MIGRATIONS:
        have = {r[1] for r in conn.execute(f"PRAGMA table_info({table})")}
        if column not in have:
            conn.execute(f"ALTER TABLE {table} ADD COLUMN {column} {kind}")


def check_tables(conn: sqlite3.Connection) -> None:
    """Raise ``sqlite3.DatabaseError("no table X")`` when a table of :data:`SCHEMA` is missing
    (run after :func:`migrate`, which adds the tables of newer releases)."""
    have = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    for name in re.findall(r"CREATE TABLE IF NOT EXISTS (\w+)", SCHEMA):
        if name not in have:
            raise sqlite3.DatabaseError(f"no table {name}")


#: what to do about a damaged project file (part of every such error)
REPAIR_HINT = ("restore it from a backup, or run `labelwise init` again (labels exported "
               "earlier come back with its --labels option)")


def is_corrupt(exc: BaseException) -> bool:
    """Whether ``exc`` is SQLite finding a damaged file ("database disk image is malformed",
    "file is not a database")."""
    # SQLITE_CORRUPT = 11, SQLITE_NOTADB = 26 (the code is there on Python 3.11+)
    return isinstance(exc, sqlite3.DatabaseError) and (
        getattr(exc, "sqlite_errorcode", None) in (11, 26)
        or "malformed" in str(exc) or "not a database" in str(exc)
        or str(exc).startswith(("no table ", "no such table", "no such column")))


def check_intact(conn: sqlite3.Connection, path: str | Path) -> None:
    """Run ``PRAGMA quick_check`` (every page and record well formed; linear in the file size:
    ~30 ms for 100,000 items, ~0.1 s with 100,000 texts of 200 characters, a 26 MB file): a
    damaged file raises a one-line :class:`LabelwiseError` naming ``path``.

    Raises:
        LabelwiseError: the check finds a problem, or SQLite cannot read the file at all.
    """
    try:
        problems = [r[0] for r in conn.execute("PRAGMA quick_check(3)")]
    except sqlite3.DatabaseError as exc:
        problems = [str(exc)]
    if problems != ["ok"]:
        detail = "; ".join(" ".join(p.replace("*** in database main ***", "").split())
                           for p in problems)[:200]
        raise LabelwiseError(f"the project database {path} is damaged ({detail}): {REPAIR_HINT}")
# The writers of this process (annotators' requests, the worker) take turns here before they
# ask SQLite: its busy handler retries a locked database after sleeps of up to 100 ms, which made
# the slowest 1% of a team's requests take a second
_WRITERS = threading.RLock()


@contextmanager
def transaction(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """``BEGIN IMMEDIATE`` ... ``COMMIT`` (``ROLLBACK`` on error, a failed ``COMMIT`` included):
    one writer at a time (this process's threads in turn, other processes through SQLite's
    lock), and the reads inside see the state the writes are based on."""
    with _WRITERS:
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
            conn.execute("COMMIT")
        except BaseException:
            # a failed COMMIT (a full disk) may leave the transaction open: end it, so that the
            # connection's next BEGIN works once there is space again
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
