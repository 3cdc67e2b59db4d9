"""Opening a project: the database and embeddings checks, and a full disk while labeling.

Every damaged file is refused with one line naming the file and what to do; nothing is ever
acknowledged into a damaged or full database.
"""

import errno
import json
import os
import sqlite3

import numpy as np
import pytest

from labelwise.app import project_files
from labelwise.app.create import create_project
from labelwise.app.errors import DB_NAME, EMBEDDINGS_NAME, DiskFull
from labelwise.app.project import Project
from labelwise.testing import gaussian_blobs
from labelwise.validation import LabelwiseError


def make(root, n=60, name="p", **kw):
    """Two separated blobs: items < n/2 are 'a', the rest 'b'."""
    X, _ = gaussian_blobs(((0.0,) * 3, (6.0,) * 3), n, labels="block")
    kw.setdefault("batch_size", 4)
    return create_project(root / name, [f"i{i}" for i in range(n)], X.astype(np.float32),
                          ["a", "b"], **kw)


def overwrite(path, offset, data):
    with open(path, "r+b") as f:
        f.seek(offset)
        f.write(data)


def cli(args, capsys):
    from labelwise.cli import main

    code = main([str(a) for a in args])
    out = capsys.readouterr()
    return code, out.out, out.err


# -- the database ---------------------------------------------------------------------------------
def test_a_garbled_page_in_the_middle_makes_the_project_refuse_to_open(tmp_path, capsys):
    p = make(tmp_path, n=3000)  # a database of many pages
    p.label(p.next_item("ann")["item"]["idx"], "a", "ann")
    p.close()
    db = tmp_path / "p" / DB_NAME
    size = db.stat().st_size
    assert size > 30 * 4096
    overwrite(db, size // 2, np.random.default_rng(1).bytes(4096))
    with pytest.raises(LabelwiseError, match=rf"the project database {db} is damaged \(.+\): "
                                             r"restore it from a backup"):
        Project(tmp_path / "p")
    # the labeling server never starts on it, so it never acknowledges a label into it
    pytest.importorskip("fastapi")
    from labelwise.app.server import create_app

    with pytest.raises(LabelwiseError, match="is damaged"):
        create_app(tmp_path / "p", start_worker=False)
    for command in (["status"], ["label"], ["export"], ["import-labels"]):
        args = command + [tmp_path / "p"] + ([tmp_path / "x.csv"] if command == ["import-labels"]
                                             else [])
        code, out, err = cli(args, capsys)
        assert code == 2 and out == "" and err.count("\n") == 1, command
        assert err.startswith(f"error: the project database {db} is damaged"), command


def test_a_file_that_is_not_a_database_is_refused(tmp_path, capsys):
    make(tmp_path).close()
    db = tmp_path / "p" / DB_NAME
    overwrite(db, 0, b"this is no sqlite header")
    with pytest.raises(LabelwiseError, match=r"is damaged \(file is not a database\)"):
        Project(tmp_path / "p")
    # settings gone: damaged too, not a KeyError
    make(tmp_path, name="q").close()
    with sqlite3.connect(tmp_path / "q" / DB_NAME) as conn:
        conn.execute("DELETE FROM settings WHERE key = 'classes'")
    with pytest.raises(LabelwiseError, match=r"is damaged \(no setting 'classes'\)"):
        Project(tmp_path / "q")


def test_a_path_that_is_no_project_is_one_line(tmp_path):
    (tmp_path / "f").write_text("x")
    with pytest.raises(LabelwiseError, match="is a file, not a labelwise project folder"):
        Project(tmp_path / "f")
    with pytest.raises(LabelwiseError, match="no labelwise project at"):
        Project(tmp_path / "nothing")


# -- the embeddings -------------------------------------------------------------------------------
def _truncate(n):
    def cut(path):
        with open(path, "r+b") as f:
            f.truncate(n)
    return cut


def _nan_at(row):
    def poke(path):
        X = np.load(path, mmap_mode="r+")
        X[row, 1] = np.nan
        X.flush()
        del X
    return poke


@pytest.mark.parametrize("damage, message", [
    (os.remove, "is missing"),
    (_truncate(128 + 60 * 12 // 2), r"cannot be read \(truncated, or not a \.npy array"),
    (_truncate(40), r"cannot be read \(truncated"),
    (_truncate(0), r"cannot be read \(truncated"),
    (lambda p: np.save(p, np.zeros((60, 5), np.float32)), r"has shape \(60, 5\), but the "
                                                          r"project's items need \(60, 3\)"),
    (lambda p: np.save(p, np.zeros((59, 3), np.float32)), r"has shape \(59, 3\)"),
    (lambda p: np.save(p, np.zeros((60, 3), np.int64)), "holds a int64 array"),
    (lambda p: p.write_text("hello"), r"cannot be read"),
    (_nan_at(37), r"holds NaN or inf \(first in row 37\)"),
])
def test_missing_truncated_wrong_or_nan_embeddings_are_refused(tmp_path, damage, message):
    make(tmp_path).close()
    emb = tmp_path / "p" / EMBEDDINGS_NAME
    damage(emb)
    with pytest.raises(LabelwiseError, match=rf"the embeddings file {emb} {message}.*: restore "
                                             r"it from a backup, or `labelwise export`"):
        Project(tmp_path / "p")


def test_the_finite_check_reads_the_file_block_by_block(tmp_path, monkeypatch):
    make(tmp_path).close()
    monkeypatch.setattr(project_files, "_CHECK_ROWS", 16)  # 60 rows: blocks of 16, 16, 16, 12
    emb = tmp_path / "p" / EMBEDDINGS_NAME
    for row in (59, 48, 16, 0):  # the first NaN is named, wherever its block lies
        _nan_at(row)(emb)
        with pytest.raises(LabelwiseError, match=rf"first in row {row}\)"):
            Project(tmp_path / "p")


def test_damaged_embeddings_leave_status_and_the_labels_export_working(tmp_path, capsys):
    p = make(tmp_path)
    p.label(p.next_item("ann")["item"]["idx"], "a", "ann")
    p.close()
    emb = tmp_path / "p" / EMBEDDINGS_NAME
    _truncate(100)(emb)
    code, out, err = cli(["status", tmp_path / "p"], capsys)
    assert code == 2 and "items 60: 1 labeled (1 label)" in out
    assert err.count("\n") == 1 and err.startswith(f"error: the embeddings file {emb}")
    code, out, err = cli(["export", tmp_path / "p", "--out", tmp_path / "l.csv"], capsys)
    assert code == 0 and out.startswith("wrote 1 row (1 labeled)")
    assert (tmp_path / "l.csv").read_text().splitlines()[1].split(",")[1] == "a"
    code, out, err = cli(["export", tmp_path / "p", "--predictions"], capsys)
    assert code == 2 and err.startswith(f"error: the embeddings file {emb}")


# -- a full disk while labeling --------------------------------------------------------------------
@pytest.fixture
def api(tmp_path):
    pytest.importorskip("fastapi")
    pytest.importorskip("httpx")
    from fastapi.testclient import TestClient

    from labelwise.app.server import create_app

    def open_api(p):
        return TestClient(create_app(p, start_worker=False))

    return open_api


@pytest.mark.parametrize("error", [sqlite3.OperationalError("database or disk is full"),
                                   OSError(errno.ENOSPC, "No space left on device"),
                                   DiskFull("the disk is full: x")])
def test_a_full_disk_is_a_507_with_one_line_for_the_page(tmp_path, api, monkeypatch, error):
    p = make(tmp_path)
    idx = p.next_item("ann")["item"]["idx"]

    def full(*args, **kwargs):
        raise error

    monkeypatch.setattr(Project, "label", full)
    with api(p) as c:
        r = c.post("/api/label", json={"item": idx, "label": "a", "annotator": "ann"})
    assert r.status_code == 507
    assert r.json()["error"].startswith("the disk is full") and "\n" not in r.json()["error"]


def test_other_errors_are_not_taken_for_a_full_disk(tmp_path, api, monkeypatch):
    p = make(tmp_path)

    def broken(*args, **kwargs):
        raise OSError(errno.EACCES, "Permission denied")

    monkeypatch.setattr(Project, "label", broken)
    with api(p) as c, pytest.raises(OSError, match="Permission denied"):
        c.post("/api/label", json={"item": 0, "label": "a", "annotator": "ann"})


def test_a_really_full_disk_answers_507_and_saves_nothing(tmp_path, api, small_disk, fill_disk):
    disk = small_disk(512)
    p = make(disk)
    idx = p.next_item("ann")["item"]["idx"]
    fill_disk(disk)
    with api(p) as c:
        r = c.post("/api/label", json={"item": idx, "label": "a", "annotator": "ann"})
        assert r.status_code == 507 and r.json()["error"].startswith("the disk is full")
        assert p.active_labels() == []  # no false success
        os.remove(disk / "filler")
        r = c.post("/api/label", json={"item": idx, "label": "a", "annotator": "ann"})
        assert r.status_code == 200  # the same connection works again once there is space
    assert [r["item"] for r in p.active_labels()] == [idx]


def test_a_really_full_disk_in_the_cli_is_one_line(tmp_path, small_disk, fill_disk, capsys):
    disk = small_disk(512)
    make(disk).close()
    labels = tmp_path / "l.csv"
    labels.write_text("id,label\ni0,a\ni59,b\n")
    fill_disk(disk)
    code, out, err = cli(["import-labels", disk / "p", labels], capsys)
    assert code == 2 and err == (f"error: the disk is full: cannot open {disk / 'p' / DB_NAME}; "
                                 "free some space and try again\n")
    os.remove(disk / "filler")
    p = Project(disk / "p")  # open (its -wal and -shm files exist) when the disk fills up
    fill_disk(disk)
    with pytest.raises(DiskFull, match="the disk is full: no label was imported; free some "
                                       "space and import again"):
        p.import_labels(labels)
    os.remove(disk / "filler")
    assert p.active_labels() == []
    assert p.import_labels(labels)["imported"] == 2


# -- status: the model and what +ft did ----------------------------------------------------------
def test_status_says_what_ft_did_in_the_newest_fitted_round(tmp_path, capsys):
    p = make(tmp_path, labels=["a", "b"] + [None] * 58)
    assert p.status()["fine_tuning"] is None  # margin: no fine-tuning
    used = {"skipped": False, "reason": None, "n_confident": 41, "min_confident": 6,
            "n_labeled": 2, "n_train": 43, "epochs": 7, "stopped": "accuracy", "gamma": 0.8}
    skipped = {**used, "skipped": True, "n_confident": 3, "epochs": 0,
               "reason": "3 of 58 pool items have confidence > 0.80, fewer than the minimum 6"}
    for info, want in (
            (used, "+ft in the last round (model on 2 labels): fine-tuned on 41 pseudo-labels "
                   "(pool items with confidence > 0.8) + 2 labels, 7 epochs (stopped on "
                   "accuracy)"),
            (skipped, "+ft in the last round (model on 2 labels): skipped (3 of 58 pool items "
                      "have confidence > 0.80, fewer than the minimum 6)")):
        p.conn.execute("UPDATE rounds SET info = json_set(info, '$.pseudo_labels', json(?))",
                       (json.dumps(info),))
        assert p.status()["fine_tuning"] == want
        assert cli(["status", p.path], capsys)[1].count(want) == 1


def test_status_shows_the_model_the_server_last_published(tmp_path, capsys):
    from labelwise.app.worker import BatchWorker

    p = make(tmp_path, labels=["a", "b"] + [None] * 58)
    assert p.status()["model"] is None
    worker = BatchWorker(p, poll=0.05)
    worker._publish()  # what the fitter does before and after each fit
    state = Project(p.path).status()["model"]
    assert state["running"] is True  # this process published it
    out = cli(["status", p.path], capsys)[1]
    assert f"model: {state['message']}\n" in out
    p.conn.execute("UPDATE settings SET value = json_set(value, '$.pid', 0) "
                   "WHERE key = 'model_state'")
    assert "(when the labeling server last ran)" in cli(["status", p.path], capsys)[1]


def test_status_says_a_project_warm_starts_and_from_which_model(tmp_path, capsys):
    from labelwise.app.worker import BatchWorker

    p = make(tmp_path, labels=["a", "b"] + [None] * 28 + ["b"] * 2 + [None] * 28,
             warm_start=True)
    assert p.status()["warm_start"] is True
    out = cli(["status", p.path], capsys)[1]
    assert "learner logreg, warm start: each model starts from the previous one)" in out

    def label_batch():
        for _ in range(4):
            item = p.next_item("ann")["item"]
            p.label(item["idx"], "a" if item["idx"] < 30 else "b", "ann")
        p.prepare_next_batch(accuracy=False)

    label_batch()  # this process's first model: no previous one
    worker = BatchWorker(p, poll=0.05)
    assert worker.model_state()["message"] == ("model on 8 labels (fitted from scratch: no "
                                               "previous model)")
    label_batch()  # the next one starts from it
    worker._publish()
    out = cli(["status", p.path], capsys)[1]
    assert "model: model on 12 labels (warm-started from the one on 8)\n" in out
    # a restarted server (no ranking in memory) reads it from the newest queued batch
    assert BatchWorker(Project(p.path), poll=0.05).model_state()["message"] == (
        "model on 12 labels (warm-started from the one on 8)")
    plain = make(tmp_path, name="plain")
    assert "warm start" not in cli(["status", plain.path], capsys)[1]


def test_a_project_let_go_of_is_freed_at_once_with_its_memory_map(tmp_path):
    """No reference cycle: creating a project relies on the one built in a temporary folder
    being freed (its map of the features unmapped) before the finished one maps the file."""
    import gc
    import weakref

    p = make(tmp_path)
    p.queue()
    refs = [weakref.ref(p), weakref.ref(p.features), weakref.ref(p.model_service.engine())]
    gc.disable()
    try:
        del p
        assert [r() for r in refs] == [None, None, None]
    finally:
        gc.enable()
