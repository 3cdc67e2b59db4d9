"""Label Studio's formats and the round trip through a real Label Studio server.

The fast tests check the config, e-mails, local-files URLs and the export JSON. The slow ones
start Label Studio (the ``label-studio`` command: ``$LABELWISE_LABEL_STUDIO`` or on PATH; .ci/run
installs it in a venv of its own) on 127.0.0.1 with a fresh data folder, import an export, and
run the ML backend against it.
"""

import json
import os
import shutil
import socket
import subprocess
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from labelwise.app.create import create_project
from labelwise.integrations.label_studio import (
    annotation_label,
    check_annotation,
    check_task,
    config_path,
    image_urls,
    label_config,
    local_files_path,
    local_files_url,
    make_task,
    parse_credit,
    parse_label_config,
)
from labelwise.testing import gaussian_blobs
from labelwise.validation import LabelwiseError


# -- formats -------------------------------------------------------------------------------------
def test_label_config_round_trip():
    xml = label_config(["cat", 'say "hi" & <bye>'], "text")
    c = parse_label_config(xml)
    assert (c.from_name, c.to_name, c.modality, c.value_key) == ("label", "text", "text", "text")
    assert c.classes == ("cat", 'say "hi" & <bye>')
    c = parse_label_config(label_config(["x", "y"], "image"))
    assert (c.to_name, c.modality, c.value_key) == ("image", "image", "image")
    own = ('<View><Image name="img" value="$photo"/><Header value="pick"/><Choices name="kind" '
           'toName="img"><Choice value="a"/><Choice value="b"/></Choices></View>')
    c = parse_label_config(own)
    assert (c.from_name, c.to_name, c.modality, c.value_key) == ("kind", "img", "image", "photo")


@pytest.mark.parametrize("xml, message", [
    ("<View", "cannot parse"),
    ('<View><Text name="t" value="$t"/></View>', "no <Choices>"),
    ('<View><Text name="t" value="$t"/><Choices name="c" toName="t"><Choice value="a"/>'
     "</Choices></View>", "1 choice"),
    ('<View><Choices name="c" toName="zz"><Choice value="a"/><Choice value="b"/></Choices>'
     "</View>", "labels 'zz'"),
])
def test_parse_label_config_errors(xml, message):
    with pytest.raises(LabelwiseError, match=message):
        parse_label_config(xml)


def test_parse_credit():
    assert parse_credit(["Ann B=ann@corp.example", "x=y=z@w.example"]) == {
        "Ann B": "ann@corp.example", "x=y": "z@w.example"}
    assert parse_credit(None) == {}
    with pytest.raises(LabelwiseError, match="give NAME=EMAIL"):
        parse_credit(["alice"])
    with pytest.raises(LabelwiseError, match="give NAME=EMAIL"):
        parse_credit(["alice=not-an-email"])
    with pytest.raises(LabelwiseError, match="mapped twice"):
        parse_credit(["a=a@b.example", "a=c@b.example"])


def test_make_task_keeps_the_annotator_in_the_meta_and_credits_only_when_asked():
    c = parse_label_config(label_config(["a", "b"], "text"))
    labs = [{"label": "a", "annotator": "bar", "created": 0},
            {"label": "b", "annotator": "Ann B", "created": 60}]
    task = make_task({"text": "t"}, labs, c)
    first, second = task["annotations"]
    assert "completed_by" not in first and "completed_by" not in second  # the importing user
    assert first["result"][0]["meta"] == {
        "text": ["labeled by bar in labelwise at 1970-01-01T00:00:00Z"], "annotator": "bar",
        "labeled_at": "1970-01-01T00:00:00Z"}
    assert annotation_label(second, c) == "b"
    task = make_task({"text": "t"}, labs, c, credit={"Ann B": "ann@corp.example"})
    assert "completed_by" not in task["annotations"][0]
    assert task["annotations"][1]["completed_by"] == {"email": "ann@corp.example"}


def test_check_task_and_annotation():
    assert check_task({"id": "3", "data": {}, "annotations": None})["id"] == "3"
    for bad, words in [({"id": 1.5}, "task id 1.5"), ({"id": True}, "task id True"),
                       ({"id": 1, "data": []}, "'data' must be an object"), ([1], "an object"),
                       ({"id": 1, "annotations": [{"id": 2, "result": [1]}]}, "list of objects"),
                       ({"id": 1, "annotations": [{"id": 2, "task": "x"}]}, "2's task id 'x'")]:
        with pytest.raises(LabelwiseError, match=words):
            check_task(bad)
    with pytest.raises(LabelwiseError, match="a result's 'value' must be an object"):
        check_annotation({"id": 1, "result": [{"value": "a"}]})


def test_annotation_label():
    c = parse_label_config(label_config(["a", "b"], "text"))
    res = [{"from_name": "label", "type": "choices", "value": {"choices": ["b"]}}]
    assert annotation_label({"result": res}, c) == "b"
    assert annotation_label({"result": res, "was_cancelled": True}, c) is None
    assert annotation_label({"result": [{**res[0], "from_name": "other"}]}, c) is None
    assert annotation_label({"result": [{**res[0], "value": {"choices": ["z"]}}]}, c) is None
    assert annotation_label({"result": []}, c) is None


def test_local_files_urls(tmp_path):
    (tmp_path / "imgs" / "a b").mkdir(parents=True)
    f = tmp_path / "imgs" / "a b" / "x 1.png"
    f.write_bytes(b"")
    url = local_files_url(f, tmp_path)
    assert url == "/data/local-files/?d=imgs/a%20b/x%201.png"
    assert local_files_path(url, tmp_path) == f.resolve()
    with pytest.raises(LabelwiseError, match="not inside"):
        local_files_url(f, tmp_path / "other")
    with pytest.raises(LabelwiseError, match="names no file inside"):
        local_files_path("/data/local-files/?d=../secret", tmp_path / "imgs")
    to_url = image_urls(tmp_path / "imgs")  # document root: the parent
    assert to_url("a b/x 1.png") == url
    assert image_urls(tmp_path / "imgs", url_prefix="http://h/i/")("a b/x.png") == \
        "http://h/i/a%20b/x.png"
    with pytest.raises(LabelwiseError, match="must be a subfolder"):
        image_urls(tmp_path / "imgs", document_root=tmp_path / "imgs")
    assert config_path("out/labels.json") == Path("out/labels.label_config.xml")


# -- the export ----------------------------------------------------------------------------------
def image_project(tmp_path, root):
    """6 small PNGs under ``root/imgs`` (one in a subfolder with spaces); 3 labeled items, one
    of them by two annotators."""
    from PIL import Image

    (root / "imgs" / "sub dir").mkdir(parents=True, exist_ok=True)
    paths = [f"im{i}.png" if i % 2 else f"sub dir/im {i}.png" for i in range(6)]
    for i, rel in enumerate(paths):
        Image.fromarray(np.full((8, 8, 3), 40 * i, np.uint8)).save(root / "imgs" / rel)
    X = np.random.default_rng(0).normal(size=(6, 3)) + np.arange(6)[:, None]
    p = create_project(tmp_path / "proj", paths, X, ["dark", "light"], "image", paths=paths,
                       data_root=str(root / "imgs"), batch_size=2,
                       labels=["dark", None, None, None, None, "light"])
    idx = p.next_item("Ann B")["item"]["idx"]
    p.label(idx, "dark", "Ann B")
    return p


def test_export_image_project(tmp_path):
    p = image_project(tmp_path, tmp_path / "root")
    res = p.export(tmp_path / "out" / "ls.json", "label-studio", predictions=True)
    tasks = json.loads((tmp_path / "out" / "ls.json").read_text())
    config = parse_label_config(Path(res["label_config"]).read_text())
    assert res["label_config"] == str(tmp_path / "out" / "ls.label_config.xml")
    assert res["rows"] == len(tasks) == 6 and res["labeled"] == 3
    assert res["annotators"] == ["Ann B", "data"] and res["credited"] == []
    assert tasks[0]["data"] == {"image": "/data/local-files/?d=imgs/sub%20dir/im%200.png",
                                "id": "sub dir/im 0.png"}
    anns = [a for t in tasks for a in t["annotations"]]
    assert len(anns) == 3 and not any("completed_by" in a for a in anns)
    assert sorted(a["result"][0]["meta"]["annotator"] for a in anns) == ["Ann B", "data", "data"]
    for t in tasks:
        for r in [*t["annotations"], *t["predictions"]]:
            (item,) = r["result"]
            assert (item["from_name"], item["to_name"]) == (config.from_name, config.to_name)
            assert item["value"]["choices"][0] in config.classes
        assert 0.5 <= t["predictions"][0]["score"] <= 1
        assert t["predictions"][0]["model_version"] == "labelwise-margin-logreg-3-labels"
    res = p.export(tmp_path / "u.json", "label-studio", image_url="https://x.test/imgs")
    assert json.loads((tmp_path / "u.json").read_text())[0]["data"]["image"] == \
        "https://x.test/imgs/sub%20dir/im%200.png"
    with pytest.raises(LabelwiseError, match="must be a subfolder"):
        p.export(tmp_path / "bad.json", "label-studio", document_root=tmp_path / "root" / "imgs")
    assert not (tmp_path / "bad.json").exists()


def test_export_cli_prints_config_and_emails(tmp_path, capsys):
    from labelwise.cli import main

    p = image_project(tmp_path, tmp_path / "root")
    assert main(["export", str(p.path), "--format", "label-studio", "--out",
                 str(tmp_path / "e.json"), "--document-root", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "e.label_config.xml" in out and "annotators (in each annotation's meta): Ann B, data; " \
        "credited to Label Studio users: none (the importing user)" in out
    data = json.loads((tmp_path / "e.json").read_text())[0]["data"]
    assert data["image"] == "/data/local-files/?d=root/imgs/sub%20dir/im%200.png"
    assert main(["export", str(p.path), "--format", "label-studio", "--out",
                 str(tmp_path / "c.json"), "--label-studio-user", "Ann B=ann@corp.example"]) == 0
    assert "credited to Label Studio users: ann@corp.example" in capsys.readouterr().out
    assert main(["export", str(p.path), "--format", "label-studio", "--out",
                 str(tmp_path / "t.json"), "--label-studio-user", "Anne=ann@corp.example"]) == 2
    assert capsys.readouterr().err == ("error: no labels by 'Anne' to credit; the annotators "
                                       "are: Ann B, data\n")
    assert not (tmp_path / "t.json").exists()


# -- a real Label Studio -------------------------------------------------------------------------
def _label_studio_command() -> str | None:
    given = os.environ.get("LABELWISE_LABEL_STUDIO")
    return given if given and os.access(given, os.X_OK) else shutil.which("label-studio")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


TOKEN = "labelwise-test-token"


@pytest.fixture(scope="module")
def label_studio(tmp_path_factory):
    """A Label Studio on 127.0.0.1 with a fresh data folder; yields an httpx client (legacy
    token auth) with ``.document_root`` (its LOCAL_FILES_DOCUMENT_ROOT)."""
    command = _label_studio_command()
    if command is None:
        pytest.skip("Label Studio is not installed: set LABELWISE_LABEL_STUDIO to its "
                    "`label-studio` command or put it on PATH (.ci/run installs it)")
    httpx = pytest.importorskip("httpx")
    base = tmp_path_factory.mktemp("label-studio")
    docroot = base / "files"
    docroot.mkdir()
    port = _free_port()
    env = {**os.environ, "LABEL_STUDIO_BASE_DATA_DIR": str(base / "data"),
           "LABEL_STUDIO_LOCAL_FILES_SERVING_ENABLED": "true",
           "LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT": str(docroot),
           # the backend and its webhook live on 127.0.0.1, which Label Studio blocks by default
           "LABEL_STUDIO_ML_BLOCK_LOCAL_IP": "false",
           "LABEL_STUDIO_SSRF_PROTECTION_ENABLED": "false",
           # the Data Manager's score column reads each model's current version
           "ff_front_dev_1682_model_version_dropdown_070622_short": "true",
           "LABEL_STUDIO_SENTRY_DSN": "", "LABEL_STUDIO_FRONTEND_SENTRY_DSN": "",
           "LABEL_STUDIO_COLLECT_ANALYTICS": "false",
           "LABEL_STUDIO_LATEST_VERSION_CHECK": "false"}
    log = open(base / "label-studio.log", "w")
    proc = subprocess.Popen(
        [command, "start", "--no-browser", "--internal-host", "127.0.0.1", "--port", str(port),
         "--username", "admin@labelwise.local", "--password", "labelwise-test",
         "--user-token", TOKEN, "--enable-legacy-api-token"],
        env=env, stdout=log, stderr=subprocess.STDOUT, cwd=base, start_new_session=True)
    client = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=120,
                          headers={"Authorization": f"Token {TOKEN}"})
    try:
        deadline = time.monotonic() + 900  # first start: database migrations
        while True:
            if proc.poll() is not None:
                pytest.fail(f"label-studio exited: see {base / 'label-studio.log'}")
            try:
                if client.get("/health").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                pytest.fail("label-studio did not answer within 15 minutes")
            time.sleep(2)
        client.document_root = docroot
        yield client
    finally:
        client.close()
        os.killpg(proc.pid, 15)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, 9)
        log.close()


def _new_project(ls, title, config):
    r = ls.post("/api/projects", json={"title": title, "label_config": config})
    assert r.status_code == 201, r.text
    return r.json()["id"]


@pytest.mark.slow
def test_label_studio_imports_the_export(label_studio, tmp_path):
    ls = label_studio
    p = image_project(tmp_path, ls.document_root)
    res = p.export(tmp_path / "ls.json", "label-studio", predictions=True)
    pid = _new_project(ls, "export", Path(res["label_config"]).read_text())
    r = ls.post("/api/storages/localfiles", json={  # lets Label Studio serve the image folder
        "project": pid, "path": str(ls.document_root / "imgs"), "use_blob_urls": True})
    assert r.status_code == 201, r.text
    r = ls.post(f"/api/projects/{pid}/import", content=(tmp_path / "ls.json").read_bytes(),
                headers={"Content-Type": "application/json"})
    assert r.status_code == 201, r.text
    assert (r.json()["task_count"], r.json()["annotation_count"],
            r.json()["prediction_count"]) == (6, 3, 6)
    tasks = ls.get("/api/tasks", params={"project": pid, "fields": "all"}).json()["tasks"]
    users = {u["id"]: u["email"] for u in ls.get("/api/users/").json()}
    # annotators unknown to Label Studio ("Ann B", "data"): credited to the importing user, and
    # named in each annotation's meta
    anns = [a for t in tasks for a in t["annotations"]]
    assert [users[a["completed_by"]] for a in anns] == ["admin@labelwise.local"] * 3
    assert sorted(a["result"][0]["meta"]["annotator"] for a in anns) == ["Ann B", "data", "data"]
    image = ls.get(tasks[0]["data"]["image"])
    assert image.status_code == 200 and image.headers["content-type"] == "image/png"
    # the storage was added (it serves the images) but never synced: no task twice
    assert ls.get(f"/api/projects/{pid}").json()["task_number"] == 6
    # asked to, the export credits an annotator to an existing Label Studio user
    r = ls.post("/api/users/", json={"email": "ann@corp.example", "username": "ann"})
    assert r.status_code == 201, r.text
    p.export(tmp_path / "credited.json", "label-studio", credit={"Ann B": "ann@corp.example"})
    pid = _new_project(ls, "credited", Path(res["label_config"]).read_text())
    r = ls.post(f"/api/projects/{pid}/import", content=(tmp_path / "credited.json").read_bytes(),
                headers={"Content-Type": "application/json"})
    assert r.status_code == 201, r.text
    tasks = ls.get("/api/tasks", params={"project": pid, "fields": "all"}).json()["tasks"]
    users = {u["id"]: u["email"] for u in ls.get("/api/users/").json()}
    credited = sorted(users[a["completed_by"]] for t in tasks for a in t["annotations"])
    assert credited == ["admin@labelwise.local"] * 2 + ["ann@corp.example"]


class _Backend:
    """The ML backend served by uvicorn in a thread on a free port."""

    def __init__(self, settings):
        import uvicorn

        from labelwise.integrations.label_studio_backend import create_app

        self.port = _free_port()
        self.app = create_app(settings)
        self.server = uvicorn.Server(uvicorn.Config(self.app, host="127.0.0.1",
                                                    port=self.port, log_level="warning"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self):
        self.thread.start()
        while not self.server.started:
            time.sleep(0.05)
        return f"http://127.0.0.1:{self.port}"

    def __exit__(self, *exc):
        self.server.should_exit = True
        self.thread.join(10)


@pytest.mark.slow
def test_backend_ranks_tasks_and_retrains_on_annotations(label_studio):
    from labelwise.integrations.label_studio_pool import BackendSettings

    ls = label_studio
    X, _ = gaussian_blobs([[0, 0], [3, 3]], 20, labels="block")
    config = label_config(["a", "b"], "text")
    pid = _new_project(ls, "backend", config)
    r = ls.post(f"/api/projects/{pid}/import", json=[
        {"text": f"item {i}", "features": x.round(4).tolist()} for i, x in enumerate(X)])
    assert r.status_code == 201 and r.json()["task_count"] == 20

    def retrieve():
        """Ask Label Studio for every task's predictions; returns the model version and
        {task id: (score, predicted class or None)} of that version."""
        r = ls.post("/api/dm/actions", params={"id": "retrieve_tasks_predictions",
                                               "project": pid},
                    json={"selectedItems": {"all": True, "excluded": []}})
        assert r.status_code == 200, r.text
        version = ls.get("/api/ml", params={"project": pid}).json()[0]["model_version"]
        tasks = ls.get("/api/tasks", params={"project": pid, "fields": "all"}).json()["tasks"]
        out = {}
        for t in tasks:
            (p,) = [p for p in t["predictions"] if p["model_version"] == version]
            out[t["id"]] = (p["score"], p["result"][0]["value"]["choices"][0]
                            if p["result"] else None)
        return version, out

    backend = _Backend(BackendSettings(strategy="margin"))
    with backend as url:
        r = ls.post("/api/ml", json={"url": url, "project": pid, "title": "labelwise"})
        assert r.status_code == 201 and r.json()["readable_state"] == "Connected", r.text
        v0, before = retrieve()
        ids = sorted(before)
        assert sorted(s for s, _ in before.values()) == [i / 20 for i in range(20)]
        assert all(label is None for _, label in before.values())  # cold start: no model yet
        for tid, label in ((ids[0], "a"), (ids[19], "b")):  # the webhook retrains
            r = ls.post(f"/api/tasks/{tid}/annotations", json={"result": [
                {"from_name": "label", "to_name": "text", "type": "choices",
                 "value": {"choices": [label]}}]})
            assert r.status_code == 201, r.text
        assert backend.app.state.pools[str(pid)].wait(60)  # the webhook's retrain, in the
        v1, after = retrieve()  # background: /predict answers from the last model meanwhile
        assert v1 != v0 and after[ids[0]][0] == after[ids[19]][0] == 1.0
        unlabeled = ids[1:19]
        assert sorted(after[t][0] for t in unlabeled) == [i / 18 for i in range(18)]
        assert [after[t][1] for t in ids] == ["a"] * 10 + ["b"] * 10
        assert [after[t][0] for t in ids] != [before[t][0] for t in ids]
        # the Data Manager sorted by prediction score (ascending) lists the pick order
        view = ls.post("/api/dm/views", json={"project": pid, "data": {
            "ordering": ["tasks:predictions_score"]}}).json()
        listed = ls.get("/api/tasks", params={"project": pid, "view": view["id"]}).json()
        assert [t["id"] for t in listed["tasks"]] == sorted(ids, key=lambda t: after[t][0])
