"""The sources of `labelwise embed`: listed without their items, read back as the loaders read."""

import json

import numpy as np
import pytest

from labelwise.data.images import load_image_folder
from labelwise.data.texts import load_text_table
from labelwise.distributed.embed_sources import Source, read_items, spec_rows
from labelwise.validation import LabelwiseError

CSV = ('\ufefftext,label\n'
       'plain first row,a\n'
       '"a quoted, comma row",b\n'
       '\n'
       '"a text over\ntwo lines",\n'
       '  padded  ,a\r\n'
       '"é accents ü",b\n')


@pytest.mark.parametrize("name, content", [
    ("t.csv", CSV),
    ("t.tsv", "label\ttext\nx\tone tab row\n\ny\t\"quoted\ttab\"\n"),
    ("t.jsonl", '\ufeff{"text": "first"}\n\n{"text": " second ", "label": "b"}\r\n'
                '{"text": "line\\nbreak é"}\n'),
])
def test_text_rows_read_back_as_the_loader_reads_them(tmp_path, name, content):
    path = tmp_path / name
    path.write_bytes(content.encode("utf-8"))
    raw = load_text_table(path)
    source = Source(path)
    assert source.n == len(raw.items) and list(source.ids()) == raw.ids
    spec = json.loads(json.dumps(source.spec(0, source.n)))  # as a Ray worker gets it
    assert read_items(spec, 0, source.n) == raw.items
    tail = source.spec(1, source.n)
    assert spec_rows(tail) == source.n - 1 and read_items(tail, 1, 2) == raw.items[2:3]


def test_bad_text_rows_are_all_listed_as_the_loader_lists_them(tmp_path):
    path = tmp_path / "t.jsonl"
    path.write_text('{"text": "ok"}\n[1]\n{"text": ""}\nnot json\n{"text": "ok", "label": [1]}\n')
    with pytest.raises(LabelwiseError) as loader:
        load_text_table(path)
    with pytest.raises(LabelwiseError) as ours:
        Source(path)
    assert str(ours.value) == str(loader.value)
    assert "4 bad rows" in str(ours.value)
    path.write_bytes(b'{"text": "ok"}\n{"text": "\xff"}\n')
    with pytest.raises(LabelwiseError, match="not UTF-8 text .bad byte at line 2"):
        Source(path)


def test_an_image_folder_is_listed_not_decoded(image_folder, monkeypatch):
    root = image_folder()
    from labelwise.data import images

    monkeypatch.setattr(images, "read_image", lambda *a, **k: pytest.fail("decoded"))
    source = Source(root)
    assert source.n == 18 and source.default_encoder == "efficientnet-lite0"
    monkeypatch.undo()
    raw = load_image_folder(root)
    assert list(source.ids()) == raw.ids
    got = read_items(source.spec(4, 9), 0, 5)
    assert all(np.array_equal(a, b) for a, b in zip(got, raw.items[4:9], strict=True))


def test_non_image_files_and_missing_paths_are_refused(tmp_path, image_folder):
    root = image_folder()
    (root / "notes.txt").write_text("x")
    with pytest.raises(LabelwiseError, match=r"1 bad files in .*notes.txt \(not an image file"):
        Source(root)
    with pytest.raises(LabelwiseError, match="it does not exist"):
        Source(tmp_path / "none.tsv")


def test_a_feature_file_is_read_by_row_range(tmp_path):
    X = np.arange(60, dtype=np.float32).reshape(20, 3)
    np.save(tmp_path / "f.npy", X)
    source = Source(tmp_path / "f.npy")
    assert source.ids() is None
    np.testing.assert_array_equal(read_items(source.spec(5, 15), 2, 4), X[7:9])
