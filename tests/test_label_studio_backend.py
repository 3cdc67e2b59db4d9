"""The Label Studio ML backend's HTTP protocol, in-process (FastAPI's TestClient, no Label Studio).

The payloads are shaped like Label Studio 1.23's (its /setup, /predict and webhook bodies); the
real server is exercised in test_label_studio.py.
"""

import base64

import numpy as np
import pytest

pytest.importorskip("fastapi")
pytest.importorskip("httpx")

from fastapi.testclient import TestClient  # noqa: E402

from labelwise.cli import main  # noqa: E402
from labelwise.integrations.label_studio import label_config  # noqa: E402
from labelwise.integrations.label_studio_backend import create_app, project_key  # noqa: E402
from labelwise.integrations.label_studio_pool import BackendSettings  # noqa: E402
from labelwise.testing import gaussian_blobs  # noqa: E402
from labelwise.validation import LabelwiseError  # noqa: E402

CONFIG = label_config(["a", "b"], "text")


def result(label):
    return [{"from_name": "label", "to_name": "text", "type": "choices",
             "value": {"choices": [label]}}]


def tasks(n=12):
    X, _ = gaussian_blobs([[0, 0], [3, 3]], n, labels="block")
    return [{"id": i + 1, "data": {"text": f"t{i}", "features": x.round(4).tolist()},
             "annotations": []} for i, x in enumerate(X)]


def created(aid, task, label, project=None):
    """An ANNOTATION_CREATED webhook body (Label Studio sends the project with its config)."""
    return {"action": "ANNOTATION_CREATED",
            "annotation": {"id": aid, "task": task["id"], "result": result(label),
                           "was_cancelled": False},
            "task": {k: task[k] for k in ("id", "data")},
            "project": project or {"id": 7, "label_config": CONFIG}}


@pytest.fixture
def client():
    with TestClient(create_app(BackendSettings(strategy="margin"))) as c:
        yield c


def predict(client, ts, settle=True):
    """/predict's answer; with ``settle``, after the background round the request started has
    finished (asked again: /predict itself never waits for a fit)."""
    body = {"project": "7.1712345678", "label_config": CONFIG, "tasks": ts}
    r = client.post("/predict", json=body)
    assert r.status_code == 200, r.text
    if not settle:
        return r.json()
    assert client.app.state.pools["7"].wait(60)
    r = client.post("/predict", json=body)
    assert r.status_code == 200, r.text
    return r.json()


def test_health_setup_and_cold_start(client):
    assert client.get("/health").json()["status"] == "UP"
    assert client.get("/").json()["model_class"] == "labelwise"
    r = client.post("/setup", json={"project": "7.1712345678", "schema": CONFIG,
                                    "hostname": "http://localhost:8080", "access_token": "x"})
    assert r.json() == {"model_version": "labelwise-margin-logreg-0-labels"}
    out = predict(client, tasks(), settle=False)  # no model needed: the cold-start order at once
    assert len(out["results"]) == 12
    assert out["model_version"] == "labelwise-margin-logreg-0-labels-v1"
    assert all(r["result"] == [] for r in out["results"])  # no model before two classes
    assert sorted(r["score"] for r in out["results"]) == [i / 12 for i in range(12)]


def test_annotations_retrain_and_change_the_scores(client):
    ts = tasks()
    before = predict(client, ts)
    for aid, (t, label) in enumerate([(ts[0], "a"), (ts[11], "b")]):
        r = client.post("/webhook", json=created(aid, t, label))
        assert r.status_code == 201 and r.json()["action"] == "ANNOTATION_CREATED"
    assert client.app.state.pools["7"].wait(60)
    setup = client.post("/setup", json={"project": "7.1712345678", "schema": CONFIG}).json()
    assert setup["model_version"] == "labelwise-margin-logreg-2-labels-v3"  # 2 labels, 3 changes
    after = predict(client, [dict(t, annotations=[]) for t in ts[:1]] + ts[1:11] + [
        dict(ts[11], annotations=[{"id": 1, "result": result("b")}])])
    assert after["model_version"] == "labelwise-margin-logreg-0-labels-v4"  # task 1's withdrawn
    ts[0]["annotations"] = [{"id": 0, "result": result("a")}]
    ts[11]["annotations"] = [{"id": 1, "result": result("b")}]
    after = predict(client, ts)
    scores = [r["score"] for r in after["results"]]
    assert scores[0] == scores[11] == 1.0  # labeled
    assert sorted(scores[1:11]) == [i / 10 for i in range(10)]
    assert scores != [r["score"] for r in before["results"]]
    predicted = [r["result"][0]["value"]["choices"][0] for r in after["results"]]
    assert predicted == ["a"] * 6 + ["b"] * 6  # two blobs 3 apart, one label each


def test_webhook_actions(client):
    ts = tasks(4)
    predict(client, ts)
    r = client.post("/webhook", json={"action": "PROJECT_UPDATED", "project": {"id": 7}})
    assert r.status_code == 201 and r.json()["status"] == "ignored"
    client.post("/webhook", json=created(5, ts[0], "a"))
    many = {"action": "ANNOTATIONS_CREATED", "project": {"id": 7, "label_config": CONFIG},
            "annotation": [{"id": 6, "task": 4, "result": result("b")}],
            "task": [{"id": 4, "data": ts[3]["data"]}]}
    assert client.post("/webhook", json=many).status_code == 201
    pool = client.app.state.pools["7"]
    pool.wait(60)
    assert pool.labeled()[1].tolist() == ["a", "b"]
    deleted = {"action": "ANNOTATIONS_DELETED", "project": {"id": 7, "label_config": CONFIG},
               "annotations": [{"id": 5}]}
    assert client.post("/webhook", json=deleted).status_code == 201
    assert pool.labeled()[1].tolist() == ["b"]
    train = {"action": "START_TRAINING", "project": {"id": 7, "label_config": CONFIG}}
    assert client.post("/webhook", json=train).status_code == 201
    r = client.post("/train", json={"project": "7.1", "label_config": CONFIG, "annotations": [
        dict(ts[1], annotations=[{"id": 9, "result": result("a")}])]})
    assert r.status_code == 201 and pool.labeled()[1].tolist() == ["a", "b"]


def test_bad_requests(client):
    r = client.post("/predict", json={"project": "8.1", "tasks": tasks(2)})
    assert r.status_code == 400 and "project 8 is unknown" in r.json()["error"]
    r = client.post("/setup", json={"project": "8.1", "schema": "<View><Text name='t' "
                                    "value='$t'/></View>"})
    assert r.status_code == 400 and "no <Choices>" in r.json()["error"]
    r = client.post("/predict", content=b"[1, 2]", headers={"content-type": "application/json"})
    assert r.status_code == 400 and "JSON object" in r.json()["error"]
    r = client.post("/predict", json={"project": "7.1", "label_config": CONFIG,
                                      "tasks": [{"data": {"features": [1]}}]})
    assert r.status_code == 400 and "task id None is not an integer" in r.json()["error"]
    r = client.post("/predict", json={"project": "7.1", "label_config": CONFIG, "tasks": "x"})
    assert r.status_code == 400 and "list of tasks" in r.json()["error"]


def test_a_new_config_starts_the_project_anew(client):
    predict(client, tasks(4))
    other = label_config(["a", "b", "c"], "text")
    client.post("/setup", json={"project": "7.1", "schema": other})
    assert client.app.state.pools["7"].config.classes == ("a", "b", "c")
    assert client.app.state.pools["7"].task_ids == []


def test_basic_auth():
    with TestClient(create_app(BackendSettings(), auth="ls:secret")) as c:
        assert c.get("/health").status_code == 401
        good = {"Authorization": "Basic " + base64.b64encode(b"ls:secret").decode()}
        assert c.get("/health", headers=good).status_code == 200


def test_project_key():
    assert project_key("3.1712345678") == project_key({"id": 3}) == project_key(3) == "3"
    with pytest.raises(LabelwiseError, match="names no project"):
        project_key(None)


def test_cli_refuses_bad_settings(capsys):
    assert main(["label-studio-backend", "--learner", "finetune-image"]) == 2
    assert "trains on the raw items" in capsys.readouterr().err
    assert main(["label-studio-backend", "--host", "0.0.0.0", "--port", "1"]) == 2
    assert "--auth USER:PASSWORD" in capsys.readouterr().err


# -- the attacks: garbage gets a one-line 4xx, never a 500, and poisons nothing ------------------
PROJECT = {"id": 7, "label_config": CONFIG}
GARBAGE = {  # route, body, words of the one-line error
    "setup-schema-int": ("/setup", {"project": "7.1", "schema": 5}, "'schema' must be"),
    "setup-schema-list": ("/setup", {"project": "7.1", "schema": ["<View/>"]}, "not list"),
    "predict-task-id-abc": ("/predict", {"project": "7.1", "label_config": CONFIG, "tasks": [
        {"id": "abc", "data": {"features": [1, 2]}}]}, "task id 'abc' is not an integer"),
    "predict-annotations-not-a-list": ("/predict", {"project": "7.1", "label_config": CONFIG,
        "tasks": [{"id": 1, "data": {"features": [1, 2]}, "annotations": {"id": 1}}]},
        "'annotations' must be a list"),
    "predict-result-a-string": ("/predict", {"project": "7.1", "label_config": CONFIG, "tasks": [
        {"id": 1, "data": {"features": [1, 2]}, "annotations": [{"id": 1, "result": "a"}]}]},
        "'result' must be a list"),
    "webhook-annotation-without-id": ("/webhook", {"action": "ANNOTATION_CREATED",
        "project": PROJECT, "annotation": {"task": 1, "result": result("a")},
        "task": {"id": 1, "data": {"features": [1, 2]}}}, "annotation id None"),
    "webhook-task-object-without-id": ("/webhook", {"action": "ANNOTATION_CREATED",
        "project": PROJECT, "annotation": {"id": 3, "task": {"data": {}}, "result": result("a")},
        "task": {"id": 1, "data": {"features": [1, 2]}}}, "annotation 3's task id None"),
    "deleted-without-ids": ("/webhook", {"action": "ANNOTATIONS_DELETED", "project": PROJECT,
        "annotations": [{}]}, "annotation id None"),
    "deleted-id-zz": ("/webhook", {"action": "ANNOTATIONS_DELETED", "project": PROJECT,
        "annotations": [{"id": "zz"}]}, "annotation id 'zz'"),
    "webhook-label-config-int": ("/webhook", {"action": "START_TRAINING",
        "project": {"id": 7, "label_config": 3}}, "'label_config' must be"),
    "deleted-annotations-missing": ("/webhook", {"action": "ANNOTATIONS_DELETED",
        "project": PROJECT}, "must be a list of annotations"),
    "project-a-list": ("/predict", {"project": [7], "label_config": CONFIG, "tasks": []},
                       "names no project"),
    "train-data-not-object": ("/train", {"project": "7.1", "label_config": CONFIG,
        "annotations": [{"id": 1, "data": "x"}]}, "'data' must be an object"),
}


@pytest.mark.parametrize("name", GARBAGE)
def test_garbage_gets_a_one_line_400_and_no_traceback(client, name, caplog):
    route, body, words = GARBAGE[name]
    with caplog.at_level("WARNING"):
        r = client.post(route, json=body)
    assert r.status_code == 400, r.text
    error = r.json()["error"]
    assert words in error and "\n" not in error and "Traceback" not in error
    assert not [rec for rec in caplog.records if rec.exc_info]  # nothing logged with a traceback
    assert predict(client, tasks(4))["results"]  # the backend still answers


def test_a_null_feature_refuses_that_task_only(client):
    ts = tasks(6)
    ts[2]["data"]["features"] = [None, 1.0]
    ts[3]["data"]["features"] = [1.0, 2.0, 3.0]  # another length
    ts[4]["data"]["features"] = ["1", 2.0]
    out = predict(client, ts)
    assert [r["result"] == [] and r["score"] == 1.0 for r in out["results"][2:5]] == [True] * 3
    assert out["refused"] == ["task 3: data 'features' must hold finite numbers (no null, NaN or "
                              "inf)", "task 4: data 'features' has 3 numbers, the pool's tasks 2",
                              "task 5: data 'features' must be a list of numbers"]
    pool = client.app.state.pools["7"]
    assert pool.task_ids == [1, 2, 6] and np.isfinite(pool.X).all()
    # the project is not poisoned: good tasks and labels keep working
    good = tasks(12)
    good[0]["annotations"] = [{"id": 1, "result": result("a")}]
    good[11]["annotations"] = [{"id": 2, "result": result("b")}]
    out = predict(client, good)
    assert "refused" not in out and out["model_version"].startswith("labelwise-margin-logreg-2-")
    assert all(r["result"] for r in out["results"]) and sorted(pool.task_ids) == list(range(1, 13))


def test_bodies_over_the_limit_get_413_unread():
    with TestClient(create_app(BackendSettings(), max_body=1000)) as c:
        big = {"project": "7.1", "label_config": CONFIG, "tasks": tasks(40)}
        r = c.post("/predict", json=big)
        assert r.status_code == 413 and r.json() == {"error": "the request body is over 1000 bytes"}

        def chunks():  # no Content-Length: counted as it comes
            for _ in range(100):
                yield b" " * 100

        r = c.post("/webhook", content=chunks(), headers={"content-type": "application/json"})
        assert r.status_code == 413
        assert c.post("/setup", json={"project": "7.1", "schema": CONFIG}).status_code == 200


def test_predict_answers_from_the_last_model_while_the_next_one_fits(client, monkeypatch):
    from labelwise.engine import ActiveLearner

    ts = tasks()
    ts[0]["annotations"] = [{"id": 1, "result": result("a")}]
    ts[11]["annotations"] = [{"id": 2, "result": result("b")}]
    first = predict(client, ts)
    assert first["model_version"] == "labelwise-margin-logreg-2-labels-v3"
    release, fitting = __import__("threading").Event(), __import__("threading").Event()
    fit = ActiveLearner.fit

    def slow_fit(self):
        fitting.set()
        assert release.wait(30)
        return fit(self)

    monkeypatch.setattr(ActiveLearner, "fit", slow_fit)
    client.post("/webhook", json=created(3, ts[1], "a"))
    assert fitting.wait(30)  # the next model is fitting now, in the background
    r = predict(client, ts[2:5], settle=False)  # answered without waiting for it
    assert r["model_version"] == "labelwise-margin-logreg-2-labels-v3"
    assert all(x["result"] for x in r["results"])  # the last model's classes
    release.set()
    assert client.app.state.pools["7"].wait(30)
    assert predict(client, ts[2:5], settle=False)["model_version"] == \
        "labelwise-margin-logreg-3-labels-v4"


def test_a_failing_fit_keeps_the_last_model(client, monkeypatch, caplog):
    from labelwise.engine import ActiveLearner

    ts = tasks()
    ts[0]["annotations"] = [{"id": 1, "result": result("a")}]
    ts[11]["annotations"] = [{"id": 2, "result": result("b")}]
    version = predict(client, ts)["model_version"]

    def broken(self):
        raise ValueError("solver diverged")

    monkeypatch.setattr(ActiveLearner, "fit", broken)
    client.post("/webhook", json=created(3, ts[1], "a"))
    pool = client.app.state.pools["7"]
    assert pool.wait(30) and pool.last_error == "ValueError: solver diverged"
    assert predict(client, ts)["model_version"] == version
    assert "the round on 3 labels failed" in caplog.text


def test_a_served_backend_refuses_a_big_body_without_log_spam(caplog):
    """Through uvicorn, as Label Studio reaches it: a 5 MB body over a 1 MB limit gets 413 and
    nothing in the log (it used to be read whole, and "response already started" errors
    followed); the server goes on answering."""
    import socket
    import threading
    import time

    httpx = pytest.importorskip("httpx")
    uvicorn = pytest.importorskip("uvicorn")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(create_app(BackendSettings(), max_body=2**20),
                                           host="127.0.0.1", port=port, log_level="info"))
    thread = threading.Thread(target=server.run, daemon=True)
    with caplog.at_level("INFO"):
        thread.start()
        while not server.started:
            time.sleep(0.05)
        try:
            with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as c:
                big = b"{" + b" " * (5 * 2**20) + b"}"
                for _ in range(3):
                    r = c.post("/predict", content=big,
                               headers={"content-type": "application/json"})
                    assert r.status_code == 413
                r = c.post("/setup", json={"project": "1.1", "schema": [1]})
                assert r.status_code == 400 and r.json()["error"] == (
                    "'schema' must be the labeling config's XML text, not list")
                assert c.get("/health").status_code == 200
        finally:
            server.should_exit = True
            thread.join(10)
    assert not [r for r in caplog.records if r.levelname in ("ERROR", "CRITICAL") or r.exc_info]
    assert "response already started" not in caplog.text.lower()
