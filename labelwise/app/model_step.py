"""The model's round in the app: the shared engine trains, fine-tunes and picks the next batch.

The worker thread calls :meth:`ModelStep.prepare_next_batch`; the engine
(:class:`labelwise.engine.ActiveLearner`) is the same one the simulations use, so a strategy picks
the same items here as in ``labelwise run`` for the same labels and seed.
"""

from __future__ import annotations

import json
import math
import time

import numpy as np

from labelwise.app import db
from labelwise.stopping import cross_validated_accuracy  # noqa: F401 (the chart's estimate)
from labelwise.validation import LabelwiseError


class ModelStep:
    """The model side of :class:`labelwise.app.project.Project` (a mixin).

    The project keeps one :class:`~labelwise.engine.ActiveLearner` in memory for the worker, so
    last round's model is at hand for strategies that compare rounds (alamp); after a restart it
    is refitted once on the labels that round used (found from the round's label watermark).
    """

    def engine(self):
        """The project's engine over its features (built once; thread: the worker's)."""
        from labelwise.engine import ActiveLearner

        if getattr(self, "_engine", None) is None:
            s = self.settings
            self._engine = ActiveLearner(
                self.features, s["learner"], s["strategy"], classes=self.classes,
                random_state=s["random_state"], learner_params=s.get("learner_params") or {},
                cold_start=s.get("cold_start", "random"))
        return self._engine

    def _learner(self):
        """An unfitted learner as the project's settings describe it."""
        return self.engine().template.clone()

    def _restore_previous_model(self, engine, conn) -> None:
        """After a restart, refit last round's model once for strategies that compare rounds."""
        if engine.model is not None or not engine.strategy.compares_rounds:
            return
        row = conn.execute("SELECT info FROM rounds WHERE info IS NOT NULL AND "
                           "json_extract(info, '$.fitted') ORDER BY round DESC LIMIT 1"
                           ).fetchone()
        if row is None:
            return
        info = json.loads(row[0])
        idx, y = self.labeled_arrays(upto=(info["label_watermark"], info["snapshot_at"]))
        engine.set_labels(idx, y)
        if engine.can_fit():
            engine.fit()

    def batches_wanted(self) -> int:
        """How many batches should be open (being handed out or prepared ahead) for the team.

        ``ceil((A + 2 R T) / batch_size) + 1`` for ``A`` annotators active now (at least one),
        who label ``R`` items per second together (the last 30 s), while one round of the
        worker took ``T`` seconds (the last one; twice that, as a round may be slower than the
        last under load): every active annotator can take an item at once, the team does not
        run dry while the next round is prepared, and a whole batch is still in reserve. One
        annotator gives 2, the batch being labeled and the next one.
        """
        active = max(1, self.active_annotators())
        behind = 2 * self.label_rate() * getattr(self, "_round_seconds", 0.0)
        return math.ceil((active + behind) / int(self.settings["batch_size"])) + 1

    def _batches_missing(self, conn) -> int:
        open_rounds = conn.execute("SELECT count(*) FROM rounds WHERE status IN "
                                   "('current', 'next')").fetchone()[0]
        return max(0, self.batches_wanted() - open_rounds)

    def prepare_next_batch(self, batches: int | None = 1, accuracy: bool = True) -> dict | None:
        """Queue the next batch(es) when fewer than :meth:`batches_wanted` are open (what the
        background worker runs).

        One engine round on every label in force: fit (and "+ft" fine-tuning), then the strategy
        picks among the items neither labeled, skipped nor queued, seeing last round's model;
        with labels of fewer than 2 classes the cold-start strategy picks. It picks
        ``batch_size`` items per batch for ``batches`` batches (None: as many as are missing,
        the worker's choice when a big team has emptied several at once), in one selection, so
        no item is picked twice and a batch-aware strategy spreads the picks over all of them.
        Each batch is stored as a round ``status='next'`` (the first ``'current'`` when no batch
        is open) with what the engine did (``rounds.info``: strategy, cold start,
        pseudo-labels, label watermark) and each pick's strategy score (``queue.score``, "why
        this item").

        Args:
            batches: at most this many batches (default 1; None: all that are missing).
            accuracy: compute the cross-validated accuracy (for the chart) after the commit;
                the worker leaves it to :meth:`estimate_accuracy` in its own thread.

        Returns:
            ``{"round", "rounds", "size", "strategy", "cv_accuracy", "train_seconds",
            "select_seconds", "n_labels", "cv_seconds", "cold_start", "pseudo_labels"}``
            (``round``: the first batch's round, ``size``: the items of all batches); the batches
            are committed (and served) before the cross-validated accuracy is computed and
            stored with their rounds; or None when enough batches are open or the pool is
            exhausted.
        """
        conn = self.conn
        engine = self.engine()
        conn.execute("BEGIN")  # a consistent snapshot of the labels and the queue
        try:
            missing = self._batches_missing(conn)
            if missing == 0:
                return None
            if conn.execute("SELECT 1 FROM rounds WHERE status = 'current'").fetchone() is None \
                    and conn.execute("SELECT 1 FROM rounds").fetchone() is not None \
                    and self._pool_left(conn) == 0:
                return None
            snapshot_at = time.time()
            watermark = conn.execute("SELECT coalesce(max(id), 0) FROM labels").fetchone()[0]
            labeled_idx, y = self.labeled_arrays()
            in_queue = np.array([r[0] for r in conn.execute("SELECT item_idx FROM queue")],
                                dtype=np.int64)
            queued = np.concatenate([in_queue, np.array(
                [r[0] for r in conn.execute("SELECT item_idx FROM skips")], dtype=np.int64)])
            new_round = (conn.execute("SELECT max(round) FROM rounds").fetchone()[0] or 0) + 1
        finally:
            conn.execute("COMMIT")
        taken = np.zeros(self.n_items, dtype=bool)
        taken[labeled_idx] = True
        taken[queued] = True
        candidates = np.flatnonzero(~taken)
        if len(candidates) == 0:
            return None
        size = int(self.settings["batch_size"])
        n_batches = missing if batches is None else max(1, min(int(batches), missing))
        k = min(size * n_batches, len(candidates))
        seed = int(self.settings["random_state"]) + new_round
        t_round = time.perf_counter()
        self._restore_previous_model(engine, conn)
        engine.set_labels(labeled_idx, y)
        pending = np.setdiff1d(in_queue, labeled_idx)  # queued, not labeled yet: covered
        picks = engine.step(k, candidates, random_state=seed, pending=pending)
        fit, query = engine.last_fit, engine.last_query
        scores = engine.pick_scores()
        info = {"strategy": query.strategy, "cold_start": query.cold_start,
                "fitted": fit is not None, "label_watermark": int(watermark),
                "snapshot_at": snapshot_at,
                "pseudo_labels": fit.pseudo_labels if fit is not None else None}
        info["cv_done"] = accuracy  # else estimate_accuracy computes it later
        if fit is not None:
            info.update(self._stopping(conn, engine, new_round, len(y)))
        train_s = fit.train_seconds if fit is not None else 0.0
        with db.transaction(conn):
            missing = self._batches_missing(conn)
            if missing == 0:
                return None
            still = {r[0] for r in conn.execute(
                "SELECT item_idx FROM queue UNION SELECT item_idx FROM skips UNION "
                "SELECT item_idx FROM labels WHERE undone_at IS NULL")}
            keep = [j for j, i in enumerate(picks) if int(i) not in still][:missing * size]
            if not keep:
                return None
            first = (conn.execute("SELECT max(round) FROM rounds").fetchone()[0] or 0) + 1
            info["group"] = first  # the batches picked together share the model and estimate
            rounds = []
            for b, start in enumerate(range(0, len(keep), size)):
                rounds.append(first + b)
                conn.execute("INSERT INTO rounds (round, status, created, n_labels, strategy, "
                             "cv_accuracy, train_seconds, select_seconds, info) "
                             "VALUES (?, 'next', ?, ?, ?, NULL, ?, ?, ?)",
                             (first + b, time.time(), len(y), query.strategy, train_s,
                              query.query_seconds, json.dumps(info)))
                conn.executemany(
                    "INSERT INTO queue (round, position, item_idx, score) VALUES (?, ?, ?, ?)",
                    [(first + b, pos, int(picks[j]),
                      None if np.isnan(scores[j]) else float(scores[j]))
                     for pos, j in enumerate(keep[start:start + size])])
            self._advance(conn, time.time())
        self._round_seconds = time.perf_counter() - t_round
        t0 = time.perf_counter()
        cv = None
        if fit is not None and accuracy:  # the batches are served already; this feeds the chart
            cv = cross_validated_accuracy(engine.template, self.features[labeled_idx], y,
                                          random_state=int(self.settings["random_state"]))
            with db.transaction(conn):
                conn.executemany("UPDATE rounds SET cv_accuracy = ? WHERE round = ?",
                                 [(cv, r) for r in rounds])
        return {"round": first, "rounds": rounds, "size": len(keep), "strategy": query.strategy,
                "cv_accuracy": cv, "train_seconds": train_s,
                "select_seconds": query.query_seconds, "n_labels": len(y),
                "cv_seconds": time.perf_counter() - t0, "cold_start": query.cold_start,
                "pseudo_labels": info["pseudo_labels"]}

    def _stopping(self, conn, engine, new_round: int, n_labels: int) -> dict:
        """Feed this round's model to the project's :class:`~labelwise.stopping.StoppingMonitor`
        (the one ``labelwise run`` and the Label Studio backend call: same labels, same rows).

        The monitor lives in memory for the worker and is saved with the newest round
        (``rounds.info.stopping_monitor``), so a restarted app continues where it stopped.
        Batches prepared ahead from the same labels give the same model: the monitor counts a
        round only when it was trained on more labels than the last counted one.

        Returns:
            ``{"stopping": the monitor's row (JSON: NaN as null), "stopping_monitor": its
            saved state}``, merged into the round's info.
        """
        from labelwise.stopping import StoppingMonitor, _nan_to_none

        monitor = getattr(self, "_monitor", None)
        if monitor is None:
            row = conn.execute(
                "SELECT json_extract(info, '$.stopping_monitor') FROM rounds WHERE round < ? "
                "AND json_extract(info, '$.stopping_monitor') IS NOT NULL ORDER BY round DESC "
                "LIMIT 1", (new_round,)).fetchone()
            monitor = (StoppingMonitor.from_json(row[0]) if row is not None else
                       StoppingMonitor(random_state=int(self.settings["random_state"])))
            self._monitor = monitor
        picks = engine.last_query.picks[:int(self.settings["batch_size"])]
        row = monitor.observe(engine.model, self.features, engine.labeled_idx, picks)
        with db.transaction(conn):  # only the newest round keeps the saved monitor
            conn.execute("UPDATE rounds SET info = json_remove(info, '$.stopping_monitor') "
                         "WHERE json_extract(info, '$.stopping_monitor') IS NOT NULL")
        return {"stopping": _nan_to_none([row])[0], "stopping_monitor": monitor.to_dict()}

    def stopping_status(self) -> dict | None:
        """The latest stopping advice for people, or None before any model.

        ``{"stop": bool, "message": str, "recommended": {"value", "threshold", "stop",
        "reason"}, "criteria": {name: {"value", "threshold", "stop"}}, "stopped_changing":
        bool}``: ``stop`` and ``message`` are the recommended stop and its one-line reason
        (:mod:`labelwise.stopping`; what the page and ``labelwise status`` show);
        ``stopped_changing`` is stabilizing predictions' verdict (Bloodgood & Vijay-Shanker
        2009).
        """
        from labelwise.stopping import CRITERIA, RECOMMENDED

        row = self.conn.execute(
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

    def estimate_accuracy(self, before_fold=None) -> dict | None:
        """The cross-validated accuracy of the newest round's model, when it was prepared
        without one (``prepare_next_batch(accuracy=False)``), on the labels that round used
        (``before_fold`` as in :func:`cross_validated_accuracy`).

        Returns:
            ``{"rounds", "cv_accuracy", "n_labels", "cv_seconds"}`` (the rounds prepared
            together share it), or None when the newest fitted round has its estimate.
        """
        conn = self.conn
        row = conn.execute(
            "SELECT round, info FROM rounds WHERE info IS NOT NULL AND "
            "json_extract(info, '$.fitted') ORDER BY round DESC LIMIT 1").fetchone()
        if row is None or json.loads(row[1]).get("cv_done", True):
            return None  # rounds from before estimates were deferred have theirs
        info = json.loads(row[1])
        t0 = time.perf_counter()
        idx, y = self.labeled_arrays(upto=(info["label_watermark"], info["snapshot_at"]))
        cv = cross_validated_accuracy(self._learner(), self.features[idx], y,
                                      random_state=int(self.settings["random_state"]),
                                      before_fold=before_fold)
        with db.transaction(conn):
            rounds = [r[0] for r in conn.execute(
                "SELECT round FROM rounds WHERE json_extract(info, '$.group') = ?",
                (info.get("group", row[0]),))] or [row[0]]
            conn.executemany("UPDATE rounds SET cv_accuracy = ?, info = json_set(info, "
                             "'$.cv_done', json('true')) WHERE round = ?",
                             [(cv, r) for r in rounds])
        return {"rounds": rounds, "cv_accuracy": cv, "n_labels": len(y),
                "cv_seconds": time.perf_counter() - t0}

    def predictions(self) -> tuple[np.ndarray, np.ndarray]:
        """(n,) predicted class and (n,) confidence (max probability) for every item, from the
        learner trained on all labels in force."""
        idx, y = self.labeled_arrays()
        if len(set(y.tolist())) < 2:
            raise LabelwiseError("predictions need labels of at least 2 classes")
        learner = self._learner().fit(self.features[idx], y)
        proba = learner.predict_proba(self.features)
        return learner.classes_[proba.argmax(axis=1)].astype(str), proba.max(axis=1)
