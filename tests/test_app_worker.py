"""The background worker: batches ahead for the active team, the accuracy estimate on the side.

Real threads on small projects (two separable blobs, 3-d features); every wait is bounded.
"""

import time

import numpy as np

from labelwise.app.create import create_project
from labelwise.app.worker import BatchWorker

N = 60
SEEDS = (0, 1, 2, 57, 58, 59)


def truth(idx):
    return "a" if idx < N // 2 else "b"


def make(tmp_path, **kw):
    rng = np.random.default_rng(0)
    X = np.r_[rng.normal(0, 1, (N // 2, 3)), rng.normal(6, 1, (N // 2, 3))].astype(np.float32)
    return create_project(tmp_path / "p", [f"i{i}" for i in range(N)], X, ["a", "b"],
                          labels=[truth(i) if i in SEEDS else None for i in range(N)], **kw)


def wait_for(check, seconds=60.0):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.02)
    return False


def open_rounds(project):
    return {r["round"] for r in project.queue()}


def test_the_worker_keeps_a_batch_per_four_active_annotators_plus_one(tmp_path):
    p = make(tmp_path, batch_size=4)
    worker = BatchWorker(p, poll=0.05).start()
    try:
        assert wait_for(lambda: len(open_rounds(p)) == 2)  # nobody active: this one and the next
        for i in range(9):
            p.heartbeat(f"a{i}")
        worker.wake()
        assert wait_for(lambda: len(open_rounds(p)) == 4)  # ceil(9 / 4) + 1
        time.sleep(0.3)
        assert len(open_rounds(p)) == 4 and worker.last_error is None  # and no more
    finally:
        worker.stop()
    items = [r["item"] for r in p.queue()]
    assert len(items) == len(set(items)) == 16 and not set(items) & set(SEEDS)


def test_the_accuracy_thread_estimates_the_newest_round(tmp_path):
    p = make(tmp_path, batch_size=4)
    worker = BatchWorker(p, poll=0.05).start()
    try:
        assert wait_for(lambda: worker.last_estimate is not None)
    finally:
        worker.stop()
    assert not worker._threads[0].is_alive() and not worker._threads[1].is_alive()
    history = p.progress()["history"]
    assert worker.last_estimate["rounds"] == [history[-1]["round"]]
    assert history[-1]["cv_accuracy"] == 1.0  # separable blobs


def test_estimate_accuracy_fills_in_a_deferred_estimate_once(tmp_path):
    p = make(tmp_path, batch_size=4)
    for i in range(9):
        p.heartbeat(f"a{i}")
    out = p.prepare_next_batch(batches=None, accuracy=False)
    assert out["rounds"] == [2, 3, 4] and out["cv_accuracy"] is None
    # round 1 (made by create_project) has its estimate; the three picked together have none
    assert [h["cv_accuracy"] for h in p.progress()["history"]] == [1.0, None, None, None]
    est = p.estimate_accuracy()
    assert est["rounds"] == [2, 3, 4] and est["n_labels"] == 6 and est["cv_accuracy"] == 1.0
    assert [h["cv_accuracy"] for h in p.progress()["history"]] == [1.0, 1.0, 1.0, 1.0]
    assert p.estimate_accuracy() is None
