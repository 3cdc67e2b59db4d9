"""The background worker: retrains and queues the next batch while the annotator labels.

One daemon thread per server. It wakes when told (a batch was finished) or every ``poll``
seconds, and calls :meth:`Project.prepare_next_batch` until a batch is prepared ahead or the pool
is exhausted. Errors are kept in ``last_error`` (shown by the page) instead of killing the thread.
"""

from __future__ import annotations

import threading
import time

from labelwise.app.project import Project


class BatchWorker:
    """Keeps one batch prepared ahead for ``project``.

    Args:
        project: the open project (its methods are thread-safe).
        poll: seconds between checks when nobody wakes the worker.
    """

    def __init__(self, project: Project, poll: float = 1.0):
        self.project = project
        self.poll = poll
        self.last_error: str | None = None
        self.last_result: dict | None = None
        self.busy = False
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="labelwise-worker", daemon=True)

    def start(self) -> BatchWorker:
        self._thread.start()
        return self

    def wake(self) -> None:
        """Ask for a check now (after a label closed a batch)."""
        self._wake.set()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        self._wake.set()
        self._thread.join(timeout)

    def _run(self) -> None:
        warm = False
        while not self._stop.is_set():
            self._wake.clear()
            try:
                self.busy = True
                while not self._stop.is_set():
                    result = self.project.prepare_next_batch()
                    if result is None:
                        break
                    self.last_result = result
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
            self._wake.wait(self.poll)
