"""The app's stopping advice: one :class:`~labelwise.stopping.StoppingMonitor` fed per fitted round.

A service of its own, built from the project's seed and batch size and handed the database
connection per call, so it is tested without the rest of the project. The monitor is the one
``labelwise run`` and the Label Studio backend call (same labels, same rows).
"""

from __future__ import annotations

import json
import sqlite3

import numpy as np

from labelwise.app import db


class RoundStopping:
    """Feeds the stopping monitor once per fitted round and reads the latest advice back.

    The monitor lives in memory (:attr:`monitor`, None until the first round of this process)
    and is saved with the newest round (``rounds.info.stopping_monitor``), so a restarted app
    continues where it stopped.

    Args:
        random_state: the project's seed (draws the monitor's stop set).
        batch_size: the picks of one batch, whose confidence ``max_confidence`` reads.
    """

    def __init__(self, random_state: int, batch_size: int):
        self.random_state = int(random_state)
        self.batch_size = int(batch_size)
        self.monitor = None

    def observe(self, conn: sqlite3.Connection, engine, features: np.ndarray,
                new_round: int) -> dict:
        """Feed ``engine``'s fitted model (over ``features`` (n, d)) for round ``new_round``.

        Batches prepared ahead from the same labels give the same model: the monitor counts a
        round only when it was trained on more labels than the last counted one.

        Returns:
            ``{"stopping": the monitor's row (JSON: NaN as null), "stopping_monitor": its
            saved state}``, merged into the round's info.
        """
        from labelwise.stopping import StoppingMonitor, nan_to_none

        if self.monitor is None:
            row = conn.execute(
                "SELECT json_extract(info, '$.stopping_monitor') FROM rounds WHERE round < ? "
                "AND json_extract(info, '$.stopping_monitor') IS NOT NULL ORDER BY round DESC "
                "LIMIT 1", (new_round,)).fetchone()
            self.monitor = (StoppingMonitor.from_json(row[0]) if row is not None else
                            StoppingMonitor(random_state=self.random_state))
        picks = engine.last_query.picks[:self.batch_size]
        row = self.monitor.observe(engine.model, features, engine.labeled_idx, picks)
        with db.transaction(conn):  # only the newest round keeps the saved monitor
            conn.execute("UPDATE rounds SET info = json_remove(info, '$.stopping_monitor') "
                         "WHERE json_extract(info, '$.stopping_monitor') IS NOT NULL")
        return {"stopping": nan_to_none([row])[0], "stopping_monitor": self.monitor.to_dict()}

    @staticmethod
    def status(conn: sqlite3.Connection) -> dict | None:
        """The latest stopping advice for people, or None before any model.

        ``{"stop": bool, "message": str, "recommended": {"value", "threshold", "stop",
        "reason"}, "criteria": {name: {"value", "threshold", "stop"}}, "stopped_changing":
        bool}``: ``stop`` and ``message`` are the recommended stop and its one-line reason
        (:mod:`labelwise.stopping`; what the page and ``labelwise status`` show);
        ``stopped_changing`` is stabilizing predictions' verdict (Bloodgood & Vijay-Shanker
        2009).
        """
        from labelwise.stopping import CRITERIA, RECOMMENDED

        row = conn.execute(
            "SELECT json_extract(info, '$.stopping') FROM rounds WHERE "
            "json_extract(info, '$.stopping.recommended') IS NOT NULL "
            "ORDER BY round DESC LIMIT 1").fetchone()
        if row is None:
            return None
        last = json.loads(row[0])
        rec = last[RECOMMENDED]
        return {"stop": bool(rec["stop"]), "message": rec["reason"], "recommended": rec,
                "criteria": {c: last[c] for c in CRITERIA},
                "stopped_changing": bool(last["stabilizing_predictions"]["stop"]),
                "n_labeled": last.get("n_labeled"), "stop_set_size": last.get("stop_set_size")}
