"""Making a project: every input checked before encoding, and a project that appears whole at
its path or not at all (bad input, an exception, Ctrl-C, a full disk, kill -9)."""

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import labelwise.encoders
from labelwise.app import create
from labelwise.app.create import create_project, init_project
from labelwise.app.errors import DB_NAME, EMBEDDINGS_NAME, DiskFull
from labelwise.app.project import Project
from labelwise.validation import LabelwiseError

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def embed_calls(monkeypatch):
    """The items of every ``embed`` call made from now on."""
    calls = []
    real = labelwise.encoders.embed

    def counting(encoder, items, **kw):
        calls.append(len(items))
        return real(encoder, items, **kw)

    monkeypatch.setattr(labelwise.encoders, "embed", counting)
    return calls


def cli(args, capsys):
    from labelwise.cli import main

    code = main([str(a) for a in args])
    out = capsys.readouterr()
    return code, out.out, out.err


def hidden_builds(folder):
    return sorted(p.name for p in Path(folder).iterdir() if ".building-" in p.name)


# -- what a project is made of ---------------------------------------------------------------------
def test_init_from_images_imports_folder_labels(tmp_path, image_folder):
    data = image_folder()
    p = init_project(tmp_path / "proj", data, encoder="identity", batch_size=3, progress=False)
    s = p.status()
    assert (s["items"], s["labels"], s["classes"]) == (18, 12, ["dark", "light"])
    assert s["per_class"] == {"dark": 6, "light": 6}
    kind, path = p.item_content(p.queue()[0]["item"])
    assert kind == "image" and path.suffix == ".png" and path.name.startswith("u")
    assert (tmp_path / "proj" / "cache").is_dir()
    assert p.settings["n_features"] == 8 * 8 * 3
    assert sorted(os.listdir(tmp_path)) == ["imgs", "proj"]  # no temporary folder left
    with pytest.raises(LabelwiseError, match="already holds"):
        init_project(tmp_path / "proj", data, encoder="identity", progress=False)


def test_init_reports_missing_and_corrupt_data_with_its_path(tmp_path, image_folder):
    with pytest.raises(LabelwiseError, match=f"data not found: {tmp_path / 'nope'}"):
        init_project(tmp_path / "p", tmp_path / "nope", encoder="identity")
    data = image_folder()
    (data / "dark" / "broken.png").write_bytes(b"not a png")
    with pytest.raises(LabelwiseError, match="broken.png"):
        init_project(tmp_path / "p", data, encoder="identity", progress=False)
    assert sorted(os.listdir(tmp_path)) == ["imgs"]
    with pytest.raises(LabelwiseError, match="no labelwise project at"):
        Project(tmp_path / "p")


# -- every input is checked before encoding -------------------------------------------------------
LABEL_CSVS = {
    "unknown id": ("id,label\nline 1,sports\nline 99,food\n", r"line 3 \(unknown id 'line 99'\)"),
    "unknown class": ("id,label\nline 1,pizza\n", r"line 2 \(unknown class 'pizza'\)"),
    "conflict": ("id,label\nline 8,food\nline 9,sports\nline 8,sports\n",
                 r"lines 2, 4 \(id 'line 8' labeled 'food' and 'sports': a conflict\)"),
    "malformed": ("id,label\nline 8,food,extra\n",
                  r"is malformed: 1 bad row: line 2 \(3 fields, the header has 2\)"),
    "columns": ("item,class\nline 8,food\n", "must have columns 'id' and 'label'"),
}


@pytest.mark.parametrize("kwargs, message", [
    ({"strategy": "nope"}, "unknown strategy 'nope'"),
    ({"learner": "nope"}, "unknown learner 'nope'"),
    ({"cold_start": "margin"}, "cold-start strategy 'margin' needs a model"),
    ({"encoder": "nope"}, "unknown encoder 'nope'"),
    ({"encoder": "efficientnet-lite0"}, "embeds images, but .* holds texts"),
    ({"batch_size": 0}, "batch size must be an integer >= 1"),
    ({"labels_per_item": 0}, "labels per item must be an integer >= 1"),
    ({"classes": "sports"}, "at least 2 classes, got 1"),
    ({"classes": "a,b"}, "labels outside the classes a, b in 6 items"),
    ({"learner_params": {"bogus": 1}}, "bad parameters for learner 'logreg'"),
    ({"labels_csv": "missing.csv"}, "label file not found"),
    *[({"labels_csv": name}, message) for name, (_, message) in LABEL_CSVS.items()],
])
def test_init_checks_every_input_before_encoding(tmp_path, text_file, hash_text_encoder,
                                                 embed_calls, kwargs, message):
    data = text_file()
    if "labels_csv" in kwargs:
        name = kwargs["labels_csv"]
        kwargs = {"labels_csv": tmp_path / name}
        if name in LABEL_CSVS:
            (tmp_path / name).write_text(LABEL_CSVS[name][0])
    before = sorted(os.listdir(tmp_path))
    kwargs = {"encoder": hash_text_encoder, **kwargs}
    with pytest.raises(LabelwiseError, match=message):
        init_project(tmp_path / "p", data, progress=False, **kwargs)
    assert embed_calls == []  # nothing was encoded
    assert sorted(os.listdir(tmp_path)) == before  # nothing was written


def test_a_good_labels_csv_is_imported_after_encoding(tmp_path, text_file, hash_text_encoder,
                                                      embed_calls):
    labels = tmp_path / "l.csv"
    labels.write_text("id,label\nline 8,food\nline 9,sports\nline 8,food\nline 1,food\n")
    p = init_project(tmp_path / "p", text_file(), encoder=hash_text_encoder, labels_csv=labels,
                     progress=False)
    assert embed_calls == [24]
    got = {r["id"]: (r["label"], r["source"]) for r in p.active_labels()}
    # line 1 came labeled 'sports' with the data: kept; line 8 given twice alike: once
    assert got["line 1"] == ("sports", "data")
    assert got["line 8"] == ("food", "import") and got["line 9"] == ("sports", "import")
    assert len(got) == 8


# -- the target folder -----------------------------------------------------------------------------
def test_init_onto_a_file_or_a_non_empty_folder_is_one_line(tmp_path, text_file,
                                                            hash_text_encoder, capsys):
    data = text_file()
    (tmp_path / "afile").write_text("mine")
    code, out, err = cli(["init", tmp_path / "afile", "--data", data, "--encoder",
                          hash_text_encoder], capsys)
    assert code == 2 and err == f"error: {tmp_path / 'afile'} is a file, not a folder: choose " \
                                "another path for the project\n"
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "notes.txt").write_text("mine")
    with pytest.raises(LabelwiseError, match="is not empty: give a new"):
        init_project(tmp_path / "full", data, encoder=hash_text_encoder, progress=False)
    assert (tmp_path / "afile").read_text() == "mine"
    assert os.listdir(tmp_path / "full") == ["notes.txt"]
    (tmp_path / "empty").mkdir()
    p = init_project(tmp_path / "empty", data, encoder=hash_text_encoder, progress=False)
    assert p.status()["items"] == 24
    p = init_project(tmp_path / "new" / "deeper", data, encoder=hash_text_encoder,
                     progress=False)
    assert (tmp_path / "new" / "deeper" / DB_NAME).is_file()


# -- failures leave nothing behind ----------------------------------------------------------------
@pytest.mark.parametrize("error", [RuntimeError("boom"), KeyboardInterrupt()])
def test_a_failure_after_encoding_leaves_nothing_and_init_works_again(
        tmp_path, text_file, hash_text_encoder, monkeypatch, error):
    data = text_file()

    def fail(self):
        raise error

    with monkeypatch.context() as m:
        m.setattr(Project, "prepare_next_batch", fail)
        with pytest.raises(type(error)):
            init_project(tmp_path / "a" / "p", data, encoder=hash_text_encoder, progress=False)
    assert sorted(os.listdir(tmp_path)) == ["t.jsonl"]  # not even the parent folder "a"
    p = init_project(tmp_path / "a" / "p", data, encoder=hash_text_encoder, progress=False)
    assert len(p.queue()) == 10


def test_create_project_builds_aside_too(tmp_path, monkeypatch):
    X = np.random.default_rng(0).normal(size=(20, 2))
    ids = [f"i{i}" for i in range(20)]
    with pytest.raises(LabelwiseError, match="20 item ids but 19 feature rows"):
        create_project(tmp_path / "p", ids, X[:19], ["a", "b"])
    with pytest.raises(LabelwiseError, match="1 item id but 20 feature rows"):
        create_project(tmp_path / "p", ids[:1], X, ["a", "b"])
    with monkeypatch.context() as m:
        m.setattr(Project, "prepare_next_batch", lambda self: 1 / 0)
        with pytest.raises(ZeroDivisionError):
            create_project(tmp_path / "p", ids, X, ["a", "b"])
    assert os.listdir(tmp_path) == []
    p = create_project(tmp_path / "p", ids, X, ["a", "b"], batch_size=3)
    assert len(p.queue()) == 3
    p.close()
    assert sorted(os.listdir(tmp_path / "p")) == [EMBEDDINGS_NAME, DB_NAME]


def test_a_full_disk_during_init_is_one_line_and_leaves_nothing(
        tmp_path, text_file, hash_text_encoder, monkeypatch, capsys):
    data = text_file()

    def full(*args, **kwargs):
        raise sqlite3.OperationalError("database or disk is full")

    monkeypatch.setattr(create, "_write", full)
    with pytest.raises(DiskFull, match=rf"the disk is full: {tmp_path / 'p'} was not created "
                                       r"\(nothing was left behind\); free some space"):
        init_project(tmp_path / "p", data, encoder=hash_text_encoder, progress=False)
    code, out, err = cli(["init", tmp_path / "p", "--data", data, "--encoder",
                          hash_text_encoder], capsys)
    assert code == 2 and err.count("\n") == 1
    assert err.startswith("error: the disk is full") and "labelwise init` again" in err
    assert sorted(os.listdir(tmp_path)) == ["t.jsonl"]


def test_a_really_full_disk_during_init(tmp_path, image_folder, small_disk, capsys):
    data = image_folder(per_class=15, size=32)  # 36 items of 3,072 features: ~0.9 MB to write
    disk = small_disk(256)
    code, out, err = cli(["init", disk / "p", "--data", data, "--encoder", "identity"], capsys)
    assert code == 2 and err.count("\n") == 1 and err.startswith("error: the disk is full")
    assert os.listdir(disk) == []


KILLED_INIT = """
import sys, time
from pathlib import Path
from labelwise import encoders
from labelwise.encoders import Encoder, EncoderSpec
from labelwise.app.create import init_project

class Stuck(Encoder):
    name, modality = "test-stuck", "text"
    def _encode_batch(self, batch):
        Path(sys.argv[3]).touch()
        time.sleep(120)

encoders.ENCODERS["test-stuck"] = EncoderSpec("test-stuck", Stuck, "text", "test")
init_project(sys.argv[1], sys.argv[2], encoder="test-stuck", progress=False)
"""


def test_kill_9_during_init_leaves_no_project_and_init_works_again(tmp_path, text_file,
                                                                   hash_text_encoder):
    data, target, marker = text_file(), tmp_path / "p", tmp_path / "encoding"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, "-c", KILLED_INIT, str(target), str(data),
                             str(marker)], env=env, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 60
        while not marker.exists() and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert marker.exists(), proc.stderr.read().decode()
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
        proc.stderr.close()
    assert not target.exists()
    assert hidden_builds(tmp_path) and hidden_builds(tmp_path)[0].startswith(
        f".p.building-{proc.pid}-")
    with pytest.raises(LabelwiseError, match="no labelwise project at .*: its `labelwise init` "
                                             "was interrupted; run it again"):
        Project(target)
    p = init_project(target, data, encoder=hash_text_encoder, progress=False)
    assert p.status()["items"] == 24 and hidden_builds(tmp_path) == []


def test_a_killed_builds_embedding_cache_is_reused(tmp_path, text_file, hash_text_encoder):
    data = text_file()
    init_project(tmp_path / "first", data, encoder=hash_text_encoder, progress=False)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    stale = tmp_path / f".p.building-{dead.pid}-x1y2"
    stale.mkdir()
    os.rename(tmp_path / "first" / "cache", stale / "cache")
    (stale / DB_NAME).write_bytes(b"half")
    cached = sorted((stale / "cache").rglob("*.npy"))
    assert len(cached) == 1
    # a live build of the same target (this process) is left alone
    live = tmp_path / f".p.building-{os.getpid()}-live"
    live.mkdir()

    def no_encoding(*args, **kwargs):
        raise AssertionError("encoded again")

    enc = labelwise.encoders.get_encoder(hash_text_encoder)
    enc_type = type(enc)
    original = enc_type._encode_batch
    enc_type._encode_batch = no_encoding
    try:
        p = init_project(tmp_path / "p", data, encoder=hash_text_encoder, progress=False)
    finally:
        enc_type._encode_batch = original
    assert p.status()["items"] == 24
    assert [c.name for c in (tmp_path / "p" / "cache").rglob("*.npy")] == [cached[0].name]
    assert hidden_builds(tmp_path) == [live.name]


# -- the command line ------------------------------------------------------------------------------
def test_cli_init_status_export(tmp_path, image_folder, capsys):
    data = image_folder()
    proj = tmp_path / "proj"
    code, out, _ = cli(["init", proj, "--data", data, "--encoder", "identity", "--batch-size",
                        "3"], capsys)
    assert code == 0 and f"created {proj}: 18 image items, classes dark, light, 12 labels " \
                          "imported" in out
    assert cli(["status", proj], capsys)[0] == 0
    assert cli(["export", proj, "--format", "jsonl", "--predictions"], capsys)[0] == 0
    assert len((proj / "export" / "labels.jsonl").read_text().splitlines()) == 18
    assert cli(["init", tmp_path / "q", "--data", tmp_path / "missing"], capsys)[0] == 2


def test_cli_counts_read_right_for_one(tmp_path, text_file, hash_text_encoder, capsys):
    data = text_file(labeled=1)
    code, out, _ = cli(["init", tmp_path / "p", "--data", data, "--encoder", hash_text_encoder,
                        "--classes", "sports,food"], capsys)
    assert code == 0 and ": 24 text items, classes sports, food, 1 label imported" in out
    code, out, _ = cli(["status", tmp_path / "p"], capsys)
    assert "items 24: 1 labeled (1 label), 0 skipped, 23 unlabeled" in out
