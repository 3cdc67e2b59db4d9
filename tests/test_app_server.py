"""The labeling server: access with annotator accounts and the item payload (in-process test
client), and as a real process on 127.0.0.1: SIGKILL durability and parallel clients.

Each real server is ``python -m labelwise.cli label PROJECT --port N`` bound to 127.0.0.1; every
loop here is bounded (attempt counts and deadlines).
"""

import os
import signal
import socket
import subprocess
import sys
import threading
import time

import pytest

httpx = pytest.importorskip("httpx")
pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")

from fastapi.testclient import TestClient  # noqa: E402

from labelwise.app.annotators import add_annotator, remove_annotator  # noqa: E402
from labelwise.app.assist import why_picked  # noqa: E402
from labelwise.app.create import create_project  # noqa: E402
from labelwise.app.project import Project  # noqa: E402
from labelwise.app.server import create_app  # noqa: E402


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(project, port):
    proc = subprocess.Popen(
        [sys.executable, "-m", "labelwise.cli", "label", str(project), "--port", str(port)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"})
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited: {proc.stdout.read()}")
        try:
            if httpx.get(url + "/api/health", timeout=1).status_code == 200:
                return proc, url
        except httpx.HTTPError:
            time.sleep(0.2)
    proc.kill()
    raise RuntimeError("server did not start within 60 s")


def stop(proc):
    if proc.poll() is None:
        proc.kill()
    proc.wait(10)


@pytest.fixture
def project(tmp_path, make_blobs):
    X, _ = make_blobs(((0.0,) * 3, (6.0,) * 3), 200, labels="block")
    return create_project(tmp_path / "p", [f"i{i}" for i in range(200)], X, ["a", "b"],
                          batch_size=5)


def truth(idx):
    return "a" if idx < 100 else "b"


def with_token(token):
    return {"X-Labelwise-Token": token}


def test_accounts_demand_a_personal_token_on_the_api_only(project):
    alice = add_annotator(project, "alice")
    with TestClient(create_app(project, token="shared", start_worker=False)) as c:
        for url in ("/api/config", "/api/next", "/api/progress", "/api/labels", "/api/queue",
                    "/api/items/0/content"):
            assert c.get(url).status_code == 401, url
            assert c.get(url, headers=with_token("wrong")).status_code == 401, url
            assert c.get(url, headers=with_token(alice)).status_code == 200, url
        assert c.post("/api/undo", json={}).status_code == 401
        r = c.get("/api/config", headers=with_token("shared"))  # the shared token no longer
        assert r.status_code == 403 and "personal link" in r.json()["error"]
        for url in ("/", "/static/app.js", "/static/style.css", "/api/health"):
            assert c.get(url).status_code == 200, url  # no data in them: no token needed
        assert c.get("/static/secret.py").status_code == 404
        assert c.get(f"/api/config?token={alice}").json()["account"] == "alice"
        assert c.get("/api/config", headers={"Authorization": f"Bearer {alice}"}).json()[
            "account"] == "alice"
        bob = add_annotator(project, "bob")  # added while serving: counts at once
        assert c.get("/api/config", headers=with_token(bob)).json()["account"] == "bob"
        remove_annotator(project, "alice")  # removed while serving: the link is dead at once
        assert c.get("/api/config", headers=with_token(alice)).status_code == 401
        remove_annotator(project, "bob")  # no account left: the shared token applies again
        assert c.get("/api/config", headers=with_token("shared")).status_code == 200
        assert c.get("/api/config").status_code == 401


def test_actions_are_attributed_to_the_token_not_the_name_sent(project):
    alice, bob = add_annotator(project, "alice"), add_annotator(project, "bob")
    with TestClient(create_app(project, start_worker=False)) as c:
        out = c.get("/api/next?annotator=bob", headers=with_token(alice)).json()
        first = out["item"]["idx"]
        r = c.post("/api/label", headers=with_token(alice),
                   json={"item": first, "label": truth(first), "annotator": "bob"})
        assert r.status_code == 200 and r.json()["annotator"] == "alice"
        second = c.get("/api/next", headers=with_token(bob)).json()["item"]["idx"]
        assert second != first  # alice's next item is not handed to bob either
        r = c.post("/api/skip", headers=with_token(bob), json={"item": second,
                                                               "annotator": "alice"})
        assert r.status_code == 200
        assert project.conn.execute("SELECT annotator FROM skips").fetchall() == [("bob",)]
        # bob cannot undo alice's label, whatever name he sends: he has none of his own
        for body in ({}, {"annotator": "alice"}):
            r = c.post("/api/undo", headers=with_token(bob), json=body)
            assert r.status_code == 409
        assert [(r["item"], r["annotator"]) for r in project.active_labels()] == \
            [(first, "alice")]
        assert c.get("/api/progress?annotator=bob", headers=with_token(alice)).json()[
            "mine"] == 1
        r = c.post("/api/undo", headers=with_token(alice), json={"annotator": "bob"})
        assert r.status_code == 200 and r.json()["item"] == first
        assert project.active_labels() == []


def test_loopback_without_accounts_trusts_the_name_sent(project):
    with TestClient(create_app(project, start_worker=False)) as c:
        assert c.get("/api/config").json()["account"] is None
        idx = c.get("/api/next?annotator=zoe").json()["item"]["idx"]
        r = c.post("/api/label", json={"item": idx, "label": "a", "annotator": "zoe"})
        assert r.json()["annotator"] == "zoe"


def test_next_item_carries_the_suggestion_and_why(tmp_path, make_blobs):
    X, _ = make_blobs(((0.0,) * 3, (6.0,) * 3), 40, labels="block")
    labels = ["a", "a", "a"] + [None] * 34 + ["b", "b", "b"]
    p = create_project(tmp_path / "s", [f"i{i}" for i in range(40)], X, ["a", "b"],
                       labels=labels, batch_size=4)
    restarted = Project(p.path)
    with TestClient(create_app(restarted, start_worker=False)) as c:
        item = c.get("/api/next").json()["item"]  # just restarted: no model in memory yet
        assert item["suggestion"] is None and item["picked_by"] == "margin"
        assert item["why"] == why_picked("margin", False, item["score"])
        assert item["why"].startswith("the model was unsure: its two most likely classes were")
        restarted.prepare_next_batch()  # the worker's round trains the model
        item = c.get("/api/next").json()["item"]
        probs = item["probabilities"]
        assert set(probs) == {"a", "b"} and sum(probs.values()) == pytest.approx(1)
        best = max(probs, key=probs.get)
        assert item["suggestion"] == {"label": best, "probability": probs[best]}
        assert item["why"] == why_picked("margin", False, item["score"], probs)
    cold = create_project(tmp_path / "c", [f"i{i}" for i in range(40)], X, ["a", "b"],
                          batch_size=4)
    with TestClient(create_app(cold, start_worker=False)) as c:
        out = c.get("/api/next").json()
        assert out["item"]["suggestion"] is None and out["item"]["cold_start"] is True
        assert out["item"]["why"] == "typical of a dense region not yet labeled (to get started)"
        assert out["worker_busy"] is False


def test_the_page_reads_which_model_a_warm_started_one_started_from(tmp_path, make_blobs):
    X, _ = make_blobs(((0.0,) * 3, (6.0,) * 3), 40, labels="block")
    labels = ["a", "a", "a"] + [None] * 34 + ["b", "b", "b"]
    p = create_project(tmp_path / "w", [f"i{i}" for i in range(40)], X, ["a", "b"],
                       labels=labels, batch_size=4, warm_start=True)
    with TestClient(create_app(p, start_worker=False)) as c:
        p.prepare_next_batch()  # the worker's round: this process's first model
        model = c.get("/api/progress").json()["model"]
        assert model["warm_start"] is True and model["warm_from"] is None
        assert model["message"] == "model on 6 labels (fitted from scratch: no previous model)"
        for _ in range(4):
            idx = c.get("/api/next?annotator=zoe").json()["item"]["idx"]
            c.post("/api/label", json={"item": idx, "label": "a" if idx < 20 else "b",
                                       "annotator": "zoe"})
        p.prepare_next_batch()  # the next model starts from the one on 6 labels
        model = c.get("/api/next?annotator=zoe").json()["model"]
        assert model["warm_from"] == 6
        assert model["message"] == "model on 10 labels (warm-started from the one on 6)"
        assert "model.warm_start" in c.get("/static/app.js").text  # the line's tooltip


@pytest.mark.slow
def test_sigkill_loses_no_acknowledged_label(project):
    proc, url = start_server(project.path, free_port())
    acked, stop_flag = [], threading.Event()

    def annotate():
        with httpx.Client(base_url=url, timeout=10) as c:
            for _ in range(400):  # bounded
                if stop_flag.is_set():
                    return
                try:
                    item = c.get("/api/next", params={"annotator": "ann"}).json()["item"]
                    if item is None:
                        time.sleep(0.05)
                        continue
                    r = c.post("/api/label", json={"item": item["idx"],
                                                   "label": truth(item["idx"]),
                                                   "annotator": "ann"})
                except httpx.HTTPError:
                    return  # the server died mid-request: that label was never acknowledged
                if r.status_code == 200:
                    acked.append((item["idx"], truth(item["idx"])))

    t = threading.Thread(target=annotate)
    t.start()
    deadline = time.monotonic() + 60
    while len(acked) < 25 and time.monotonic() < deadline and t.is_alive():
        time.sleep(0.01)
    os.kill(proc.pid, signal.SIGKILL)  # while the client is labeling
    proc.wait(10)
    stop_flag.set()
    t.join(20)
    assert len(acked) >= 25
    before = Project(project.path)
    queue = before.queue()
    proc, url = start_server(project.path, free_port())
    try:
        labels = httpx.get(url + "/api/labels").json()
        got = [(r["item"], r["label"]) for r in labels]
        assert set(acked) <= set(got)  # every acknowledged label is there
        assert len(got) == len({i for i, _ in got})  # and none twice
        assert len(got) - len(acked) <= 1  # at most the one in flight at the kill
        assert httpx.get(url + "/api/queue").json()[: len(queue)] == queue  # the same queue
        nxt = httpx.get(url + "/api/next", params={"annotator": "ann"}).json()["item"]
        assert nxt is None or nxt["idx"] not in {i for i, _ in got}
    finally:
        stop(proc)


@pytest.mark.slow
def test_two_parallel_http_clients_share_the_work(project):
    proc, url = start_server(project.path, free_port())
    served = {"x": [], "y": []}
    statuses = []

    def annotate(name):
        with httpx.Client(base_url=url, timeout=20) as c:
            for _ in range(300):  # bounded
                if sum(map(len, served.values())) >= 30:
                    return
                out = c.get("/api/next", params={"annotator": name}).json()
                if out["item"] is None:
                    time.sleep(0.05)
                    continue
                idx = out["item"]["idx"]
                served[name].append(idx)
                r = c.post("/api/label", json={"item": idx, "label": truth(idx),
                                               "annotator": name})
                statuses.append(r.status_code)

    try:
        threads = [threading.Thread(target=annotate, args=(n,)) for n in served]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        assert served["x"] and served["y"]
        assert not set(served["x"]) & set(served["y"])  # never the same item
        assert set(statuses) == {200}
        labels = httpx.get(url + "/api/labels").json()
        assert len(labels) == len(statuses)  # nothing lost
        assert len({r["item"] for r in labels}) == len(labels)  # nothing overwritten
        by = {r["item"]: r["annotator"] for r in labels}
        assert all(by[i] == n for n in served for i in served[n])
    finally:
        stop(proc)
