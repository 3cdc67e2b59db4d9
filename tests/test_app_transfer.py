"""Labels in and out: import-labels (conflicts, malformed files), and exports written whole or not
at all, with spreadsheet formulas neutralised."""

import csv
import errno
import json
import os

import numpy as np
import pytest

from labelwise import io as files
from labelwise.app.create import create_project, init_project
from labelwise.app.errors import DiskFull
from labelwise.app.transfer import neutralise_cell, read_label_csv
from labelwise.learners import make_learner
from labelwise.validation import LabelwiseError


def make(root, ids, name="p"):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(len(ids), 3)).astype(np.float32)
    return create_project(root / name, ids, X, ["a", "b"], batch_size=2)


def cli(args, capsys):
    from labelwise.cli import main

    code = main([str(a) for a in args])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_text_project_import_and_export(tmp_path, text_file, hash_text_encoder):
    data = text_file()
    p = init_project(tmp_path / "tp", data, encoder="test-hash", batch_size=4, progress=False)
    assert p.status()["labels"] == 6 and p.settings["modality"] == "text"
    idx = p.next_item("ann")["item"]["idx"]
    assert p.item_content(idx)[0] == "text"
    p.label(idx, "sports", "ann")
    labels_csv = tmp_path / "more.csv"
    labels_csv.write_text("id,label\nline 20,sports\nline 21,food\nline 1,food\n")
    out = p.import_labels(labels_csv)
    assert out == {"imported": 2, "already_labeled": 1, "duplicates": 0}  # line 1: data
    bad = tmp_path / "bad.csv"
    bad.write_text("id,label\nline 2,sports\nline 999,food\nline 3,pizza\n")
    with pytest.raises(LabelwiseError, match=r"line 3 \(unknown id 'line 999'\).*line 4 "
                                             r"\(unknown class 'pizza'\)"):
        p.import_labels(bad)

    res = p.export(tmp_path / "l.csv", "csv")
    import pandas as pd

    df = pd.read_csv(tmp_path / "l.csv")
    assert res["rows"] == len(df) == 9 and list(df.columns) == ["id", "label", "annotator",
                                                                 "labeled_at"]
    assert set(df["annotator"]) == {"data", "ann", "import"}
    p.export(tmp_path / "l.jsonl", "jsonl", predictions=True)
    recs = [json.loads(x) for x in (tmp_path / "l.jsonl").read_text().splitlines()]
    assert len(recs) == 24 and sum(r["label"] is not None for r in recs) == 9
    assert all(0.5 <= r["confidence"] <= 1 for r in recs)
    p.export(tmp_path / "ls.json", "label-studio", predictions=True)
    tasks = json.loads((tmp_path / "ls.json").read_text())
    first = tasks[0]
    assert first["data"]["text"].startswith("goal match")
    assert first["annotations"][0]["result"][0]["value"]["choices"] == ["sports"]
    assert first["predictions"][0]["result"][0]["to_name"] == "text"
    with pytest.raises(LabelwiseError, match="unknown export format 'xml'"):
        p.export(tmp_path / "x", "xml")


# -- import-labels ---------------------------------------------------------------------------------
def test_the_same_id_with_two_labels_is_a_conflict_with_its_lines(tmp_path):
    p = make(tmp_path, ["x", "y", "z"])
    labels = tmp_path / "l.csv"
    labels.write_text("id,label\nx,a\ny,b\n\nx,b\nz,a\nx,a\n")
    with pytest.raises(LabelwiseError, match=r"1 bad row: lines 2, 5, 7 \(id 'x' labeled 'a' "
                                             r"and 'b': a conflict\)"):
        p.import_labels(labels)
    assert p.active_labels() == []  # nothing imported
    labels.write_text("id,label\nx,a\ny,b\nx,a\n")  # a repeated row is no conflict
    assert p.import_labels(labels) == {"imported": 2, "already_labeled": 0, "duplicates": 1}
    labels.write_text("id,label\nx,b\n")  # an item labeled before is kept as it was
    assert p.import_labels(labels) == {"imported": 0, "already_labeled": 1, "duplicates": 0}
    assert {r["id"]: r["label"] for r in p.active_labels()} == {"x": "a", "y": "b"}


@pytest.mark.parametrize("content, message", [
    (b"id,label\nx,a,extra\ny\n", r"is malformed: 2 bad rows: line 2 \(3 fields, the header "
                                  r"has 2\), line 3 \(1 field"),
    (b'id,label\nx,a\n"y,b\nz,a\n', r"is malformed: line 4: unexpected end of data"),
    (b'id,label\nx,"a"b\n', r"is malformed: line 2: ',' expected after '\"'"),
    (b"id,label\nx,a\n\x00\x01\x02\xff", r"is malformed: line 3 holds binary data"),
    (b"id,label\nx,a\ny,\xe9\n", r"is malformed: line 3 is not UTF-8 text"),
    (b"\x89PNG\r\n\x1a\n\x00\x00", r"is malformed: line 3 holds binary data"),
    (b"", r"must have columns 'id' and 'label' \(has: none\)"),
    (b"name;class\nx;a\n", r"must have columns 'id' and 'label' \(has: name;class\)"),
])
def test_a_malformed_csv_is_reported_as_malformed_with_its_line(tmp_path, content, message):
    labels = tmp_path / "l.csv"
    labels.write_bytes(content)
    with pytest.raises(LabelwiseError, match=message) as err:
        read_label_csv(labels)
    assert "unknown id" not in str(err.value) and "\n" not in str(err.value)
    p = make(tmp_path, ["x", "y", "z"])
    with pytest.raises(LabelwiseError, match=message):
        p.import_labels(labels)


def test_an_export_reads_back_formulas_bom_and_extra_columns_included(tmp_path):
    ids = ["=1+2", "+sum", "-neg", "@at", "\tTab", "plain, with comma", 'say "hi"']
    p = make(tmp_path, ids)
    labels = tmp_path / "l.csv"
    with open(labels, "w", newline="", encoding="utf-8-sig") as f:  # as Excel saves it
        w = csv.writer(f)
        w.writerow(["id", "label"])
        w.writerows([(i, "ab"[k % 2]) for k, i in enumerate(ids)])
    assert p.import_labels(labels)["imported"] == 7
    p.export(tmp_path / "out.csv")
    q = make(tmp_path, ids, name="q")
    assert q.import_labels(tmp_path / "out.csv")["imported"] == 7  # id,label,annotator,...
    assert {r["id"]: r["label"] for r in q.active_labels()} == {
        i: "ab"[k % 2] for k, i in enumerate(ids)}


def test_cli_import_labels_messages(tmp_path, capsys):
    make(tmp_path, ["x", "y", "z"]).close()
    labels = tmp_path / "l.csv"
    labels.write_text("id,label\nx,a\n")
    code, out, _ = cli(["import-labels", tmp_path / "p", labels], capsys)
    assert (code, out) == (0, "imported 1 label; 0 items already labeled kept the label they "
                              "had\n")
    labels.write_text("id,label\nx,a\ny,b\ny,b\n")
    code, out, _ = cli(["import-labels", tmp_path / "p", labels], capsys)
    assert out == ("imported 1 label; 1 item already labeled kept the label they had; "
                   "1 repeated row counted once\n")
    labels.write_text("id,label\nz,a\nz,b\n")
    code, out, err = cli(["import-labels", tmp_path / "p", labels], capsys)
    assert code == 2 and err == (f"error: {labels}: 1 bad row: lines 2, 3 (id 'z' labeled 'a' "
                                 "and 'b': a conflict); classes are a, b\n")


# -- export ----------------------------------------------------------------------------------------
def test_csv_cells_that_a_spreadsheet_would_run_are_neutralised(tmp_path):
    assert neutralise_cell("=1+2") == "'=1+2" and neutralise_cell("\rx") == "'\rx"
    assert neutralise_cell("a=1") == "a=1" and neutralise_cell(0.5) == 0.5
    assert neutralise_cell(None) is None
    ids = ["=1+2", "+1", "-1", "@SUM(A1)", "\tx", "\rx", "safe", "a=b"]
    p = make(tmp_path, ids)
    for k in range(len(ids)):
        p.conn.execute("INSERT INTO labels (item_idx, label, annotator, created) VALUES "
                       "(?, ?, ?, 0)", (k, "ab"[k % 2], "=HYPERLINK(\"http://x\")"))
    p.export(tmp_path / "l.csv")
    with open(tmp_path / "l.csv", newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f))
    assert [r[0] for r in rows[1:]] == ["'=1+2", "'+1", "'-1", "'@SUM(A1)", "'\tx", "'\rx",
                                        "safe", "a=b"]
    assert {r[2] for r in rows[1:]} == {"'=HYPERLINK(\"http://x\")"}
    p.export(tmp_path / "l.jsonl", "jsonl")  # JSON is data, not a sheet: as it is
    assert json.loads((tmp_path / "l.jsonl").read_text().splitlines()[0])["id"] == "=1+2"


class FillsUp:
    """A file whose disk fills up after ``room`` bytes."""

    def __init__(self, f, room):
        self.f, self.room = f, room

    def write(self, s):
        if self.room < len(s):
            self.f.write(s[: self.room])
            raise OSError(errno.ENOSPC, "No space left on device")
        self.room -= len(s)
        return self.f.write(s)

    def __getattr__(self, name):
        return getattr(self.f, name)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return self.f.__exit__(*exc)


@pytest.mark.parametrize("format", ["csv", "jsonl", "label-studio"])
def test_a_failed_export_leaves_the_previous_one_and_no_temporary_file(tmp_path, monkeypatch,
                                                                       format):
    p = make(tmp_path, [f"item{i}" for i in range(200)])
    out = tmp_path / "exports" / f"labels.{format}"
    p.label(p.next_item("ann")["item"]["idx"], "a", "ann")
    p.export(out, format)
    before = out.read_bytes()
    p.conn.execute("INSERT INTO labels (item_idx, label, annotator, created) SELECT idx, 'b', "
                   "'bulk', 0 FROM items WHERE idx NOT IN (SELECT item_idx FROM labels)")

    def small_disk_open(*args, **kwargs):
        return FillsUp(open(*args, **kwargs), room=500)  # a third of the way through

    monkeypatch.setattr(files, "open", small_disk_open, raising=False)
    with pytest.raises(DiskFull, match=rf"the disk is full: {out} was not written \(a previous "
                                       r"export there is unchanged\); free some space"):
        p.export(out, format)
    assert out.read_bytes() == before
    beside = ["labels.label_config.xml"] if format == "label-studio" else []  # its config
    assert sorted(os.listdir(out.parent)) == sorted([out.name, *beside])
    monkeypatch.undo()
    assert p.export(out, format)["labeled"] == 200


def test_a_really_full_disk_keeps_the_previous_export(tmp_path, small_disk, fill_disk, capsys):
    p = make(tmp_path, [f"item{i:05d}" for i in range(2000)])
    p.conn.execute("INSERT INTO labels (item_idx, label, annotator, created) SELECT idx, 'b', "
                   "'bulk', 0 FROM items")
    p.close()
    disk = small_disk(256)
    out = disk / "labels.csv"
    code, _, _ = cli(["export", tmp_path / "p", "--out", out], capsys)
    assert code == 0
    before = out.read_bytes()
    assert len(before) > 60_000
    fill_disk(disk)
    code, _, err = cli(["export", tmp_path / "p", "--out", out], capsys)
    assert code == 2 and err == (f"error: the disk is full: {out} was not written (a previous "
                                 "export there is unchanged); free some space and export "
                                 "again\n")
    assert out.read_bytes() == before and sorted(os.listdir(disk)) == ["filler", "labels.csv"]


def test_export_to_a_folder_is_one_line(tmp_path):
    p = make(tmp_path, ["x", "y"])
    with pytest.raises(LabelwiseError, match="is a folder: give a file name"):
        p.export(tmp_path)


def test_transfer_works_alone_on_a_connection_labels_and_a_queue(tmp_path):
    import json

    from labelwise.app import db
    from labelwise.app.labeling import Queue
    from labelwise.app.labels import Labels
    from labelwise.app.project import DB_NAME, SETTING_DEFAULTS
    from labelwise.app.transfer import Transfer

    X = np.repeat(np.array([[0.0, 0.0], [5.0, 5.0]], dtype=np.float32), 3, axis=0)
    create_project(tmp_path / "p", [f"i{i}" for i in range(6)], X, ["a", "b"],
                   prepare=False).close()
    conn = db.connect(tmp_path / "p" / DB_NAME)
    settings = {**SETTING_DEFAULTS, **{k: json.loads(v) for k, v in
                                       conn.execute("SELECT key, value FROM settings")}}
    labels = Labels(lambda: conn)
    transfer = Transfer(lambda: conn, settings, tmp_path / "p", labels,
                        Queue(lambda: conn, settings),
                        lambda: make_learner("logreg", ["a", "b"], random_state=0), lambda: X)
    (tmp_path / "in.csv").write_text("id,label\ni0,a\ni5,b\ni0,a\n")
    assert transfer.import_labels(tmp_path / "in.csv") == {
        "imported": 2, "already_labeled": 0, "duplicates": 1}
    assert labels.labeled_arrays()[0].tolist() == [0, 5]
    out = transfer.export(tmp_path / "out.csv", predictions=True)
    assert (out["rows"], out["labeled"]) == (6, 2)
    rows = list(csv.DictReader(open(tmp_path / "out.csv", newline="")))
    assert [r["prediction"] for r in rows] == ["a"] * 3 + ["b"] * 3  # two far-apart points
