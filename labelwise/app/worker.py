"""The background worker: retrains and queues the next batches while the annotators label.

Two daemon threads per server. The batch thread wakes when told (an item was served or labeled)
or every ``poll`` seconds and calls :meth:`Project.prepare_next_batch` until as many batches are
open as the active team needs (:meth:`Project.batches_wanted`); when several are missing at once
(a big team emptied them while the last round ran) one engine round picks them all, so the
worker's output grows with the team instead of falling behind. The accuracy thread computes the
cross-validated accuracy of the newest round for the chart (:meth:`Project.estimate_accuracy`)
on the side: it fits the learner once per fold, and before each fold it waits until no batch is
being prepared, so the estimate never delays a batch by more than one fold. Errors are
kept in ``last_error`` (shown by the page) instead of killing a thread.
"""

from __future__ import annotations

import threading
import time

from labelwise.app.project import Project


class BatchWorker:
    """Keeps enough batches prepared ahead for the annotators of ``project``.

    Args:
        project: the open project (its methods are thread-safe).
        poll: seconds between checks when nobody wakes the worker.
    """

    def __init__(self, project: Project, poll: float = 1.0):
        self.project = project
        self.poll = poll
        self.last_error: str | None = None
        self.last_result: dict | None = None
        self.last_estimate: dict | None = None
        self.busy = False
        self._wake = threading.Event()
        self._idle = threading.Event()  # set while the batch thread waits for work
        self._prepared = threading.Event()
        self._stop = threading.Event()
        self._threads = [
            threading.Thread(target=self._run, name="labelwise-worker", daemon=True),
            threading.Thread(target=self._run_accuracy, name="labelwise-accuracy", daemon=True),
        ]

    def start(self) -> BatchWorker:
        for t in self._threads:
            t.start()
        return self

    def wake(self) -> None:
        """Ask for a check now (an item was handed out or labeled)."""
        self._wake.set()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        self._wake.set()
        self._idle.set()
        self._prepared.set()
        for t in self._threads:
            t.join(timeout)

    def _run(self) -> None:
        warm = False
        while not self._stop.is_set():
            self._wake.clear()
            self._idle.clear()
            try:
                self.busy = True
                while not self._stop.is_set():
                    result = self.project.prepare_next_batch(batches=None, accuracy=False)
                    if result is None:
                        break
                    self.last_result = result
                    self._prepared.set()
                self.last_error = None
            except Exception as exc:  # keep serving; the page shows the problem
                self.last_error = f"{type(exc).__name__}: {exc}"
                time.sleep(self.poll)
            finally:
                self.busy = False
            if not warm:  # import the learner's libraries now, not when a batch is done
                warm = True
                try:
                    import sklearn.linear_model  # noqa: F401
                    import sklearn.model_selection  # noqa: F401
                except ImportError:
                    pass
                continue
            self._idle.set()
            self._wake.wait(self.poll)

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
