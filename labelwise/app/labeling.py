"""The labeling queue's state machine: who gets which item, and labels, skips and undos.

Each method is one short transaction (``BEGIN IMMEDIATE``), so two annotators and the worker never
see a half-done change. Rounds go ``next`` (prepared ahead) -> ``current`` (being handed out) ->
``done``. An item is "done" when skipped or labeled ``labels_per_item`` times.

Leases: serving an item to an annotator writes a row in ``assignments``; the lease is live for
``lease_seconds`` (a project setting, 60 s by default) after it was given or last renewed. The page
renews it with a heartbeat while it is open (:meth:`Queue.heartbeat`), and asking for the next
item renews the one already held. When a lease lapses the item is free for others: whoever takes
it first gets it (the lapsed row is dropped then); until then the old holder may still label it.

A round closes as soon as each of its items is done or held by a live lease (as many leases as
``labels_per_item`` asks for) and someone asks for an item or gives a label: an annotator who
holds an item and goes idle never holds the next round back. Items of a closed round that are
still held ("stragglers") stay with their holders; if a straggler's lease lapses it is served to
the next annotator who asks, before new items.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable

from labelwise.app import db
from labelwise.app.activity import TeamActivity
from labelwise.app.errors import Conflict, check_annotator, check_item, check_label

# SQL fragments: an item is "done" when skipped or labeled labels_per_item times.
_ACTIVE_COUNT = ("(SELECT count(*) FROM labels l WHERE l.item_idx = {col} "
                 "AND l.undone_at IS NULL)")
_NOT_DONE = ("{col} NOT IN (SELECT item_idx FROM skips) AND " + _ACTIVE_COUNT + " < :lpi")
# ... and "free" when not done and fewer than labels_per_item live leases plus labels cover it
# (:live is the time before which a lease has lapsed)
_LIVE_LEASES = ("(SELECT count(*) FROM assignments s WHERE s.item_idx = {col} "
                "AND s.assigned_at > :live{others})")
_FREE = ("{col} NOT IN (SELECT item_idx FROM skips) AND " + _ACTIVE_COUNT + " + "
         + _LIVE_LEASES + " < :lpi")
_MINE = ("EXISTS (SELECT 1 FROM labels l WHERE l.item_idx = {col} AND l.undone_at IS NULL AND "
         "l.annotator = :a)")


class Queue:
    """The queue and its assignments: who gets which item, labels, skips and undos.

    A service of :class:`labelwise.app.project.Project`, built from what it reads, so it is
    tested alone.

    Args:
        connect: returns this thread's connection to the project's database.
        settings: the project's settings (``classes``, ``n_items``, ``labels_per_item``,
            ``lease_seconds``, ``modality``).
    """

    def __init__(self, connect: Callable[[], sqlite3.Connection], settings: dict):
        self._connect = connect
        self.settings = settings
        self.classes: list[str] = settings["classes"]
        self.n_items: int = int(settings["n_items"])
        #: the team's recent activity (serves, labels), for the rates the worker sizes from
        self.activity = TeamActivity()

    @property
    def conn(self) -> sqlite3.Connection:
        return self._connect()

    @property
    def lpi(self) -> int:
        """Labels each item asks for (``labels_per_item``)."""
        return int(self.settings["labels_per_item"])

    @property
    def lease_seconds(self) -> float:
        """How long an item stays with its annotator without a renewal (seconds)."""
        return float(self.settings["lease_seconds"])

    def active_annotators(self) -> int:
        """How many annotators were heard from (next item, label, skip, undo, heartbeat) within
        the last ``lease_seconds``."""
        return self.activity.active(time.time() - self.lease_seconds)

    def label_rate(self, window: float = 30.0) -> float:
        """Labels per second given in the app over the last ``window`` seconds (the team)."""
        return self.activity.labels_since(time.time() - window) / window

    def potential_rate(self) -> float:
        """Labels per second the active team gives when nobody waits: active annotators over the
        median time from serving an item to its label; 0 before any label. Unlike
        :meth:`label_rate` it does not shrink while the team waits, so sizing the reserve from it
        does not feed on its own shortage."""
        think = self.activity.think_seconds()
        return self.active_annotators() / max(think, 0.05) if think is not None else 0.0

    def advance(self, conn, now: float | None = None) -> None:
        """Close the current round once each of its items is done or held by live leases, and
        promote the next one."""
        now = time.time() if now is None else now
        args = {"lpi": self.lpi, "live": now - self.lease_seconds}
        while True:
            cur = conn.execute("SELECT round FROM rounds WHERE status = 'current'").fetchone()
            if cur is not None:
                free_item = conn.execute(
                    "SELECT 1 FROM queue q WHERE q.round = :r AND "
                    + _FREE.format(col="q.item_idx", others="") + " LIMIT 1",
                    {**args, "r": cur[0]}).fetchone()
                if free_item is not None:
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
        """The item ``annotator`` should label now, assigned to them (a lease, renewed here).

        The item they already hold (not yet labeled, e.g. after an undo or a page reload) comes
        first; then a straggler of a closed round whose lease lapsed; then the first item of the
        current batch (then of the batches prepared ahead) that nobody holds, unless
        ``labels_per_item`` > 1 leaves room for more annotators.

        Returns:
            ``{"item": info or None, "state": "labeling" | "waiting" | "finished"}`` (the
            project adds ``"progress"``);
            "waiting" means the next batch is being prepared (or others hold the open items).
        """
        annotator = check_annotator(annotator)
        conn = self.conn
        now = time.time()
        self.activity.saw(annotator, now)
        args = {"a": annotator, "lpi": self.lpi, "live": now - self.lease_seconds, "now": now}
        with db.transaction(conn):
            self.advance(conn, now)
            row = conn.execute(
                "SELECT a.item_idx FROM assignments a WHERE a.annotator = :a AND "
                + _NOT_DONE.format(col="a.item_idx") + " AND NOT " + _MINE.format(col="a.item_idx")
                + " ORDER BY a.assigned_at DESC LIMIT 1", args).fetchone()
            if row is not None:
                conn.execute("UPDATE assignments SET assigned_at = :now WHERE item_idx = :i AND "
                             "annotator = :a", {**args, "i": row[0]})
            else:
                # open batches, plus stragglers (held items: only those with a lapsed lease
                # pass the free test); SQLite answers the OR from the two indexes of queue
                row = conn.execute(
                    "SELECT q.item_idx FROM queue q WHERE (q.round IN (SELECT round FROM rounds "
                    "WHERE status != 'done') OR q.item_idx IN (SELECT item_idx FROM assignments))"
                    " AND NOT " + _MINE.format(col="q.item_idx") + " AND "
                    + _FREE.format(col="q.item_idx", others=" AND s.annotator != :a")
                    + " ORDER BY q.round, q.position LIMIT 1", args).fetchone()
                if row is not None:
                    # the round closes when the next one asks, or at this label: one
                    # annotator's round still waits for its last label, as the worker should
                    self._assign(conn, row[0], annotator, now)
                    self.activity.serve(annotator, now)
            item = self._item_info(conn, row[0]) if row is not None else None
        state = "labeling" if item is not None else (
            "waiting" if self.work_left() else "finished")
        return {"item": item, "state": state}

    def _assign(self, conn, idx: int, annotator: str, now: float) -> None:
        """Give ``idx`` to ``annotator``, dropping lapsed leases of others where the item would
        otherwise have more holders and labels than ``labels_per_item`` (so a lease row always
        means the item is its holder's to label)."""
        conn.execute("INSERT OR REPLACE INTO assignments VALUES (?, ?, ?)", (idx, annotator, now))
        held = conn.execute("SELECT count(*) FROM assignments WHERE item_idx = ?",
                            (idx,)).fetchone()[0]
        labeled = conn.execute("SELECT count(*) FROM labels WHERE item_idx = ? AND "
                               "undone_at IS NULL", (idx,)).fetchone()[0]
        if held + labeled > self.lpi:
            conn.execute("DELETE FROM assignments WHERE item_idx = ? AND annotator != ? AND "
                         "assigned_at <= ?", (idx, annotator, now - self.lease_seconds))

    def renew_all_leases(self) -> int:
        """Renew every lease (a server starting): whoever held an item when the last server
        stopped gets a full lease to come back for it before anyone else can take it.

        Returns:
            how many leases were renewed.
        """
        conn = self.conn
        with db.transaction(conn):
            return conn.execute("UPDATE assignments SET assigned_at = ?",
                                (time.time(),)).rowcount

    def heartbeat(self, annotator: str) -> dict:
        """Renew every lease ``annotator`` holds (the page calls this while it is open).

        Returns:
            ``{"held": [items they hold], "lease_seconds"}``; an item missing from ``held`` was
            labeled, skipped, or handed to someone else after its lease lapsed.
        """
        annotator = check_annotator(annotator)
        conn = self.conn
        now = time.time()
        self.activity.saw(annotator, now)
        with db.transaction(conn):
            conn.execute("UPDATE assignments SET assigned_at = ? WHERE annotator = ?",
                         (now, annotator))
            held = [r[0] for r in conn.execute(
                "SELECT a.item_idx FROM assignments a WHERE a.annotator = :a AND "
                + _NOT_DONE.format(col="a.item_idx") + " ORDER BY a.item_idx",
                {"a": annotator, "lpi": self.lpi})]
        return {"held": held, "lease_seconds": self.lease_seconds}

    def work_left(self) -> bool:
        """Whether items remain that are open in a queue, held, or could still be picked."""
        conn = self.conn
        queued_open = conn.execute(
            "SELECT 1 FROM queue q WHERE (q.round IN (SELECT round FROM rounds WHERE status != "
            "'done') OR q.item_idx IN (SELECT item_idx FROM assignments)) AND "
            + _NOT_DONE.format(col="q.item_idx") + " LIMIT 1", {"lpi": self.lpi}).fetchone()
        if queued_open is not None:
            return True
        return self.pool_left(conn) > 0

    def pool_left(self, conn: sqlite3.Connection) -> int:
        """Items neither queued, skipped nor labeled (what a strategy may still pick)."""
        return conn.execute(
            "SELECT count(*) FROM items i WHERE i.idx NOT IN (SELECT item_idx FROM queue) "
            "AND i.idx NOT IN (SELECT item_idx FROM skips) AND NOT EXISTS (SELECT 1 FROM labels "
            "l WHERE l.item_idx = i.idx AND l.undone_at IS NULL)").fetchone()[0]

    def label(self, item, label, annotator: str) -> dict:
        """Record ``annotator``'s ``label`` for ``item``; committed when this returns.

        Only an item served to ``annotator`` (by :meth:`next_item` or :meth:`undo`) and still
        theirs is accepted: a lapsed lease still counts until someone else was given the item.

        Raises:
            ItemNotFound: an item number the project lacks.
            LabelwiseError: a class outside the project's classes.
            Conflict: the item is already labeled (by this annotator, or as often as the project
                asks), skipped, held by another annotator, or was never served to them.
        """
        label = check_label(label, self.classes)
        annotator = check_annotator(annotator)
        idx = check_item(item, self.n_items)
        conn = self.conn
        now = time.time()
        self.activity.saw(annotator, now)
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
            if not held:
                if conn.execute("SELECT 1 FROM queue WHERE item_idx = ?", (idx,)).fetchone() \
                        is None:
                    raise Conflict(f"item {idx} is not in the query queue; label the items the "
                                   "app serves")
                other = conn.execute(
                    "SELECT annotator FROM assignments WHERE item_idx = ? AND annotator != ? "
                    "ORDER BY assigned_at DESC LIMIT 1", (idx, annotator)).fetchone()
                if other is not None:
                    raise Conflict(f"item {idx} is assigned to {other[0]}")
                raise Conflict(f"item {idx} was not served to {annotator}; label the item the "
                               "app serves you")
            cur = conn.execute(
                "INSERT INTO labels (item_idx, label, annotator, created, source) "
                "VALUES (?, ?, ?, ?, 'app')", (idx, label, annotator, now))
            label_id = cur.lastrowid
            conn.execute("DELETE FROM assignments WHERE item_idx = ? AND annotator = ?",
                         (idx, annotator))
            if count + 1 >= self.lpi:
                conn.execute("DELETE FROM assignments WHERE item_idx = ?", (idx,))
            self.advance(conn, now)
        self.activity.labeled(now, annotator)
        return {"label_id": label_id, "item": idx, "label": label, "annotator": annotator}

    def skip(self, item, annotator: str) -> dict:
        """Take ``item`` out of the queue for everyone; the strategy never picks it again.

        Only the annotator the item was served to (by :meth:`next_item`, still theirs as in
        :meth:`label`) may skip it: nobody takes an item from under another's hands.

        Raises:
            Conflict: already skipped or labeled, or not held by ``annotator``.
        """
        annotator = check_annotator(annotator)
        idx = check_item(item, self.n_items)
        conn = self.conn
        now = time.time()
        self.activity.saw(annotator, now)
        with db.transaction(conn):
            if conn.execute("SELECT 1 FROM skips WHERE item_idx = ?", (idx,)).fetchone():
                raise Conflict(f"item {idx} was already skipped")
            count = conn.execute("SELECT count(*) FROM labels WHERE item_idx = ? AND "
                                 "undone_at IS NULL", (idx,)).fetchone()[0]
            if count >= self.lpi:
                raise Conflict(f"item {idx} is already labeled")
            if not conn.execute("SELECT 1 FROM assignments WHERE item_idx = ? AND "
                                "annotator = ?", (idx, annotator)).fetchone():
                other = conn.execute("SELECT annotator FROM assignments WHERE item_idx = ? "
                                     "ORDER BY assigned_at DESC LIMIT 1", (idx,)).fetchone()
                if other is not None:
                    raise Conflict(f"item {idx} is assigned to {other[0]}; skip only the item "
                                   "the app serves you")
                raise Conflict(f"item {idx} was not served to {annotator}; skip only the item "
                               "the app serves you")
            conn.execute("INSERT INTO skips VALUES (?, ?, ?)", (idx, annotator, now))
            conn.execute("DELETE FROM assignments WHERE item_idx = ?", (idx,))
            self.advance(conn, now)
        return {"item": idx, "skipped": True}

    def undo(self, annotator: str) -> dict:
        """Withdraw ``annotator``'s last label given in the app; the item comes back to them next.

        Raises:
            Conflict: when they have no label left to undo.
        """
        annotator = check_annotator(annotator)
        conn = self.conn
        now = time.time()
        self.activity.saw(annotator, now)
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
    def progress(self, annotator: str | None = None) -> dict:
        """Counts, the current batch's position, and the accuracy estimate per round (the
        project adds the stopping advice)."""
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

    def batches(self) -> list[dict]:
        """The batches not yet done: round, status, position and item, in order."""
        rows = self.conn.execute(
            "SELECT q.round, r.status, q.position, q.item_idx FROM queue q JOIN rounds r "
            "ON r.round = q.round WHERE r.status != 'done' ORDER BY q.round, q.position")
        return [dict(zip(("round", "status", "position", "item"), r, strict=True)) for r in rows]
