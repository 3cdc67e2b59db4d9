"""The background worker: batches for the active team while the next model trains (nobody waits
for a fit, a fit that fails or hangs), the accuracy estimate on the side.

Real threads on small projects (two separable blobs, 3-d features); every wait is bounded.
"""

import threading
import time

import numpy as np
import pytest

from labelwise.app.create import create_project
from labelwise.app.project import Project
from labelwise.app.worker import BatchWorker
from labelwise.learners import LEARNERS, register_learner
from labelwise.learners.sklearn import LogisticRegressionLearner
from labelwise.testing import gaussian_blobs

N = 60
SEEDS = (0, 1, 2, 57, 58, 59)


def truth(idx):
    return "a" if idx < N // 2 else "b"


def make(tmp_path, **kw):
    X, _ = gaussian_blobs([[0] * 3, [6] * 3], N, labels="block", dtype=np.float32)
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


def test_labels_ranked_by_a_fallback_still_ask_for_a_fit(tmp_path):
    """A fallback ranking (the last model ranks again, no fit) snapshots labels its model never
    learned: the fitter must still train on them, not take the snapshot for a fit."""
    p = make(tmp_path, batch_size=4)
    worker = BatchWorker(p)  # not started: its checks are called by hand
    fitted = p.rank(depth=8)
    assert not worker._new_labels(fitted)
    assert not worker._new_labels(p.rank(depth=8, refit=False))  # no label since the fit
    idx = p.next_item("a0")["item"]["idx"]
    p.label(idx, truth(idx), "a0")
    fallback = p.rank(depth=8, refit=False)
    assert not fallback.fitted and fallback.info["label_watermark"] > \
        fitted.info["label_watermark"]
    assert worker._new_labels(fallback)  # the label is in its snapshot, not in its model
    assert worker._new_labels(p.rank(depth=8, refit=False))  # nor in the next fallback's
    assert not worker._new_labels(p.rank(depth=8))


def test_a_fallback_beside_a_fit_neither_hides_it_nor_asks_for_it_again(tmp_path, monkeypatch):
    """The feeder's fallback may start while the fitter ranks: it must not replace the fit's
    newer ranking, nor carry a watermark older than the fit's (a needless second fit)."""
    p = make(tmp_path, batch_size=4)
    worker = BatchWorker(p)
    p.rank(depth=8)
    idx = p.next_item("a0")["item"]["idx"]
    p.label(idx, truth(idx), "a0")
    engine = p.model_service.engine()
    query, querying = engine.query, threading.Event()

    def slow_query(*args, **kwargs):
        if threading.current_thread().name == "fitter":
            querying.set()
            time.sleep(0.5)  # the fallback below starts now and waits for the engine
        return query(*args, **kwargs)

    monkeypatch.setattr(engine, "query", slow_query)
    out = {}
    fitter = threading.Thread(target=lambda: out.update(fit=p.rank(depth=8)), name="fitter")
    fitter.start()
    assert querying.wait(30)
    fallback = p.rank(depth=8, refit=False)
    fitter.join(30)
    assert p.latest_ranking() is out["fit"] and fallback is not out["fit"]
    assert fallback.info["learned_watermark"] == out["fit"].info["learned_watermark"]
    assert not worker._new_labels(p.latest_ranking())


# -- nobody waits for a fit --------------------------------------------------------------------


class GatedLogreg(LogisticRegressionLearner):
    """Logistic regression whose fit waits at a gate (a fake slow fit the test controls), or
    raises while ``FAIL`` is set."""

    GATE = threading.Event()
    FAIL = threading.Event()
    fits = 0

    def _fit(self, X, y_idx):
        # count the model's fits only: the accuracy thread's cross-validation folds fit too
        if threading.current_thread().name != "labelwise-accuracy":
            type(self).fits += 1
        if self.FAIL.is_set():
            raise ValueError("the learner broke")
        assert self.GATE.wait(60), "the test never opened the gate"
        return super()._fit(X, y_idx)


@pytest.fixture
def gated():
    register_learner("test-gated", GatedLogreg, "logreg behind a gate (tests)")
    GatedLogreg.GATE.set()
    GatedLogreg.FAIL.clear()
    GatedLogreg.fits = 0
    yield GatedLogreg
    GatedLogreg.GATE.set()
    LEARNERS.pop("test-gated", None)


def make_big(tmp_path, n=400, **kw):
    rng = np.random.default_rng(0)
    y = np.arange(n) % 2
    X = (rng.normal(size=(n, 4)) + 1.5 * y[:, None]).astype(np.float32)  # overlapping classes
    seeds = set(range(10))
    project = create_project(tmp_path / "p", [f"i{i}" for i in range(n)], X, ["a", "b"],
                             labels=["ab"[y[i]] if i in seeds else None for i in range(n)],
                             learner="test-gated", **kw)
    return project, lambda idx: "ab"[y[idx]]


def label_some(project, truth_of, annotators, count, seen, worker=None):
    """Each of ``annotators`` asks for an item and labels it, ``count`` times in turn (waking
    ``worker`` as the server does); a "waiting" answer is asked again, as the page does, for up
    to 10 s (a loaded machine). Returns how many times an annotator got no item within those
    10 s (the gated fits hang for up to 60 s)."""
    stuck = 0
    for _ in range(count):
        for a in annotators:
            deadline = time.monotonic() + 10.0
            while (out := project.next_item(a))["item"] is None \
                    and time.monotonic() < deadline:
                if worker is not None:
                    worker.wake()
                time.sleep(0.02)
            if out["item"] is None:
                stuck += 1
                continue
            idx = out["item"]["idx"]
            assert idx not in seen, f"item {idx} handed out twice"
            seen.add(idx)
            project.label(idx, truth_of(idx), a)
            if worker is not None:
                worker.wake()
    return stuck


def test_annotators_get_items_while_a_slow_fit_runs(tmp_path, gated):
    p, truth_of = make_big(tmp_path, batch_size=4)
    worker = BatchWorker(p, poll=0.05).start()
    seen: set[int] = set()
    try:
        assert wait_for(lambda: p.latest_ranking() is not None and not worker.busy)
        gated.GATE.clear()  # every fit from now on hangs until the gate opens
        team = [f"a{i}" for i in range(4)]
        fits = gated.fits
        label_some(p, truth_of, team, 1, seen, worker)
        # the next model trains on the new labels: its fit is at the gate
        assert wait_for(lambda: worker.busy and gated.fits > fits)
        before = gated.fits
        stuck = label_some(p, truth_of, team, 25, seen, worker)  # 100 labels, 25 batches of 4
        assert worker.busy and gated.fits == before  # all while one fit hangs
        assert stuck == 0
        state = worker.model_state()
        assert state["training"] is not None and state["ranked_by"] == 10
        assert f"model on 10 labels; the next one, on {state['training']} labels, is " \
               "training" in state["message"]
        gated.GATE.set()
        assert wait_for(lambda: p.latest_ranking().n_labels > 10 and not worker.busy)
        label_some(p, truth_of, team, 5, seen, worker)
    finally:
        gated.GATE.set()
        worker.stop()
    items = [r[0] for r in p.conn.execute("SELECT item_idx FROM queue")]
    assert len(items) == len(set(items))
    # the items served while the fit hung came from the 10-label model, one round old or more
    old = p.conn.execute("SELECT count(*) FROM rounds WHERE n_labels = 10 OR "
                         "json_extract(info, '$.model_labels') = 10").fetchone()[0]
    assert old * 4 >= 100


def test_a_model_one_round_old_never_hands_out_an_item_twice(tmp_path, gated):
    """Two annotators per item would double the risk; here the queue is filled from a stale
    ranking while items it holds are labeled, held and skipped by others."""
    p, truth_of = make_big(tmp_path, batch_size=3)
    worker = BatchWorker(p, poll=0.02).start()
    try:
        assert wait_for(lambda: p.latest_ranking() is not None and not worker.busy)
        stale = p.latest_ranking()
        gated.GATE.clear()
        held = p.next_item("holder")["item"]["idx"]  # held, never labeled
        skipped = p.next_item("skipper")["item"]["idx"]
        p.skip(skipped, "skipper")
        seen = {held, skipped}
        label_some(p, truth_of, ["x", "y", "z"], 20, seen, worker)
        assert worker.busy  # the 10-label ranking (and its fallback) fed all of them
        assert p.latest_ranking() is stale or p.latest_ranking().info["model_labels"] == 10
        gated.GATE.set()
        assert wait_for(lambda: p.latest_ranking().n_labels > 10 and not worker.busy)
        label_some(p, truth_of, ["x", "y", "z"], 10, seen, worker)
    finally:
        gated.GATE.set()
        worker.stop()
    served = [r[0] for r in p.conn.execute("SELECT item_idx FROM labels")]
    assert len(served) == len(set(served)) and held not in served and skipped not in served


def test_a_fit_that_raises_is_reported_and_labeling_goes_on(tmp_path, gated):
    p, truth_of = make_big(tmp_path, batch_size=4)
    worker = BatchWorker(p, poll=0.02).start()
    try:
        assert wait_for(lambda: p.latest_ranking() is not None and not worker.busy)
        gated.FAIL.set()
        seen: set[int] = set()
        assert label_some(p, truth_of, ["a", "b"], 30, seen, worker) == 0
        assert wait_for(lambda: worker.model_state()["problem"] is not None)
        state = worker.model_state()
        assert "fit on" in state["problem"] and "failed (ValueError: the learner broke)" in \
            state["problem"] and "labeling goes on from the last good model" in state["problem"]
        assert state["ranked_by"] == 10
        assert Project(p.path).status()["model"]["problem"] == state["problem"]
        gated.FAIL.clear()  # mended: the next try trains again
        worker._retry_at = 0.0
        label_some(p, truth_of, ["a"], 1, seen, worker)
        assert wait_for(lambda: worker.model_state()["problem"] is None
                        and p.latest_ranking().info["model_labels"] > 10)
    finally:
        worker.stop()


def test_a_fit_that_never_ends_is_reported_and_labeling_goes_on(tmp_path, gated):
    p, truth_of = make_big(tmp_path, batch_size=4)
    worker = BatchWorker(p, poll=0.02, fit_limit=0.3).start()
    try:
        assert wait_for(lambda: p.latest_ranking() is not None and not worker.busy)
        gated.GATE.clear()  # never opened until the end
        seen: set[int] = set()
        assert label_some(p, truth_of, ["a", "b", "c"], 40, seen, worker) == 0  # 120 labels
        assert wait_for(lambda: worker.model_state()["problem"] is not None)
        problem = worker.model_state()["problem"]
        assert "has run" in problem and "labeling goes on from the last good model" in problem
    finally:
        gated.GATE.set()
        worker.stop()


def test_a_restarted_server_whose_first_fit_hangs_serves_cold_start_picks(tmp_path, gated,
                                                                            monkeypatch):
    import labelwise.app.worker as worker_module

    monkeypatch.setattr(worker_module, "FIRST_FIT_PATIENCE_S", 0.2)
    p, truth_of = make_big(tmp_path, batch_size=4)
    restarted = Project(p.path)  # no model in this process
    gated.GATE.clear()
    worker = BatchWorker(restarted, poll=0.02).start()
    seen: set[int] = set()
    try:
        assert label_some(restarted, truth_of, ["a", "b"], 20, seen, worker) == 0
        assert worker.busy and worker.fits == 0  # all 40 while the first fit hangs
        cold = restarted.conn.execute(
            "SELECT count(*) FROM rounds WHERE json_extract(info, '$.cold_start')").fetchone()[0]
        assert cold >= 1
    finally:
        gated.GATE.set()
        worker.stop()


# a server process whose learner's fit hangs while the file named by LABELWISE_TEST_GATE exists
SERVE_GATED = """
import os, sys, time
from labelwise.learners import register_learner
from labelwise.learners.sklearn import LogisticRegressionLearner

class Gated(LogisticRegressionLearner):
    def _fit(self, X, y_idx):
        while os.path.exists(os.environ["LABELWISE_TEST_GATE"]):
            time.sleep(0.05)
        return super()._fit(X, y_idx)

register_learner("test-gated", Gated, "logreg behind a gate file (tests)")
from labelwise.app.server import serve
serve(sys.argv[1], port=int(sys.argv[2]))
"""


@pytest.mark.slow
def test_kill_9_during_a_background_fit_loses_nothing(tmp_path, gated):
    import os
    import signal
    import socket
    import subprocess
    import sys

    httpx = pytest.importorskip("httpx")
    pytest.importorskip("uvicorn")
    p, truth_of = make_big(tmp_path, batch_size=4)
    gate = tmp_path / "gate"
    env = {**os.environ, "LABELWISE_TEST_GATE": str(gate), "PYTHONUNBUFFERED": "1"}

    def start():
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        proc = subprocess.Popen([sys.executable, "-c", SERVE_GATED, str(p.path), str(port)],
                                env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        url = f"http://127.0.0.1:{port}"
        assert wait_for(lambda: _healthy(httpx, url), 60)
        return proc, url

    proc, url = start()
    acked = []
    try:
        with httpx.Client(base_url=url, timeout=10) as c:
            assert wait_for(lambda: c.get("/api/progress").json()["model"]["fits"] >= 1)
            gate.touch()  # the next fit hangs
            for _ in range(60):  # bounded; "waiting" answers are retried
                item = c.get("/api/next", params={"annotator": "ann"}).json()["item"]
                if item is None:
                    time.sleep(0.05)
                    continue
                r = c.post("/api/label", json={"item": item["idx"], "annotator": "ann",
                                               "label": truth_of(item["idx"])})
                assert r.status_code == 200
                acked.append((item["idx"], truth_of(item["idx"])))
            model = c.get("/api/progress").json()["model"]
            assert model["training"] is not None  # killed during the background fit
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
    gate.unlink()
    assert len(acked) >= 40
    proc, url = start()
    try:
        labels = httpx.get(url + "/api/labels").json()
        got = [(r["item"], r["label"]) for r in labels if r["source"] == "app"]
        assert sorted(got) == sorted(acked)  # every acknowledged label, once
        queued = [q["item"] for q in httpx.get(url + "/api/queue").json()]
        assert len(queued) == len(set(queued))
        nxt = httpx.get(url + "/api/next", params={"annotator": "ann"}).json()["item"]
        assert nxt is not None and nxt["idx"] not in {i for i, _ in got}
    finally:
        proc.kill()
        proc.wait(10)


def _healthy(httpx, url) -> bool:
    try:
        return httpx.get(url + "/api/health", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


# -- warm start on the model line ----------------------------------------------------------------


def test_model_message_says_where_a_warm_started_model_started():
    from labelwise.app.worker import model_message

    assert model_message(620, 680, 12.0, warm_start=True, warm_from=560) == (
        "model on 620 labels (warm-started from the one on 560); the next one, on 680 labels, "
        "is training, about 12 s")
    assert model_message(20, None, 0.1, warm_start=True) == (
        "model on 20 labels (fitted from scratch: no previous model)")
    assert model_message(30, None, 0.1, warm_start=True, warm_note="the declared classes "
                         "changed") == "model on 30 labels (fitted from scratch: the declared "\
                                       "classes changed)"
    assert model_message(620, None, 0.1) == "model on 620 labels"  # no warm start: as before
    assert model_message(None, 6, 0.1, warm_start=True) == (
        "no model yet (cold-start picks); the next one, on 6 labels, is training")


def test_a_warm_start_project_says_which_model_each_one_started_from(tmp_path):
    p = make(tmp_path, batch_size=4, warm_start=True)
    worker = BatchWorker(p, poll=0.05).start()
    try:
        assert wait_for(lambda: worker.fits >= 1 and not worker.busy)
        first = worker.model_state()
        assert first["warm_start"] is True and first["warm_from"] is None
        assert first["message"].startswith("model on 6 labels (fitted from scratch: no previous "
                                           "model)")
        for _ in range(4):  # a batch: models on 7..10 labels, each from the one before
            item = p.next_item("ann")["item"]
            p.label(item["idx"], truth(item["idx"]), "ann")
            worker.wake()
        assert wait_for(lambda: worker.model_state()["ranked_by"] == 10 and not worker.busy)
        state = worker.model_state()
        assert 6 <= state["warm_from"] < 10 and state["warm_note"] is None
        line = f"model on 10 labels (warm-started from the one on {state['warm_from']})"
        assert state["message"].startswith(line)
    finally:
        worker.stop()

