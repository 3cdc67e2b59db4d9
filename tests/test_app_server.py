"""The labeling server as a real process on 127.0.0.1: SIGKILL durability and parallel clients.

Each server is ``python -m labelwise.cli label PROJECT --port N`` bound to 127.0.0.1; every loop
here is bounded (attempt counts and deadlines).
"""

import os
import signal
import socket
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

httpx = pytest.importorskip("httpx")
pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")

from labelwise.app.create import create_project  # noqa: E402
from labelwise.app.project import Project  # noqa: E402


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
def project(tmp_path):
    rng = np.random.default_rng(0)
    X = np.r_[rng.normal(0, 1, (100, 3)), rng.normal(6, 1, (100, 3))]
    return create_project(tmp_path / "p", [f"i{i}" for i in range(200)], X, ["a", "b"],
                          batch_size=5)


def truth(idx):
    return "a" if idx < 100 else "b"


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
