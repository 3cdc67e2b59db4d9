"""The background worker: nobody waits for a fit.

Three daemon threads per server:

- the **feeder** wakes when told (an item was served or labeled) or every ``poll`` seconds and
  queues the batches the active team needs (:meth:`Project.batches_wanted`) from the newest
  ranking in memory (:meth:`Project.queue_ranked`): a short transaction, no fit;
- the **fitter** trains the next model on every label in force and ranks the pool with it
  (:meth:`Project.rank`), deep enough to feed the team until the model after it is ready
  (:meth:`BatchWorker.depth`); it starts again as soon as new labels came in. While it trains,
  the batches come from the last model's ranking: an item may come from a model one round old,
  never twice (the queue holds an item once; labeled, skipped, queued and held items are left
  out when a batch is queued);
- the **accuracy** thread computes the cross-validated accuracy of the newest round for the
  chart (:meth:`Project.estimate_accuracy`), one fold at a time, each between two fits.

When the last model's ranking runs out while a fit is still running (or after it failed), the
feeder ranks again with the last good model (``rank(refit=False)``, a query without a fit). A
fit that raises or runs past :meth:`BatchWorker.fit_limit` is reported in ``model_state()`` (the
page, ``/api/progress``, and ``labelwise status`` through the project's ``model_state``
setting); labeling goes on from the last good model. Errors never kill a thread.
"""

from __future__ import annotations

import json
import math
import os
import threading
import time

from labelwise.app import db
from labelwise.app.project import Project

#: a fit running longer than this many times the last one (and at least FIT_LIMIT_MIN_S) is
#: reported as stuck
FIT_LIMIT_FACTOR = 5.0
FIT_LIMIT_MIN_S = 60.0
#: the ranking reaches this many fit-and-rank durations ahead at the team's label rate
AHEAD_ROUNDS = 3.0
#: after a fit of T seconds the next one waits FIT_PAUSE_FACTOR x T (unless the ranking runs
#: low), so fitting takes at most 1 / (1 + FIT_PAUSE_FACTOR) of a core and the requests keep one
FIT_PAUSE_FACTOR = 0.5
#: a server's first fit (no model in memory yet) that takes longer than this (seconds) lets
#: the cold-start strategy queue a batch meanwhile, once no batch is left open
FIRST_FIT_PATIENCE_S = 5.0


class BatchWorker:
    """Keeps enough batches queued for the annotators of ``project`` while models train.

    Args:
        project: the open project (its methods are thread-safe).
        poll: seconds between checks when nobody wakes the worker.
        fit_limit: seconds after which a running fit is reported as stuck (None:
            ``max(FIT_LIMIT_MIN_S, FIT_LIMIT_FACTOR x the last fit)``).
    """

    def __init__(self, project: Project, poll: float = 1.0, fit_limit: float | None = None):
        self.project = project
        self.poll = poll
        self._fit_limit = fit_limit
        self.last_error: str | None = None  # the last problem, for the page
        self.fit_error: str | None = None  # the last fit's failure, None after a good fit
        self.last_result: dict | None = None
        self.last_estimate: dict | None = None
        self.last_fit_seconds = 0.0
        self.fits = 0  # models fitted by this worker
        self.fitting_since: float | None = None  # monotonic time the running fit began
        self.fitting_labels: int | None = None
        self._retry_at = 0.0  # after a failed fit, the next try waits (monotonic time)
        self._fit_ended = 0.0  # when the last fit ended (monotonic time)
        self._wake = threading.Event()
        self._fit_wanted = threading.Event()
        self._idle = threading.Event()  # set while no fit runs (the accuracy folds wait for it)
        self._idle.set()
        self._prepared = threading.Event()
        self._stop = threading.Event()
        self._threads = [
            threading.Thread(target=self._run, name="labelwise-feeder", daemon=True),
            threading.Thread(target=self._run_fits, name="labelwise-fitter", daemon=True),
            threading.Thread(target=self._run_accuracy, name="labelwise-accuracy", daemon=True),
        ]

    @property
    def busy(self) -> bool:
        """Whether a model is being trained now."""
        return self.fitting_since is not None

    def start(self) -> BatchWorker:
        for t in self._threads:
            t.start()
        self._fit_wanted.set()
        return self

    def wake(self) -> None:
        """Ask for a check now (an item was handed out or labeled)."""
        self._wake.set()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        for e in (self._wake, self._fit_wanted, self._idle, self._prepared):
            e.set()
        for t in self._threads:
            t.join(timeout)

    # -- sizing --------------------------------------------------------------------------------
    def fit_limit(self) -> float:
        if self._fit_limit is not None:
            return self._fit_limit
        return max(FIT_LIMIT_MIN_S, FIT_LIMIT_FACTOR * self.last_fit_seconds)

    def depth(self) -> int:
        """How many items the next ranking orders: the batches the team needs now, plus what it
        labels in ``AHEAD_ROUNDS`` fit-and-rank durations (the last one's, at least 1 s) at the
        larger of its measured rate and the rate its think time allows."""
        p = self.project
        size = int(p.settings["batch_size"])
        ranking = p.latest_ranking()
        round_s = 1.0 + (ranking.train_seconds + ranking.select_seconds if ranking else 0.0)
        return size * p.batches_wanted() + math.ceil(AHEAD_ROUNDS * self._team_rate() * round_s)

    def _team_rate(self) -> float:
        """Labels per second: the larger of the team's measured rate and what its think time
        allows."""
        p = self.project
        return max(p.label_rate(), p.potential_rate())

    # -- state for people ----------------------------------------------------------------------
    def model_state(self) -> dict:
        """Which model ranked the items being handed out, which one trains, and any problem.

        ``{"ranked_by": labels of the model that ranked them (None: cold start), "warm_start":
        whether the project warm-starts, "warm_from": labels of the model that one started
        from (None: from scratch), "warm_note": why a warm-start project's model fitted from
        scratch (or None), "training": labels of the model in training or None,
        "expected_seconds", "running_seconds", "fits": models fitted by this server,
        "problem": one line or None, "message": one line for people}``.
        """
        p = self.project
        ranking = p.latest_ranking()
        if ranking is not None:
            ranked_by = ranking.info.get("model_labels")
            warm = {k: ranking.info.get(k) for k in ("warm_from", "warm_note")}
        else:  # restarted: the batches queued before
            ranked_by, warm = p.model_summary()
        warm_start = bool(p.settings["warm_start"])
        since = self.fitting_since
        running = time.monotonic() - since if since is not None else None
        problem = self.fit_error
        if running is not None and running > self.fit_limit():
            problem = (f"the fit on {self.fitting_labels} labels has run {running:.0f} s (the "
                       f"last took {self.last_fit_seconds:.0f} s); labeling goes on from the "
                       "last good model")
        training = self.fitting_labels if since else None
        return {"ranked_by": ranked_by, "warm_start": warm_start, **warm, "training": training,
                "expected_seconds": round(self.last_fit_seconds, 1),
                "running_seconds": None if running is None else round(running, 1),
                "fits": self.fits, "problem": problem,
                "message": model_message(ranked_by, training, self.last_fit_seconds, problem,
                                         warm_start=warm_start, **warm)}

    def _publish(self) -> None:
        """Store ``model_state()`` in the project's settings for ``labelwise status``."""
        state = {**self.model_state(), "pid": os.getpid(), "at": time.time()}
        conn = self.project.conn
        with db.transaction(conn):
            conn.execute("INSERT OR REPLACE INTO settings VALUES ('model_state', ?)",
                         (json.dumps(state),))

    # -- threads -------------------------------------------------------------------------------
    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.clear()
            try:
                self._feed()
                if self.fit_error is None:
                    self.last_error = None
            except Exception as exc:  # keep serving; the page shows the problem
                self.last_error = f"{type(exc).__name__}: {exc}"
            self._wake.wait(self.poll)

    def _feed(self) -> None:
        p = self.project
        ranking = p.latest_ranking()
        if ranking is None:  # the first fit of this process is on its way
            since = self.fitting_since
            if since is None or time.monotonic() - since < FIRST_FIT_PATIENCE_S \
                    or p.open_batches() > 0:  # the batches queued before still serve
                return
            # it takes long: the batches come from the cold-start strategy meanwhile
            ranking = self._rank_again()
            if ranking is None:
                return
        while not self._stop.is_set():
            out = p.queue_ranked(ranking, batches=None)
            if out is not None:
                self.last_result = out
                self._prepared.set()  # a new round for the chart's estimate
                continue
            if not ranking.exhausted:
                break  # enough batches are open
            # the ranking ran out: a fit runs long, failed, or the team outran the estimate;
            # the last good model ranks again (a query, no fit) while a new fit starts
            if not self.busy and time.monotonic() >= self._retry_at:
                self._fit_wanted.set()
            ranking = self._rank_again()
            if ranking is None:  # nothing missing, or the pool is exhausted
                return
        if not self.busy and time.monotonic() >= self._retry_at and \
                self._new_labels(ranking):
            self._fit_wanted.set()

    def _rank_again(self):
        """Rank without a fit, when batches are missing: the last good model ranks as deep as
        a fit would; without one the cold-start strategy picks only the missing batches (it may
        cluster the pool, e.g. TypiClust: its cost grows with the picks)."""
        p = self.project
        missing = p.batches_missing()
        if missing == 0:
            return None
        size = int(p.settings["batch_size"])
        depth = self.depth() if p.has_model() else size * missing
        return p.rank(depth=depth, refit=False)

    def _labels_in_force(self) -> int:
        return self.project.conn.execute(
            "SELECT count(DISTINCT item_idx) FROM labels WHERE undone_at IS NULL").fetchone()[0]

    def _new_labels(self, ranking) -> bool:
        """Whether labels were given since the last fit behind ``ranking`` (or there is none).
        A fallback ranking's snapshot holds labels its model never learned: those count."""
        if ranking is None:
            return True
        newest = self.project.conn.execute("SELECT coalesce(max(id), 0) FROM labels").fetchone()
        return newest[0] > ranking.info["learned_watermark"]

    def _run_fits(self) -> None:
        warm = False
        while not self._stop.is_set():
            self._fit_wanted.wait(self.poll)
            self._fit_wanted.clear()
            if self._stop.is_set():
                return
            ranking = self.project.latest_ranking()
            if not self._new_labels(ranking) and not ranking.exhausted:
                continue  # nothing new to learn from
            if time.monotonic() < self._retry_at or not self._fit_due(ranking):
                continue
            self.fitting_labels = self._labels_in_force()
            self.fitting_since = time.monotonic()
            self._idle.clear()
            try:
                self._publish()
                with _one_blas_thread():  # the other core answers the annotators
                    ranking = self.project.rank(depth=self.depth())
                if ranking is not None:
                    if ranking.fitted:
                        self.last_fit_seconds = ranking.train_seconds
                        self.fits += 1
                    self.fit_error = None
                self._retry_at = 0.0
            except Exception as exc:  # the last good model keeps ranking; the page says why
                self.fit_error = (f"the learner's fit on {self.fitting_labels} labels failed "
                                  f"({type(exc).__name__}: {exc}); labeling goes on from the "
                                  "last good model")
                self.last_error = self.fit_error
                self._retry_at = time.monotonic() + max(5.0, 10 * self.poll)
            finally:
                self._fit_ended = time.monotonic()
                self.fitting_since = None
                self.fitting_labels = None
                self._idle.set()
            try:
                self._publish()
            except Exception as exc:
                self.last_error = f"{type(exc).__name__}: {exc}"
            self._wake.set()  # queue from the new ranking now
            if not warm:  # import the chart's libraries now, not when a batch is done
                warm = True
                try:
                    import sklearn.model_selection  # noqa: F401
                except ImportError:
                    pass

    def _fit_due(self, ranking) -> bool:
        """Whether the next fit may start: no ranking yet, or the pause after the last fit is
        over, or the ranking would run out before a fit of the last one's length ends."""
        if ranking is None or ranking.exhausted or ranking.remaining is None:
            return True
        pause = FIT_PAUSE_FACTOR * self.last_fit_seconds
        if time.monotonic() - self._fit_ended >= pause:
            return True
        round_s = ranking.train_seconds + ranking.select_seconds
        return ranking.remaining < 1.5 * self._team_rate() * round_s

    def _run_accuracy(self) -> None:
        while not self._stop.is_set():
            self._prepared.wait()
            self._prepared.clear()
            if self._stop.is_set():
                return
            t0 = time.perf_counter()
            try:
                out = self.project.estimate_accuracy(before_fold=self._idle.wait)
            except Exception as exc:  # the chart misses a point; labeling goes on
                self.last_error = f"{type(exc).__name__}: {exc}"
                out = None
            if out is not None:
                self.last_estimate = out
                # at most a quarter of one core: a team's rounds come faster than their
                # estimates, and the chart needs no more than a point every few rounds
                self._stop.wait(3 * (time.perf_counter() - t0))


def _one_blas_thread():
    """Limit the BLAS libraries to one thread (threadpoolctl, when installed), else nothing."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        import contextlib

        return contextlib.nullcontext()
    return threadpool_limits(1)


def model_message(ranked_by: int | None, training: int | None, expected_s: float,
                  problem: str | None = None, warm_start: bool = False,
                  warm_from: int | None = None, warm_note: str | None = None) -> str:
    """One line for people: "model on 620 labels; the next one, on 680, is training, about
    12 s"; in a warm-start project "model on 620 labels (warm-started from the one on 560)"
    or, when it fitted from scratch, "model on 620 labels (fitted from scratch: <why>)"."""
    head = (f"model on {ranked_by} labels" if ranked_by is not None
            else "no model yet (cold-start picks)")
    if ranked_by is not None and warm_from is not None:
        head += f" (warm-started from the one on {warm_from})"
    elif ranked_by is not None and warm_start:
        head += f" (fitted from scratch: {warm_note or 'no previous model'})"
    if training is not None:
        head += f"; the next one, on {training} labels, is training"
        if expected_s >= 0.5:
            head += f", about {expected_s:.0f} s"
    if problem:
        head += f" ({problem})"
    return head
