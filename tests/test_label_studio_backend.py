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
from labelwise.validation import LabelwiseError  # noqa: E402

CONFIG = label_config(["a", "b"], "text")


def result(label):
    return [{"from_name": "label", "to_name": "text", "type": "choices",
             "value": {"choices": [label]}}]


def tasks(n=12):
    rng = np.random.default_rng(0)
    X = np.r_[rng.normal(0, 1, (n // 2, 2)), rng.normal(3, 1, (n - n // 2, 2))]
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


def predict(client, ts):
    r = client.post("/predict", json={"project": "7.1712345678", "label_config": CONFIG,
                                      "tasks": ts})
    assert r.status_code == 200, r.text
    return r.json()


def test_health_setup_and_cold_start(client):
    assert client.get("/health").json()["status"] == "UP"
    assert client.get("/").json()["model_class"] == "labelwise"
    r = client.post("/setup", json={"project": "7.1712345678", "schema": CONFIG,
                                    "hostname": "http://localhost:8080", "access_token": "x"})
    assert r.json() == {"model_version": "labelwise-margin-logreg-0"}
    out = predict(client, tasks())
    assert len(out["results"]) == 12 and out["model_version"] == "labelwise-margin-logreg-1"
    assert all(r["result"] == [] for r in out["results"])  # no model before two classes
    assert sorted(r["score"] for r in out["results"]) == [i / 12 for i in range(12)]


def test_annotations_retrain_and_change_the_scores(client):
    ts = tasks()
    before = predict(client, ts)
    for aid, (t, label) in enumerate([(ts[0], "a"), (ts[11], "b")]):
        r = client.post("/webhook", json=created(aid, t, label))
        assert r.status_code == 201 and r.json()["action"] == "ANNOTATION_CREATED"
    setup = client.post("/setup", json={"project": "7.1712345678", "schema": CONFIG}).json()
    assert setup["model_version"] == "labelwise-margin-logreg-3" != before["model_version"]
    after = predict(client, [dict(t, annotations=[]) for t in ts[:1]] + ts[1:11] + [
        dict(ts[11], annotations=[{"id": 1, "result": result("b")}])])
    assert after["model_version"] == "labelwise-margin-logreg-4"  # task 1's label withdrawn
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
    assert pool.labeled()[1].tolist() == ["a", "b"]
    deleted = {"action": "ANNOTATIONS_DELETED", "project": {"id": 7, "label_config": CONFIG},
               "annotations": [{"id": 5}]}
    assert client.post("/webhook", json=deleted).status_code == 201
    assert pool.labeled()[1].tolist() == ["b"]
    train = {"action": "START_TRAINING", "project": {"id": 7, "label_config": CONFIG}}
    assert client.post("/webhook", json=train).json()["model_version"] == pool.model_version
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
    assert r.status_code == 400 and "without an 'id'" in r.json()["error"]
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
