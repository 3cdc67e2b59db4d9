"""Benchmark data sets of the spurious-correlation suite, on tiny stand-in sources."""

import numpy as np
import pytest

from labelwise.data import spurious as SP
from labelwise.experiments import benchdata as B


@pytest.fixture
def tiny_images(monkeypatch):
    def source(name, pool, test, seed=0):
        rng = np.random.default_rng(0)  # the same images on every call
        out = []
        for n in (pool, test):
            imgs = np.zeros((n, 8, 8), np.uint8)
            imgs[:, 2:6, 2:6] = rng.integers(100, 256, (n, 4, 4))
            out += [imgs, np.arange(n) % 10]
        return (*out, [str(k) for k in range(10)])

    monkeypatch.setattr(B, "_source", source)


def test_image_features_equal_encoding_the_painted_split(tiny_images):
    ds = B.build_bench_dataset("spurious", encoder="identity", agreement=0.9, pool=200,
                               test=100, cue="stripes", seed=3)
    imgs, y = B._source("", 200, 100)[:2]
    core = (~np.isin(y, B.FMNIST_TOPS)).astype(np.int64)
    np.testing.assert_array_equal(ds.y_train, core)
    attr = ds.groups_train % 2
    for c in (0, 1):  # exact agreement within each core class
        assert (attr[core == c] == c).sum() == round(0.9 * 100)
    np.testing.assert_array_equal(attr, SP.spurious_attribute(core, 0.9, 3))
    # encoding each image under both cues and picking rows = encoding the painted split
    painted = SP.paint_cue(imgs, attr, "stripes").reshape(200, -1) / np.float32(255)
    np.testing.assert_allclose(ds.X_train, painted, atol=1e-6)
    assert sorted(np.bincount(ds.groups_test)) == [25, 25, 25, 25]


def test_standardized_features(tiny_images):
    ds = B.build_bench_dataset("spurious", encoder="identity", pool=200, test=100,
                               cue="stripes", standardized=True)
    moving = ds.X_train.std(axis=0) > 0
    np.testing.assert_allclose(ds.X_train.mean(axis=0), 0, atol=1e-5)
    np.testing.assert_allclose(ds.X_train.std(axis=0)[moving], 1, atol=1e-4)


def test_text_split_headlines_and_cues(monkeypatch):
    from labelwise.data import text_corpora as tc
    from labelwise.data.dataset import Dataset

    topics = ["business", "entertainment", "politics", "sports", "tech"]
    texts = [f"{topics[i % 5]} headline {i}\n\nbody {i}" for i in range(200)]
    y = np.arange(200) % 5
    fake = Dataset("bbc-news", np.zeros((150, 0)), y[:150], np.zeros((50, 0)), y[150:],
                   topics, raw_train=texts[:150], raw_test=texts[150:])
    monkeypatch.setattr(tc, "load_bbc_news", lambda: fake)
    seen = []

    def encode(encoder, *sets):  # features: which cue the text ends with, and its length
        seen.extend(t for s in sets for t in s)
        return [np.array([[t.endswith("Denver."), len(t)] for t in s], np.float32)
                for s in sets]

    monkeypatch.setattr(B, "_encode", encode)
    ds = B.build_bench_dataset("spurious-text", agreement=0.95, seed=1)
    np.testing.assert_array_equal(ds.y_train, np.isin(y[:150], (1, 3)))
    attr = ds.groups_train % 2
    np.testing.assert_array_equal(ds.X_train[:, 0], attr)  # each row has its own cue
    assert (attr[ds.y_train == 1] == 1).sum() == round(0.95 * 60)
    assert "business headline 0 Posted from Boston." in seen  # the headline, not the body
    assert not any("body" in t for t in seen)


def test_items_are_the_painted_images_for_fine_tuning(tiny_images):
    ds = B.build_bench_dataset("spurious", encoder="items", pool=60, test=40, cue="stripes")
    assert ds.X_train.shape == (60, 1) and ds.X_test[0, 0] == 60  # indices: pool, then test
    imgs = B._source("", 60, 40)[0]
    attr = ds.groups_train % 2
    np.testing.assert_array_equal(np.stack(ds.info["items"][:60]),
                                  SP.paint_cue(imgs, attr, "stripes"))
    assert len(ds.info["items"]) == 100 and ds.groups_test is not None
