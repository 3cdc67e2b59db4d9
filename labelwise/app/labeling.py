"""The labeling queue's state machine: who gets which item, and labels, skips and undos.

Each method is one short transaction (``BEGIN IMMEDIATE``), so two annotators and the worker never
see a half-done change. Rounds go ``next`` (prepared ahead) -> ``current`` -> ``done``; an item is
"done" when skipped or labeled ``labels_per_item`` times.
"""

from __future__ import annotations

import time

from labelwise.app import db
from labelwise.app.errors import Conflict, check_annotator

# SQL fragments: an item is "done" when skipped or labeled labels_per_item times.
_ACTIVE_COUNT = ("(SELECT count(*) FROM labels l WHERE l.item_idx = {col} "
                 "AND l.undone_at IS NULL)")
_NOT_DONE = ("{col} NOT IN (SELECT item_idx FROM skips) AND " + _ACTIVE_COUNT + " < :lpi")


class Labeling:
    """The labeling actions of :class:`labelwise.app.project.Project` (a mixin: it reads the
    project's ``conn``, ``settings``, ``lpi`` and item checks)."""

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
