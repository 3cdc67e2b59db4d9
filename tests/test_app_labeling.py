"""The queue's state machine with a team: leases, heartbeats, stragglers, batches ahead.

Time is a fake clock in ``labelwise.app.labeling`` (leases and who is active read it), so a lease
lapses without waiting. The projects are the two blobs of test_app.py (items < 30 are 'a').
"""

import threading
import types

import numpy as np
import pytest

from labelwise.app import labeling
from labelwise.app.create import create_project
from labelwise.app.project import Conflict
from labelwise.testing import gaussian_blobs

N = 60
SEEDS = (0, 1, 58, 59)  # data labels of both classes: round 1 is already a margin round


def truth(idx):
    return "a" if idx < N // 2 else "b"


def make(tmp_path, name="p", **kw):
    X, _ = gaussian_blobs(((0.0,) * 3, (6.0,) * 3), N, labels="block", dtype=np.float32)
    kw.setdefault("batch_size", 4)
    kw.setdefault("labels", [truth(i) if i in SEEDS else None for i in range(N)])
    return create_project(tmp_path / name, [f"i{i}" for i in range(N)], X, ["a", "b"], **kw)


@pytest.fixture
def clock(monkeypatch):
    """A settable clock for the labeling module: ``clock.t`` seconds."""
    fake = types.SimpleNamespace(t=1_000_000.0)
    fake.time = lambda: fake.t
    monkeypatch.setattr(labeling, "time", fake)
    return fake


def item_of(project, annotator):
    out = project.next_item(annotator)
    return None if out["item"] is None else out["item"]["idx"]


def open_rounds(project):
    return sorted({r["round"] for r in project.queue()})


# -- leases --------------------------------------------------------------------------------------
def test_a_straggler_does_not_hold_the_next_round_back(tmp_path, clock):
    p = make(tmp_path)
    assert p.settings["lease_seconds"] == 60.0  # the default
    idle = item_of(p, "idle")  # opened, then the annotator walks away
    for _ in range(3):
        idx = item_of(p, "busy")
        p.label(idx, truth(idx), "busy")
    # round 1 is labeled or leased: it closed, and the worker may prepare the next batches
    assert p.progress()["round"] is None and open_rounds(p) == []
    ahead = p.prepare_next_batch()
    assert ahead is not None and ahead["round"] == 2 and ahead["n_labels"] == 7
    # the straggler stays with its holder, and nobody else gets it
    assert {item_of(p, "busy"), item_of(p, "other")}.isdisjoint({idle})
    assert item_of(p, "idle") == idle
    p.label(idle, truth(idle), "idle")
    assert len(p.active_labels()) == 4 + 3 + 1 + 0


def test_one_annotator_closes_a_round_with_its_last_label(tmp_path):
    p = make(tmp_path)
    p.prepare_next_batch()
    for _ in range(3):
        idx = item_of(p, "solo")
        p.label(idx, truth(idx), "solo")
    last = item_of(p, "solo")
    # nobody else asks: the round stays open, so the next model waits for this label
    assert p.progress()["round"] == 1 and p.prepare_next_batch() is None
    p.label(last, truth(last), "solo")
    assert p.progress()["round"] == 2
    assert p.prepare_next_batch()["n_labels"] == 8


def test_a_lapsed_lease_frees_the_item_for_others(tmp_path, clock):
    p = make(tmp_path)
    first = item_of(p, "x")
    clock.t += 59.0
    assert item_of(p, "y") != first  # still x's
    clock.t += 2.0  # 61 s without a renewal: lapsed
    assert item_of(p, "z") == first  # the first free item of the batch again
    with pytest.raises(Conflict, match="assigned to z"):
        p.label(first, "a", "x")
    assert item_of(p, "x") not in (None, first)
    p.label(first, truth(first), "z")
    assert [r["annotator"] for r in p.active_labels() if r["item"] == first] == ["z"]


def test_a_lapsed_straggler_of_a_closed_round_is_served_first(tmp_path, clock):
    p = make(tmp_path)
    p.prepare_next_batch()  # round 2 prepared ahead
    held = item_of(p, "idle")
    for _ in range(3):
        idx = item_of(p, "busy")
        p.label(idx, truth(idx), "busy")
    assert p.progress()["round"] == 2  # round 1 closed with the straggler in it
    clock.t += 61.0
    assert item_of(p, "late") == held  # before any item of round 2


def test_a_lapsed_lease_nobody_took_still_lets_its_holder_label(tmp_path, clock):
    p = make(tmp_path)
    idx = item_of(p, "x")
    clock.t += 600.0
    p.label(idx, truth(idx), "x")
    assert p.active_labels()[-1]["annotator"] == "x"


def test_heartbeat_and_next_item_renew_the_lease(tmp_path, clock):
    p = make(tmp_path)
    idx = item_of(p, "x")
    clock.t += 50.0
    assert p.heartbeat("x") == {"held": [idx], "lease_seconds": 60.0}
    clock.t += 50.0  # 100 s since it was served, 50 s since the heartbeat
    assert item_of(p, "y") != idx
    clock.t += 50.0
    assert item_of(p, "x") == idx  # asking again renews it too
    clock.t += 50.0
    assert item_of(p, "z") != idx
    clock.t += 11.0  # 61 s since the last renewal
    assert item_of(p, "w") == idx
    assert p.heartbeat("x")["held"] == []  # the page learns it lost the item


# -- labels the app did not serve ----------------------------------------------------------------
def test_a_queued_item_never_served_is_refused(tmp_path):
    p = make(tmp_path)
    queued = [r["item"] for r in p.queue()]
    with pytest.raises(Conflict, match=f"item {queued[0]} was not served to x"):
        p.label(queued[0], "a", "x")
    served = item_of(p, "x")
    assert served == queued[0]
    with pytest.raises(Conflict, match=f"item {queued[1]} was not served to x"):
        p.label(queued[1], "a", "x")  # a later item of the same batch
    p.label(served, truth(served), "x")
    assert [r["item"] for r in p.active_labels()] == [*SEEDS, served]


def test_double_labeling_refuses_an_annotator_who_did_not_ask(tmp_path):
    p = make(tmp_path, labels_per_item=2)
    idx = item_of(p, "x")
    with pytest.raises(Conflict, match="assigned to x"):
        p.label(idx, "a", "y")  # room for a second label, but y was never given the item
    assert item_of(p, "y") == idx
    p.label(idx, "a", "y")


def test_the_api_answers_409_for_a_never_served_item_and_renews_by_heartbeat(tmp_path):
    pytest.importorskip("fastapi")
    from fastapi.testclient import TestClient

    from labelwise.app.server import create_app

    p = make(tmp_path)
    with TestClient(create_app(p, start_worker=False)) as c:
        queued = p.queue()[0]["item"]
        r = c.post("/api/label", json={"item": queued, "label": "a", "annotator": "me"})
        assert r.status_code == 409 and "was not served to me" in r.json()["error"]
        idx = c.get("/api/next", params={"annotator": "me"}).json()["item"]["idx"]
        assert c.post("/api/heartbeat", json={"annotator": "me"}).json() == {
            "held": [idx], "lease_seconds": 60.0}
        r = c.post("/api/label", json={"item": idx, "label": truth(idx), "annotator": "me"})
        assert r.status_code == 200


# -- batches ahead for the team ------------------------------------------------------------------
def test_batches_wanted_by_hand(tmp_path, clock):
    p = make(tmp_path)
    assert p.batches_wanted() == 2  # nobody yet counts as one annotator: 1/4 -> 1, + 1
    for a in "abcdefghi":
        p.heartbeat(a)
    assert p.active_annotators() == 9 and p.batches_wanted() == 4  # ceil(9/4) + 1
    for k in range(60):  # 60 labels in the last 30 s: 2 labels/s
        p.queue_service.activity.labeled(clock.t - 29 + k * 0.4)
    p.model_service.round_seconds = 1.5  # each round makes the team wait 2 * 2 * 1.5 = 6 more items
    assert p.label_rate() == 2.0 and p.batches_wanted() == 5  # ceil((9 + 6) / 4) + 1
    clock.t += 61.0
    assert p.active_annotators() == 0 and p.label_rate() == 0.0 and p.batches_wanted() == 2


def test_the_rate_the_think_time_allows_by_hand(tmp_path, clock):
    p = make(tmp_path)
    assert p.potential_rate() == 0.0  # no label yet
    for k, a in enumerate("abcd"):  # each takes 1, 2, 3 and 4 s from serving to labeling
        idx = item_of(p, a)
        clock.t += k + 1
        p.label(idx, truth(idx), a)
        clock.t -= k + 1
    # 4 annotators active; median think time: the 3rd of 4 sorted times, 3 s
    assert p.queue_service.activity.think_seconds() == 3.0
    assert p.potential_rate() == pytest.approx(4 / 3.0)
    clock.t += 65.0  # everyone gone (last heard 4 s after the start): nobody to label
    assert p.potential_rate() == 0.0


def test_the_worker_ranks_ahead_by_the_rate_and_the_fit_time(tmp_path, clock):
    from labelwise.app.model_step import Ranking
    from labelwise.app.worker import BatchWorker

    p = make(tmp_path)  # batch size 4
    worker = BatchWorker(p)
    for a in "abcdefghi":
        p.heartbeat(a)  # 9 active: ceil(9 / 4) + 1 = 4 batches wanted now
    p.model_service.round_seconds = 0.0
    assert worker.depth() == 16 + 0  # no rate measured, no model yet
    for k in range(60):  # 2 labels/s over the last 30 s
        p.queue_service.activity.labeled(clock.t - 29 + k * 0.4)
    assert p.batches_wanted() == 4
    assert worker.depth() == 16 + 6  # 3 rounds of 1 s at 2 labels/s
    p.model_service.last_ranking = Ranking(
        np.arange(5), np.zeros(5), {"model_labels": 8}, 8, np.arange(8), np.array(["a"] * 8),
        train_seconds=10.0, select_seconds=1.0, fitted=True, seconds=11.0)
    assert worker.depth() == 16 + 3 * 2 * (1 + 11)  # 3 fit-and-rank durations at 2/s


def test_many_annotators_get_several_batches_from_one_round(tmp_path, clock):
    p = make(tmp_path)
    names = [f"a{i}" for i in range(10)]
    got = {a: item_of(p, a) for a in names}
    assert sum(v is not None for v in got.values()) == 4  # round 1: closed once handed out
    assert p.next_item("a9")["state"] == "waiting"
    out = p.prepare_next_batch(batches=None)  # what the worker asks: all that are missing
    assert out["rounds"] == [2, 3, 4, 5] and out["size"] == 16  # ceil(10 / 4) + 1 open
    assert p.prepare_next_batch(batches=None) is None
    history = p.progress()["history"]
    assert {h["n_labels"] for h in history[1:]} == {4} and len(history) == 5
    queued = [r["item"] for r in p.queue()]
    assert len(queued) == len(set(queued)) == 16
    served = {v for v in got.values() if v is not None}
    assert not set(queued) & served and not set(queued) & set(SEEDS)
    for a in names:
        if got[a] is None:
            got[a] = item_of(p, a)
    assert None not in got.values() and len(set(got.values())) == 10  # one item each


def test_a_team_with_an_idle_member_and_the_worker_loses_no_label(tmp_path):
    from labelwise.app.worker import BatchWorker

    p = make(tmp_path, "team", batch_size=3)
    worker = BatchWorker(p, poll=0.05).start()
    idle = item_of(p, "idle")
    acked = {f"a{i}": [] for i in range(5)}
    errors = []

    def annotate(name):
        try:
            for _ in range(2000):  # bounded
                if sum(map(len, acked.values())) >= 40:
                    return
                idx = item_of(p, name)
                if idx is None:
                    worker.wake()
                    threading.Event().wait(0.01)
                    continue
                p.label(idx, truth(idx), name)
                acked[name].append(idx)
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=annotate, args=(a,)) for a in acked]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
    finally:
        worker.stop()
    assert not errors and worker.last_error is None
    done = [i for v in acked.values() for i in v]
    assert len(done) >= 40 and len(set(done)) == len(done) and idle not in done
    by_item = {r["item"]: r["annotator"] for r in p.active_labels() if r["annotator"] != "data"}
    assert by_item == {i: a for a, v in acked.items() for i in v}
    assert item_of(p, "idle") == idle  # still theirs


def _alone(tmp_path, **kw):
    """The project's database and settings as a service gets them, without a Project."""
    import json

    from labelwise.app import db
    from labelwise.app.project import DB_NAME, SETTING_DEFAULTS

    make(tmp_path, **kw).close()
    conn = db.connect(tmp_path / "p" / DB_NAME)
    settings = {**SETTING_DEFAULTS, **{k: json.loads(v) for k, v in
                                       conn.execute("SELECT key, value FROM settings")}}
    return conn, settings


def test_the_queue_works_alone_on_a_connection_and_settings(tmp_path):
    conn, settings = _alone(tmp_path)
    queue = labeling.Queue(lambda: conn, settings)
    first = queue.batches()
    assert [b["status"] for b in first] == ["current"] * 4  # create_project queued one batch
    got = queue.next_item("ann")
    assert set(got) == {"item", "state"} and got["state"] == "labeling"  # no project: no progress
    idx = got["item"]["idx"]
    assert idx == first[0]["item"] and queue.heartbeat("ann")["held"] == [idx]
    queue.label(idx, truth(idx), "ann")
    p = queue.progress("ann")
    # 4 seed labels + this one; 1 of the batch of 4 done
    assert (p["n_labels"], p["mine"], p["batch_size"], p["batch_done"]) == (5, 1, 4, 1)
    assert queue.pool_left(conn) == N - 4 - 4  # neither labeled nor queued
    with pytest.raises(Conflict):
        queue.label(idx, truth(idx), "ann")
