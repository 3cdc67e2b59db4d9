"""The team's recent activity in the app: who was heard from, when items were served and labeled.

In memory only (one server process); the queue feeds it and the worker sizes its reserve of
batches from the rates it gives.
"""

from __future__ import annotations

import bisect
import threading
from collections import deque


class TeamActivity:
    """Who was heard from when, and when labels were given: in memory, since who is active now
    need not survive a restart (the pages are heard from again within a heartbeat)."""

    def __init__(self, keep: int = 10_000):
        self.seen: dict[str, float] = {}
        self.label_times: deque[float] = deque(maxlen=keep)
        self.served: dict[str, float] = {}  # annotator -> when their current item was served
        self.think: deque[float] = deque(maxlen=200)  # served -> labeled, seconds
        self.lock = threading.Lock()

    def serve(self, annotator: str, now: float) -> None:
        with self.lock:
            self.served[annotator] = now

    def saw(self, annotator: str, now: float) -> None:
        with self.lock:
            self.seen[annotator] = now

    def labeled(self, now: float, annotator: str | None = None) -> None:
        with self.lock:
            self.label_times.append(now)
            served = self.served.pop(annotator, None)
            if served is not None:
                self.think.append(now - served)

    def think_seconds(self) -> float | None:
        """The median time from serving an item to its label (the last 200), or None."""
        with self.lock:
            times = sorted(self.think)
        return times[len(times) // 2] if times else None

    def active(self, since: float) -> int:
        with self.lock:
            return sum(t > since for t in self.seen.values())

    def labels_since(self, since: float) -> int:
        with self.lock:
            return len(self.label_times) - bisect.bisect_right(self.label_times, since)
