"""The labeling app as a library and through its HTTP API (in-process test client).

Servers here never bind a socket: FastAPI's TestClient calls the app directly. The subprocess
tests (SIGKILL durability, parallel HTTP clients) are in test_app_server.py.
"""

import json
import os
import threading

import numpy as np
import pytest

pytest.importorskip("fastapi")
pytest.importorskip("httpx")

from fastapi.testclient import TestClient  # noqa: E402

from labelwise.app.create import create_project, init_project  # noqa: E402
from labelwise.app.db import connect  # noqa: E402
from labelwise.app.model_step import cross_validated_accuracy  # noqa: E402
from labelwise.app.project import DB_NAME, Conflict, ItemNotFound, Project  # noqa: E402
from labelwise.app.server import create_app, is_loopback, resolve_token  # noqa: E402
from labelwise.testing import gaussian_blobs  # noqa: E402
from labelwise.validation import LabelwiseError  # noqa: E402


def blobs(n=60, seed=0):
    """Two well separated Gaussian blobs: items < n/2 are 'a', the rest 'b'."""
    return gaussian_blobs(((0.0,) * 3, (6.0,) * 3), n, labels="block", seed=seed,
                          dtype=np.float32)[0]


def truth(idx, n=60):
    return "a" if idx < n // 2 else "b"


def make(tmp_path, name="p", **kw):
    kw.setdefault("batch_size", 4)
    n = kw.pop("n", 60)
    return create_project(tmp_path / name, [f"i{i}" for i in range(n)], blobs(n), ["a", "b"], **kw)


def label_batch(project, annotator="ann", n=60):
    """Label every open item the project serves right now; returns the items labeled."""
    done = []
    while True:
        out = project.next_item(annotator)
        if out["item"] is None:
            return done
        idx = out["item"]["idx"]
        project.label(idx, truth(idx, n), annotator)
        done.append(idx)


# -- the project as a library --------------------------------------------------------------------
def test_create_queues_a_typiclust_first_batch_deterministically(tmp_path):
    p1, p2 = make(tmp_path, "p1"), make(tmp_path, "p2")
    q1 = p1.queue()
    assert [r["item"] for r in q1] == [r["item"] for r in p2.queue()]
    assert len(q1) == 4 and {r["round"] for r in q1} == {1} and q1[0]["status"] == "current"
    # no labels yet: the cold-start strategy picks, from the embeddings alone
    assert p1.progress()["history"][0]["strategy"] == "typiclust"
    with connect(p1.path / DB_NAME) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_batches_are_prepared_ahead_from_the_previous_rounds_model(tmp_path):
    p = make(tmp_path, labels=[truth(i) if i in (0, 1, 58, 59) else None for i in range(60)])
    # the 4 data labels make round 1 a margin round; prepare round 2 while round 1 is open
    assert p.progress()["history"][0]["strategy"] == "margin"
    ahead = p.prepare_next_batch()
    assert ahead["round"] == 2 and ahead["n_labels"] == 4 and ahead["size"] == 4
    assert p.prepare_next_batch() is None  # one batch ahead is enough
    first = label_batch(p)
    # round 1 done -> round 2 was already queued, so the annotator kept labeling without waiting
    assert len(first) == 8
    assert [h["round"] for h in p.progress()["history"]] == [1, 2]
    assert p.next_item("ann")["state"] == "waiting"
    third = p.prepare_next_batch()
    assert third["round"] == 3 and third["n_labels"] == 12 and third["strategy"] == "margin"
    # picks are never labeled, queued twice or skipped
    items = [r["item"] for r in p.queue()]
    assert len(set(items)) == len(items) and not set(items) & set(first)
    assert third["cv_accuracy"] == 1.0  # separable blobs


def test_label_counts_and_batch_position(tmp_path):
    p = make(tmp_path)
    out = p.next_item("ann")
    assert out["state"] == "labeling" and out["item"]["position"] == 1
    assert out["item"]["batch_size"] == 4
    assert p.next_item("ann")["item"]["idx"] == out["item"]["idx"]  # held until labeled
    p.label(out["item"]["idx"], "a", "ann")
    prog = p.progress("ann")
    assert (prog["n_labels"], prog["batch_done"], prog["batch_size"], prog["mine"]) == (1, 1, 4, 1)
    assert p.next_item("ann")["item"]["position"] == 2


def test_bad_labels_are_rejected_with_a_reason(tmp_path):
    p = make(tmp_path)
    idx = p.next_item("ann")["item"]["idx"]
    with pytest.raises(LabelwiseError, match="unknown class 'c'; classes are: a, b"):
        p.label(idx, "c", "ann")
    with pytest.raises(ItemNotFound, match="unknown item 60"):
        p.label(60, "a", "ann")
    not_queued = next(i for i in range(60) if i not in {r["item"] for r in p.queue()})
    with pytest.raises(Conflict, match="not in the query queue"):
        p.label(not_queued, "a", "ann")
    p.label(idx, "a", "ann")
    with pytest.raises(Conflict, match="already labeled"):
        p.label(idx, "b", "ann")
    with pytest.raises(Conflict, match="already labeled"):
        p.label(idx, "b", "other")
    assert [r["label"] for r in p.active_labels()] == ["a"]  # nothing overwritten


def test_undo_withdraws_the_last_label_and_serves_the_item_again(tmp_path):
    p = make(tmp_path)
    with pytest.raises(Conflict, match="no label to undo"):
        p.undo("ann")
    first = label_batch(p)
    assert len(first) == 4
    out = p.undo("ann")
    assert out["item"] == first[-1]
    assert len(p.active_labels()) == 3
    assert p.next_item("ann")["item"]["idx"] == first[-1]  # even though round 1 closed
    with pytest.raises(Conflict, match="assigned to ann"):
        p.label(first[-1], "a", "other")
    p.label(first[-1], "b", "ann")
    labs = {r["item"]: r["label"] for r in p.active_labels()}
    assert labs[first[-1]] == "b" and len(labs) == 4


def test_skip_takes_the_item_out_for_good(tmp_path):
    p = make(tmp_path, labels=[truth(i) if i in (0, 59) else None for i in range(60)])
    idx = p.next_item("ann")["item"]["idx"]
    p.skip(idx, "ann")
    with pytest.raises(Conflict, match="skipped"):
        p.label(idx, "a", "ann")
    label_batch(p)
    for _ in range(3):
        p.prepare_next_batch()
        label_batch(p)
    assert idx not in {r["item"] for r in p.active_labels()}
    assert p.status()["skipped"] == 1


def test_two_annotators_never_get_the_same_item_and_lose_no_label(tmp_path):
    p = make(tmp_path, batch_size=6)
    p.prepare_next_batch()
    served = {"x": [], "y": []}
    errors = []
    barrier = threading.Barrier(2)

    def work(name):
        barrier.wait()
        try:
            while True:
                out = p.next_item(name)
                if out["item"] is None:
                    return
                idx = out["item"]["idx"]
                served[name].append(idx)
                p.label(idx, truth(idx), name)
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in served]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors
    assert not set(served["x"]) & set(served["y"])
    labels = p.active_labels()
    assert len(labels) == len(served["x"]) + len(served["y"]) == 12
    assert len({r["item"] for r in labels}) == 12


def test_double_labeling_gives_each_item_to_two_annotators(tmp_path):
    p = make(tmp_path, labels_per_item=2)
    a = p.next_item("x")["item"]["idx"]
    assert p.next_item("y")["item"]["idx"] == a  # room for a second annotator
    assert p.next_item("z")["item"]["idx"] != a  # but not a third
    p.label(a, "a", "x")
    p.label(a, "b", "y")
    with pytest.raises(Conflict, match="already labeled"):
        p.label(a, "a", "z")
    assert p.progress()["n_labels"] == 2 and p.progress()["n_labeled_items"] == 1
    idx, y = p.labeled_arrays()
    assert idx.tolist() == [a] and y.tolist() == ["a"]  # tie -> the earliest label


def test_restart_resumes_the_same_queue_and_labels(tmp_path):
    p = make(tmp_path)
    p.prepare_next_batch()
    held = p.next_item("ann")["item"]["idx"]
    p.label(held, truth(held), "ann")
    nxt = p.next_item("ann")["item"]["idx"]
    queue, labels = p.queue(), p.active_labels()
    again = Project(tmp_path / "p")
    assert again.queue() == queue and again.active_labels() == labels
    assert again.next_item("ann")["item"]["idx"] == nxt


def test_cross_validated_accuracy_by_hand():
    from labelwise.learners import make_learner

    learner = make_learner("logreg", ["a", "b"], random_state=0)
    X = np.array([[0.0], [0.1], [0.2], [5.0], [5.1], [5.2]])
    y = np.array(["a", "a", "a", "b", "b", "b"])
    assert cross_validated_accuracy(learner, X, y) == 1.0
    assert cross_validated_accuracy(learner, X[:3], y[:3]) is None  # one class
    # labels that contradict the features: every held-out point is predicted wrong
    y_flip = np.array(["a", "b", "a", "b", "a", "b"])
    assert cross_validated_accuracy(learner, np.zeros((6, 1)), y_flip) <= 0.5


# -- the HTTP API --------------------------------------------------------------------------------
@pytest.fixture
def client(tmp_path):
    p = make(tmp_path)
    with TestClient(create_app(p, start_worker=False)) as c:
        c.project = p
        yield c


def test_api_label_flow(client):
    cfg = client.get("/api/config").json()
    assert cfg["classes"] == ["a", "b"] and cfg["batch_size"] == 4
    out = client.get("/api/next", params={"annotator": "me"}).json()
    idx = out["item"]["idx"]
    r = client.post("/api/label", json={"item": idx, "label": truth(idx), "annotator": "me"})
    assert r.status_code == 200 and r.json()["item"] == idx
    assert client.get("/api/progress").json()["n_labels"] == 1
    assert client.post("/api/undo", json={"annotator": "me"}).json()["item"] == idx
    assert client.get("/api/labels").json() == []
    assert client.get(f"/api/items/{idx}/content").json() == {
        "text": f"i{idx}"}
    assert "labelwise" in client.get("/").text
    assert "loadNext" in client.get("/static/app.js").text


@pytest.mark.parametrize("body, status, message", [
    (b'{"item": 1, "label":', 400, "malformed JSON"),
    (b"[1, 2]", 400, "malformed JSON"),
    (b'{"item": "x", "label": "a"}', 400, "item"),
    (b'{"item": 0, "label": "a", "admin": true}', 400, "admin"),
    (b'{"item": 0, "label": "zebra"}', 400, "unknown class 'zebra'; classes are: a, b"),
    (b'{"item": 999, "label": "a"}', 404, "unknown item 999"),
    (b'{"item": -1, "label": "a"}', 404, "unknown item -1"),
])
def test_api_rejects_bad_input_with_a_message(client, body, status, message):
    r = client.post("/api/label", content=body, headers={"content-type": "application/json"})
    assert r.status_code == status
    assert message in r.json()["error"]


def test_api_conflicts_and_oversized_bodies(client):
    idx = client.get("/api/next", params={"annotator": "me"}).json()["item"]["idx"]
    ok = {"item": idx, "label": "a", "annotator": "me"}
    assert client.post("/api/label", json=ok).status_code == 200
    r = client.post("/api/label", json=ok)
    assert r.status_code == 409 and "already labeled" in r.json()["error"]
    r = client.post("/api/undo", json={"annotator": "nobody"})
    assert r.status_code == 409
    big = json.dumps({"item": idx, "label": "a" * 100_000})
    r = client.post("/api/label", content=big, headers={"content-type": "application/json"})
    assert r.status_code == 413 and "over" in r.json()["error"]

    def chunks():  # no content-length: the guard counts the streamed bytes
        for _ in range(100):
            yield b"x" * 1024

    r = client.post("/api/label", content=chunks())
    assert r.status_code == 413


def test_nothing_outside_the_registered_items_is_served(tmp_path, image_folder):
    data = image_folder()
    secret = tmp_path / "secret.txt"
    secret.write_text("do not serve")
    p = init_project(tmp_path / "proj", data, encoder="identity", progress=False, batch_size=3)
    with TestClient(create_app(p, start_worker=False)) as c:
        assert c.get("/api/items/0/content").headers["content-type"] == "image/png"
        for url in ["/api/items/..%2F..%2Fsecret.txt/content", "/api/items/0%2F..%2F1/content",
                    "/static/..%2Fproject.py", "/static/../project.py", "/../secret.txt",
                    "/static/%2e%2e/db.py", "/api/items/18/content", "/api/items/-1/content"]:
            r = c.get(url)
            assert 400 <= r.status_code < 500, url
            assert "do not serve" not in r.text and "import" not in r.text
        # a tampered database row pointing out of the data folder is refused too
        with connect(p.path / DB_NAME) as conn:
            conn.execute("UPDATE items SET path = '../secret.txt' WHERE idx = 0")
            conn.execute("UPDATE items SET path = 'dark/link.png' WHERE idx = 1")
        os.symlink(secret, data / "dark" / "link.png")  # a link leading out of the folder
        for idx in (0, 1):
            r = c.get(f"/api/items/{idx}/content")
            assert r.status_code == 404 and "do not serve" not in r.text


def test_token_is_required_on_every_request_when_set(tmp_path):
    p = make(tmp_path)
    with TestClient(create_app(p, token="s3cret", start_worker=False)) as c:
        for url in ["/api/config", "/api/next", "/api/labels", "/api/items/0/content"]:
            assert c.get(url).status_code == 401, url
        for url in ["/", "/static/app.js", "/static/style.css"]:  # no data: served to anyone
            assert c.get(url).status_code == 200, url
        assert c.post("/api/undo", json={"annotator": "me"}).status_code == 401
        assert c.get("/api/config", headers={"X-Labelwise-Token": "wrong"}).status_code == 401
        assert c.get("/api/config", headers={"X-Labelwise-Token": "s3cret"}).status_code == 200
        assert c.get("/api/config", headers={"Authorization": "Bearer s3cret"}).status_code == 200
        assert c.get("/api/config?token=s3cret").status_code == 200
    with TestClient(create_app(p, start_worker=False)) as c:  # loopback default: no token
        assert c.get("/api/config").status_code == 200


def test_non_loopback_addresses_get_a_generated_token():
    assert is_loopback("127.0.0.1") and is_loopback("localhost") and is_loopback("::1")
    assert not is_loopback("0.0.0.0") and not is_loopback("192.168.1.5")
    assert resolve_token("127.0.0.1", None) is None
    t1, t2 = resolve_token("0.0.0.0", None), resolve_token("0.0.0.0", None)
    assert t1 and t2 and t1 != t2 and len(t1) >= 20
    assert resolve_token("0.0.0.0", "mine") == "mine"
