"""The model's round in the app: the shared engine trains, fine-tunes and picks the next batch.

The worker thread calls :meth:`ModelService.prepare_next_batch`; the engine
(:class:`labelwise.engine.ActiveLearner`) is the same one the simulations use, so a strategy picks
the same items here as in ``labelwise run`` for the same labels and seed.
"""

from __future__ import annotations

import json
import math
import sqlite3
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from labelwise.app import db
from labelwise.app.labeling import Queue
from labelwise.app.labels import Labels
from labelwise.app.round_stopping import RoundStopping
from labelwise.stopping import cross_validated_accuracy  # noqa: F401 (the chart's estimate)


@dataclass
class Ranking:
    """One engine round's ranking of the pool, kept in memory for the batches to come.

    ``items`` (k,) pool indices, best first, and ``scores`` (k,) their strategy scores (NaN
    where the strategy has none); ``info`` what ``rounds.info`` stores for the batches queued
    from it; ``n_labels`` the labels in force at its snapshot (``labeled_idx`` (m,), ``y``
    (m,)); ``fitted`` whether a model was fitted for it (False: cold start, or the last model
    ranked again).
    """

    items: np.ndarray
    scores: np.ndarray
    info: dict
    n_labels: int
    labeled_idx: np.ndarray
    y: np.ndarray
    train_seconds: float
    select_seconds: float
    fitted: bool
    seconds: float
    group: int | None = None
    exhausted: bool = False
    remaining: int | None = None  # items not queued yet, as of the last queue_ranked


class ModelService:
    """The model step of :class:`labelwise.app.project.Project`: fit, pick, queue the batches.

    It keeps one :class:`~labelwise.engine.ActiveLearner` in memory for the worker, so last
    round's model is at hand for strategies that compare rounds (alamp); after a restart it is
    refitted once on the labels that round used (found from the round's label watermark).

    Args:
        connect: returns this thread's connection to the project's database.
        settings: the project's settings (``classes``, ``n_items``, ``batch_size``, ``learner``,
            ``strategy``, ``random_state``, ``learner_params``, ``cold_start``).
        features: returns the (n, d) features of the pool (read when first needed).
        queue: the project's queue (it sizes the batches from the team's pace, and a queued
            batch may close the current round).
        labels: reads the labels in force.
    """

    def __init__(self, connect: Callable[[], sqlite3.Connection], settings: dict,
                 features: Callable[[], np.ndarray], queue: Queue, labels: Labels):
        self._connect = connect
        self._features = features
        self.settings = settings
        self.classes: list[str] = settings["classes"]
        self.n_items: int = int(settings["n_items"])
        self.queue = queue
        self.labeled_arrays = labels.labeled_arrays
        self.round_stopping = RoundStopping(settings["random_state"], settings["batch_size"])
        #: seconds the last round made the team wait (what :meth:`batches_wanted` covers)
        self.round_seconds = 0.0
        self._engine = None
        self._engine_mutex = threading.RLock()  # the worker's fallback ranks while a fit runs
        self.last_ranking: Ranking | None = None
        self._learned_watermark = 0  # the newest label id the model in memory has taken in

    @property
    def conn(self) -> sqlite3.Connection:
        return self._connect()

    @property
    def features(self) -> np.ndarray:
        return self._features()

    def current_engine(self):
        """The engine if this process built one (else None), without building it: for readers
        such as the page's assist that must not race the worker's first build."""
        return self._engine

    def engine(self):
        """The project's engine over its features (built once; thread: the worker's)."""
        from labelwise.engine import ActiveLearner

        if self._engine is None:
            s = self.settings
            self._engine = ActiveLearner(
                self.features, s["learner"], s["strategy"], classes=self.classes,
                random_state=s["random_state"], learner_params=s["learner_params"] or {},
                cold_start=s["cold_start"], warm_start=s["warm_start"])
        return self._engine

    def learner(self):
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
        active = max(1, self.queue.active_annotators())
        behind = 2 * self.queue.label_rate() * self.round_seconds
        return math.ceil((active + behind) / int(self.settings["batch_size"])) + 1

    def batches_missing(self) -> int:
        """How many batches the team needs queued beyond those open now (read on this thread's
        connection: inside a transaction, from its snapshot)."""
        return max(0, self.batches_wanted() - self.open_batches())

    def open_batches(self) -> int:
        """How many batches are being handed out or queued ahead."""
        return self.conn.execute("SELECT count(*) FROM rounds WHERE status IN "
                                 "('current', 'next')").fetchone()[0]

    def has_model(self) -> bool:
        """Whether this process holds a fitted model (else a ranking comes from the cold
        start)."""
        return self._engine is not None and self._engine.model is not None

    def prepare_next_batch(self, batches: int | None = 1, accuracy: bool = True) -> dict | None:
        """Queue the next batch(es) when fewer than :meth:`batches_wanted` are open: one
        :meth:`rank` (fit, then pick) and one :meth:`queue_ranked`, in this thread.

        One engine round on every label in force: fit (and "+ft" fine-tuning), then the strategy
        picks among the items neither labeled, skipped nor queued, seeing last round's model;
        with labels of fewer than 2 classes the cold-start strategy picks. It picks
        ``batch_size`` items per batch for ``batches`` batches (None: as many as are missing),
        in one selection, so no item is picked twice and a batch-aware strategy spreads the
        picks over all of them. Each batch is stored as a round ``status='next'`` (the first
        ``'current'`` when no batch is open) with what the engine did (``rounds.info``:
        strategy, cold start, pseudo-labels, label watermark) and each pick's strategy score
        (``queue.score``, "why this item"). The background worker instead ranks deeper in its
        own thread and queues from that ranking while the next model trains
        (:mod:`labelwise.app.worker`).

        Args:
            batches: at most this many batches (default 1; None: all that are missing).
            accuracy: compute the cross-validated accuracy (for the chart) after the commit.

        Returns:
            ``{"round", "rounds", "size", "strategy", "cv_accuracy", "train_seconds",
            "select_seconds", "n_labels", "cv_seconds", "cold_start", "pseudo_labels"}``
            (``round``: the first batch's round, ``size``: the items of all batches), or None
            when enough batches are open or the pool is exhausted.
        """
        ranking = self.rank(batches=batches)
        if ranking is None:
            return None
        out = self.queue_ranked(ranking, batches=batches, accuracy=accuracy)
        self.round_seconds += ranking.seconds
        return out

    def rank(self, depth: int | None = None, batches: int | None = 1,
             refit: bool = True) -> Ranking | None:
        """One engine round on a snapshot of the labels: fit (unless ``refit`` is False: the
        last good model ranks again), then the strategy ranks ``depth`` items among those
        neither labeled, skipped nor queued. Nothing is written; :meth:`queue_ranked` queues
        from the ranking.

        Args:
            depth: how many items to rank; None: ``batch_size`` per missing batch (at most
                ``batches`` of them), and None back when no batch is missing.
            refit: False ranks with the model at hand (the worker's fallback while a fit runs
                long or failed); the cold-start strategy when there is none.

        Raises:
            Exception: whatever the learner's fit raises (the engine keeps its last model).
        """
        conn = self.conn
        engine = self.engine()
        size = int(self.settings["batch_size"])
        conn.execute("BEGIN")  # a consistent snapshot of the labels and the queue
        try:
            missing = self.batches_missing()
            if depth is None:
                if missing == 0:
                    return None
                depth = size * (missing if batches is None else max(1, min(int(batches),
                                                                           missing)))
            if conn.execute("SELECT 1 FROM rounds WHERE status = 'current'").fetchone() is None \
                    and conn.execute("SELECT 1 FROM rounds").fetchone() is not None \
                    and self.queue.pool_left(conn) == 0:
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
        k = min(int(depth), len(candidates))
        seed = int(self.settings["random_state"]) + new_round
        pending = np.setdiff1d(in_queue, labeled_idx)  # queued, not labeled yet: covered
        t_round = time.perf_counter()
        lock = self._engine_mutex
        fit = None
        fitting = refit
        previous = self.last_ranking  # a fallback publishes only if no fit published since
        if refit:  # the fallback (refit=False) leaves the labels to the fitting thread
            with lock:  # the worker's fallback may rank from the last model while this fits
                self._restore_previous_model(engine, conn)
                engine.set_labels(labeled_idx, y)
                if not engine.can_fit():  # e.g. undos left one class: cold start
                    engine.fit_or_cold_start()  # forgets the models; the query below picks
                    refit = False
                    self._learned_watermark = int(watermark)
        if refit:
            fit = engine.fit()  # outside the lock: the last model stays usable meanwhile
        with lock:
            if fit is not None:
                self._learned_watermark = int(watermark)
            # the newest label the model step has taken in: a fallback ranks from its
            # snapshot's labels but learned none of them, so the labels given since the last
            # fit still ask for one (the worker reads this, not the snapshot's watermark)
            learned = self._learned_watermark
            picks = engine.query(k, candidates, random_state=seed, pending=pending)
            query = engine.last_query
            scores = engine.pick_scores()
            info = {"strategy": query.strategy, "cold_start": query.cold_start,
                    "fitted": fit is not None, "label_watermark": int(watermark),
                    "learned_watermark": learned,
                    "snapshot_at": snapshot_at,
                    "pseudo_labels": fit.pseudo_labels if fit is not None else None,
                    "cv_done": False}
            if fit is not None:
                info.update(self.round_stopping.observe(conn, engine, self.features, new_round))
            # which model ranked: this fit, the last good one (the fallback), or none (a cold
            # start: undos may have left one class after models existed); and whether it
            # started from the one before (warm start), for the model line
            if fit is not None:
                model_labels = len(y)
                warm = {"warm_from": fit.warm_from, "warm_note": fit.warm_note}
            elif query.cold_start:
                model_labels, warm = None, {"warm_from": None, "warm_note": None}
            else:
                model_labels, warm = self.model_summary()
        info["model_labels"] = model_labels
        info.update(warm)
        ranking = Ranking(items=picks, scores=scores, info=info, n_labels=len(y),
                          labeled_idx=labeled_idx, y=y,
                          train_seconds=fit.train_seconds if fit is not None else 0.0,
                          select_seconds=query.query_seconds, fitted=fit is not None,
                          seconds=time.perf_counter() - t_round)
        with lock:  # a fallback that ran beside a fit must not hide the fit's newer ranking
            if fitting or self.last_ranking is previous:
                self.last_ranking = ranking
        return ranking

    def newest_fitted_round(self) -> tuple[int, dict] | None:
        """``(n_labels, info)`` of the newest round a fitted model ranked, or None."""
        row = self.conn.execute("SELECT n_labels, info FROM rounds WHERE json_extract(info, "
                                "'$.fitted') ORDER BY round DESC LIMIT 1").fetchone()
        return None if row is None else (row[0], json.loads(row[1]))

    def model_summary(self) -> tuple[int | None, dict]:
        """``(labels of the newest fitted model that ranked a batch or None, {"warm_from": labels
        of the model it started from (None: from scratch), "warm_note": why a warm-start
        project's model fitted from scratch, or None})`` from one read of the newest fitted
        round."""
        row = self.newest_fitted_round()
        info = {} if row is None else row[1]
        labels = None if row is None else info.get("model_labels", row[0])
        return labels, {"warm_from": info.get("warm_from"), "warm_note": info.get("warm_note")}

    def model_labels(self) -> int | None:
        """The labels of the newest fitted model that ranked a batch (None: none yet)."""
        return self.model_summary()[0]

    def latest_ranking(self) -> Ranking | None:
        """The newest :meth:`rank` of this process (in memory), or None."""
        return self.last_ranking

    def queue_ranked(self, ranking: Ranking, batches: int | None = None,
                     accuracy: bool = False) -> dict | None:
        """Queue the missing batches (at most ``batches``; None: all) from ``ranking``, best
        first, skipping what was labeled, skipped, queued or handed out since it was ranked, so
        an item from a model one round old is never served twice. One short transaction.

        Returns:
            what :meth:`prepare_next_batch` returns, or None when no batch is missing or the
            ranking has no item left (``ranking.exhausted`` is then True).
        """
        conn = self.conn
        size = int(self.settings["batch_size"])
        t0 = time.perf_counter()
        if self.batches_missing() == 0:  # a read first: no write lock while idle
            return None
        with db.transaction(conn):
            missing = self.batches_missing()
            if batches is not None:
                missing = min(missing, max(1, int(batches)))
            if missing == 0:
                return None
            still = {r[0] for r in conn.execute(
                "SELECT item_idx FROM queue UNION SELECT item_idx FROM skips UNION "
                "SELECT item_idx FROM assignments UNION "
                "SELECT item_idx FROM labels WHERE undone_at IS NULL")}
            left = [j for j, i in enumerate(ranking.items) if int(i) not in still]
            keep = left[:missing * size]
            ranking.remaining = len(left) - len(keep)
            if not keep:
                ranking.exhausted = True
                return None
            first = (conn.execute("SELECT max(round) FROM rounds").fetchone()[0] or 0) + 1
            if ranking.group is None:
                ranking.group = first  # the batches of one ranking share its model and estimate
            info = {**ranking.info, "group": ranking.group}
            rounds = []
            for b, start in enumerate(range(0, len(keep), size)):
                rounds.append(first + b)
                conn.execute("INSERT INTO rounds (round, status, created, n_labels, strategy, "
                             "cv_accuracy, train_seconds, select_seconds, info) "
                             "VALUES (?, 'next', ?, ?, ?, NULL, ?, ?, ?)",
                             (first + b, time.time(), ranking.n_labels, info["strategy"],
                              ranking.train_seconds, ranking.select_seconds, json.dumps(info)))
                conn.executemany(
                    "INSERT INTO queue (round, position, item_idx, score) VALUES (?, ?, ?, ?)",
                    [(first + b, pos, int(ranking.items[j]),
                      None if np.isnan(ranking.scores[j]) else float(ranking.scores[j]))
                     for pos, j in enumerate(keep[start:start + size])])
            self.queue.advance(conn, time.time())
        # what batches_wanted covers: queueing from a ranking ready in memory is all the wait
        # (prepare_next_batch adds the fit and the selection it ran first)
        self.round_seconds = time.perf_counter() - t0
        t0 = time.perf_counter()
        cv = None
        if ranking.fitted and accuracy:  # the batches are served already; this feeds the chart
            cv = cross_validated_accuracy(self.engine().template,
                                          self.features[ranking.labeled_idx], ranking.y,
                                          random_state=int(self.settings["random_state"]))
            with db.transaction(conn):
                conn.executemany("UPDATE rounds SET cv_accuracy = ?, info = json_set(info, "
                                 "'$.cv_done', json('true')) WHERE round = ?",
                                 [(cv, r) for r in rounds])
        return {"round": first, "rounds": rounds, "size": len(keep), "strategy": info["strategy"],
                "cv_accuracy": cv, "train_seconds": ranking.train_seconds,
                "select_seconds": ranking.select_seconds, "n_labels": ranking.n_labels,
                "cv_seconds": time.perf_counter() - t0, "cold_start": info["cold_start"],
                "pseudo_labels": info["pseudo_labels"]}


    def stopping_status(self) -> dict | None:
        """The latest stopping advice for people (see :meth:`RoundStopping.status`)."""
        return self.round_stopping.status(self.conn)

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
        cv = cross_validated_accuracy(self.learner(), self.features[idx], y,
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
