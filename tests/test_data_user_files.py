"""User data: image folders and text tables, each malformed-input case, and load_dataset routing."""

import json

import numpy as np
import pytest
from PIL import Image

from labelwise.data import load_dataset
from labelwise.data.encoded import dataset_from_raw
from labelwise.data.images import load_image_folder
from labelwise.data.texts import load_text_table
from labelwise.validation import LabelwiseError


def png(path, value: int, size=(5, 4), mode="RGB"):
    path.parent.mkdir(parents=True, exist_ok=True)
    color = value if mode == "L" else (value, 0, 255 - value)
    Image.new(mode, size, color).save(path)


@pytest.fixture
def image_folder(tmp_path):
    root = tmp_path / "imgs"
    for i in range(4):
        png(root / "cat" / f"{i}.png", 10 + i)
        png(root / "dog" / f"{i}.jpg" if i % 2 else root / "dog" / f"{i}.png", 200 + i, mode="L")
    return root


# ---- images -------------------------------------------------------------------------------


def test_image_folder_labels_ids_and_pixels(image_folder):
    raw = load_image_folder(image_folder)
    assert raw.modality == "image" and len(raw) == 8
    assert raw.ids[:2] == ["cat/0.png", "cat/1.png"] and raw.ids[4] == "dog/0.png"
    assert raw.labels == ["cat"] * 4 + ["dog"] * 4
    first = raw.items[0]
    assert first.shape == (4, 5, 3) and first.dtype == np.uint8
    np.testing.assert_array_equal(first[0, 0], [10, 0, 245])
    # a grayscale PNG becomes three equal channels
    np.testing.assert_array_equal(raw.items[4][2, 3], [200, 200, 200])


def test_flat_folder_is_unlabeled_and_mixed_top_level_files_are_unlabeled(tmp_path):
    png(tmp_path / "a.png", 1)
    png(tmp_path / "b.png", 2)
    raw = load_image_folder(tmp_path)
    assert raw.labels is None and raw.ids == ["a.png", "b.png"]
    png(tmp_path / "cls" / "c.png", 3)
    raw = load_image_folder(tmp_path)
    assert raw.labels == [None, None, "cls"]


def test_hidden_files_are_ignored(image_folder):
    (image_folder / ".DS_Store").write_bytes(b"\x00junk")
    assert len(load_image_folder(image_folder)) == 8


def test_unreadable_and_non_image_files_are_listed(image_folder):
    (image_folder / "cat" / "broken.png").write_bytes(b"not a png at all")
    (image_folder / "dog" / "notes.txt").write_text("hello")
    with pytest.raises(LabelwiseError) as err:
        load_image_folder(image_folder)
    msg = str(err.value)
    assert "2 bad files" in msg and "cat/broken.png" in msg and "dog/notes.txt" in msg
    with pytest.warns(UserWarning, match="cat/broken.png"):
        raw = load_image_folder(image_folder, skip_bad=True)
    assert len(raw) == 8


def test_missing_or_empty_folder(tmp_path):
    with pytest.raises(LabelwiseError, match="not found"):
        load_image_folder(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(LabelwiseError, match="no images"):
        load_image_folder(tmp_path / "empty")


def test_many_offenders_are_counted(tmp_path):
    for i in range(12):
        (tmp_path / f"bad{i:02d}.png").write_bytes(b"x")
    with pytest.raises(LabelwiseError, match=r"12 bad files.*and 4 more"):
        load_image_folder(tmp_path)


# ---- texts --------------------------------------------------------------------------------


def test_csv_with_quotes_commas_and_partial_labels(tmp_path):
    p = tmp_path / "t.csv"
    p.write_text('id,text,label\n1,"hello, world",pos\n2,"two\nlines",\n3,plain,neg\n')
    raw = load_text_table(p)
    assert raw.items == ["hello, world", "two\nlines", "plain"]
    assert raw.labels == ["pos", None, "neg"]
    assert raw.ids == ["line 2", "line 4", "line 5"]  # the quoted newline spans lines 3-4
    assert raw.modality == "text"


def test_csv_without_label_column_is_unlabeled_and_named_columns(tmp_path):
    p = tmp_path / "t.csv"
    p.write_text("body,topic\nx,a\ny,b\n")
    assert load_text_table(p, text_column="body", label_column=None).labels is None
    assert load_text_table(p, text_column="body", label_column="topic").labels == ["a", "b"]
    with pytest.raises(LabelwiseError, match="no text column 'text'.*body, topic"):
        load_text_table(p)


def test_csv_malformed_rows_and_empty_texts_are_listed(tmp_path):
    p = tmp_path / "t.csv"
    p.write_text("text,label\ngood,a\nbad,a,extra\n   ,b\nfine,b\n")
    with pytest.raises(LabelwiseError) as err:
        load_text_table(p)
    msg = str(err.value)
    assert "2 bad rows" in msg and "line 3 (3 fields, header has 2)" in msg
    assert "line 4 (empty text)" in msg
    with pytest.warns(UserWarning):
        raw = load_text_table(p, skip_bad=True)
    assert raw.items == ["good", "fine"] and raw.labels == ["a", "b"]


def test_tsv(tmp_path):
    p = tmp_path / "t.tsv"
    p.write_text("text\tlabel\na, b\tx\nc\ty\n")
    assert load_text_table(p).items == ["a, b", "c"]


def test_jsonl_rows_and_every_bad_line(tmp_path):
    p = tmp_path / "t.jsonl"
    lines = [json.dumps({"text": "one", "label": 1}), "", "{not json", json.dumps([1, 2]),
             json.dumps({"label": "a"}), json.dumps({"text": "", "label": "b"}),
             json.dumps({"text": 5}), json.dumps({"text": "two", "label": None})]
    p.write_text("\n".join(lines) + "\n")
    with pytest.raises(LabelwiseError) as err:
        load_text_table(p)
    msg = str(err.value)
    assert "5 bad rows" in msg
    for part in ("line 3 (not JSON", "line 4 (a JSON list", "line 5 (no 'text')",
                 "line 6 (empty text)", "line 7 (text is a int"):
        assert part in msg
    with pytest.warns(UserWarning):
        raw = load_text_table(p, skip_bad=True)
    assert raw.items == ["one", "two"] and raw.labels == ["1", None]


def test_non_utf8_and_unknown_suffix_and_empty(tmp_path):
    p = tmp_path / "t.csv"
    p.write_bytes(b"text\nok\ncaf\xe9\n")
    with pytest.raises(LabelwiseError, match="not UTF-8 text.*line 3"):
        load_text_table(p)
    q = tmp_path / "t.xlsx"
    q.write_text("x")
    with pytest.raises(LabelwiseError, match="expected one of"):
        load_text_table(q)
    e = tmp_path / "e.csv"
    e.write_text("")
    with pytest.raises(LabelwiseError, match="empty"):
        load_text_table(e)


# ---- RawData -> Dataset and load_dataset routing ----------------------------------------------


def test_dataset_from_raw_split_and_errors(image_folder):
    raw = load_image_folder(image_folder)
    ds = dataset_from_raw(raw, test_size=0.25)
    assert ds.classes == ["cat", "dog"]
    assert len(ds.raw_train) == 6 and len(ds.raw_test) == 2
    assert sorted(ds.y_test.tolist()) == [0, 1]  # stratified: one test item per class
    assert sorted(ds.info["ids_train"] + ds.info["ids_test"]) == sorted(raw.ids)
    raw.labels[3] = None
    with pytest.raises(LabelwiseError, match="1 item.*cat/3.png"):
        dataset_from_raw(raw)
    raw.labels = None
    with pytest.raises(LabelwiseError, match="no labels"):
        dataset_from_raw(raw)


def test_load_dataset_image_folder_gives_pixels(image_folder, tmp_path, monkeypatch):
    monkeypatch.setenv("LABELWISE_CACHE", str(tmp_path / "cache"))
    ds = load_dataset(str(image_folder))
    assert ds.X_train.shape == (6, 4 * 5 * 3) and ds.info["encoder"] == "identity"
    assert ds.X_train.max() <= 1.0
    # pixel features of the first pool image, by hand: (R, G, B) = (v, 0, 255 - v) / 255
    v = 10 + int(ds.info["ids_train"][0][len("cat/")])  # cat/<i>.png has value 10 + i
    assert ds.info["ids_train"][0].startswith("cat/")
    np.testing.assert_allclose(ds.X_train[0, :3], np.array([v, 0, 255 - v]) / 255, rtol=1e-6)


def test_load_dataset_text_csv_uses_minilm_by_default(tmp_path, monkeypatch):
    calls = []

    class FakeEncoder:
        modality = "text"

        def __init__(self, name):
            self.name = name

    def fake_embed(encoder, items, cache_dir=None, progress=True):
        calls.append((encoder.name, list(items)))
        return np.array([[len(t), 1.0] for t in items], np.float32)

    import labelwise.encoders

    # the real MiniLM is exercised by the encoders' tests; here only the routing is checked
    monkeypatch.setattr(labelwise.encoders, "get_encoder", FakeEncoder)
    monkeypatch.setattr(labelwise.encoders, "embed", fake_embed)
    p = tmp_path / "t.csv"
    p.write_text("text,label\n" + "".join(f"{'w' * (i + 1)},{'ab'[i % 2]}\n" for i in range(8)))
    ds = load_dataset(str(p))
    assert [c[0] for c in calls] == ["minilm", "minilm"]
    assert ds.X_train.shape == (6, 2) and ds.info["encoder"] == "minilm"
    np.testing.assert_array_equal(ds.X_train[:, 0], [len(t) for t in ds.raw_train])


def test_load_dataset_numeric_csv_is_still_a_feature_file(tmp_path):
    p = tmp_path / "f.csv"
    p.write_text("a,b,label\n" + "".join(f"{i},{i * 2},{i % 2}\n" for i in range(8)))
    ds = load_dataset(str(p))
    assert ds.X_train.shape[1] == 2


def test_load_dataset_unknown_name_lists_user_formats():
    with pytest.raises(LabelwiseError, match="image folder"):
        load_dataset("no-such-dataset")


def test_simulate_on_an_image_folder_records_the_encoder(image_folder, tmp_path, monkeypatch):
    import json

    from labelwise.experiments.simulate import simulate

    monkeypatch.setenv("LABELWISE_CACHE", str(tmp_path / "cache"))
    for i in range(4, 8):  # 8 images per class: enough for a seed set and two rounds
        png(image_folder / "cat" / f"{i}.png", 20 + i)
        png(image_folder / "dog" / f"{i}.png", 180 + i, mode="L")
    results = simulate(dataset=str(image_folder), strategies=["random"], seeds=1, seed_size=4,
                       batch_size=2, rounds=2, encoder="identity", out=tmp_path / "out",
                       n_jobs=1, progress=False)
    assert results["n_labeled"].tolist() == [4, 6, 8]
    assert json.loads((tmp_path / "out" / "config.json").read_text())["encoder"] == "identity"
    with pytest.raises(LabelwiseError, match="embeds texts"):
        simulate(dataset=str(image_folder), strategies=["random"], seeds=1, encoder="minilm",
                 n_jobs=1, progress=False)


def test_large_images_are_shrunk_keeping_the_aspect(tmp_path):
    png(tmp_path / "big.png", 7, size=(1000, 250))
    assert load_image_folder(tmp_path).items[0].shape == (128, 512, 3)
    assert load_image_folder(tmp_path, max_side=None).items[0].shape == (250, 1000, 3)
