"""The cold-start selectors' shared pool preparation: one buffer, the same values as before."""

from pathlib import Path

import numpy as np
import pytest

from labelwise.strategies import coldstart
from labelwise.strategies.coldstart import (
    kmeans_labels,
    pool_features,
    pool_parts,
    prepare_features,
)


def old_prepare(X, normalize=True):
    """The earlier prepare_features: a float32 copy of the whole pool, divided in place."""
    X = np.array(X, dtype=np.float32, order="C", copy=True)
    if normalize:
        norms = np.sqrt(np.einsum("ij,ij->i", X, X, dtype=np.float64))
        norms[norms == 0] = 1.0
        X /= norms[:, None].astype(np.float32)
    return X


def pools():
    rng = np.random.default_rng(3)
    for n, d, dtype in [(1, 1, np.float32), (7, 3, np.float64), (500, 384, np.float32),
                        (1000, 17, np.float64), (20_000, 10, np.float32)]:
        X = rng.normal(0, 3, (n, d)).astype(dtype)
        X[::7] = 0.0  # all-zero rows stay 0
        yield X


@pytest.mark.parametrize("normalize", [True, False])
def test_pool_features_are_bit_for_bit_the_old_copy(monkeypatch, normalize):
    monkeypatch.setattr(coldstart, "BLOCK_ROWS", 64)  # many blocks
    for X in pools():
        want = old_prepare(X, normalize)
        got = prepare_features(X, normalize)
        assert got.dtype == np.float32 and got.flags.c_contiguous
        assert np.array_equal(got.view(np.uint32), want.view(np.uint32))


def test_parts_gather_the_pool_without_concatenating(monkeypatch):
    monkeypatch.setattr(coldstart, "BLOCK_ROWS", 50)
    rng = np.random.default_rng(0)
    pool = rng.normal(size=(400, 12)).astype(np.float32)
    labeled = rng.normal(size=(9, 12))  # float64: cast like the old concatenation
    rows = np.sort(rng.choice(400, 300, replace=False))
    parts, lab = pool_parts(pool, labeled, rows)
    X, restore = pool_features(parts)
    want = old_prepare(np.concatenate([labeled, pool[rows]]))
    assert np.array_equal(X, want) and lab.tolist() == list(range(9))
    X[:] = 7.0  # the buffer is the caller's: restore() rewrites the same values
    restore()
    assert np.array_equal(X.view(np.uint32), want.view(np.uint32))


def test_a_memory_mapped_unit_norm_float32_pool_is_not_copied(tmp_path):
    rng = np.random.default_rng(1)
    X = old_prepare(rng.normal(size=(3000, 32)))
    norms = np.sqrt(np.einsum("ij,ij->i", X, X, dtype=np.float64)).astype(np.float32)
    X = X[norms == 1]  # the rows that are unit-norm in float32 exactly
    X[5] = 0.0
    np.save(tmp_path / "X.npy", X)
    pool = np.load(tmp_path / "X.npy", mmap_mode="r")
    out = prepare_features(pool)
    assert np.shares_memory(out, pool) and not out.flags.writeable
    assert np.array_equal(out, old_prepare(X))
    X2, restore = pool_features([(pool, None)])
    assert restore is None and np.shares_memory(X2, pool)


def test_a_pool_that_needs_normalising_is_copied_not_changed():
    X = np.arange(12, dtype=np.float32).reshape(4, 3)
    out = prepare_features(X)
    assert not np.shares_memory(out, X) and X[1, 0] == 3.0


@pytest.mark.parametrize("n_clusters", [3, 60])
def test_kmeans_in_place_gives_the_same_clusters_and_restores_the_pool(n_clusters):
    rng = np.random.default_rng(2)
    X, restore = pool_features([(rng.normal(size=(600, 8)), None)])
    want_X = X.copy()
    want = kmeans_labels(X.copy(), n_clusters, 0)
    got = kmeans_labels(X, n_clusters, 0, restore)
    assert np.array_equal(got, want)
    assert np.array_equal(X.view(np.uint32), want_X.view(np.uint32))


@pytest.mark.parametrize("n, d", [(1000, 2), (3001, 17), (20_000, 384), (5, 3), (512, 4),
                                  (3000, 1)])
@pytest.mark.parametrize("order", ["C", "F"])
def test_column_variances_are_numpys_bit_for_bit(monkeypatch, n, d, order):
    monkeypatch.setattr(coldstart, "BLOCK_ROWS", 256)  # many blocks
    X = (np.random.default_rng(n).normal(size=(n, d)) * 40 + 7).astype(np.float32, order=order)
    assert np.array_equal(coldstart.column_variances(X).view(np.uint32),
                          np.var(X, axis=0).view(np.uint32))


def test_the_block_tolerance_kmeans_is_an_ordinary_estimator():
    import pickle

    from sklearn.base import clone

    X = np.random.default_rng(8).normal(size=(800, 6)).astype(np.float32)
    km = coldstart.BlockToleranceKMeans(n_clusters=3, random_state=0, copy_x=False)
    first = km.fit(X.copy()).labels_.copy()
    assert np.array_equal(km.fit(X.copy()).labels_, first)  # a refit: its tolerance afresh
    again = pickle.loads(pickle.dumps(km))
    assert np.array_equal(again.predict(X), km.predict(X))
    assert clone(km).get_params() == km.get_params()


def test_in_place_kmeans_never_makes_numpys_centred_copy(monkeypatch):
    """scikit-learn's tolerance calls np.var, which centres a copy of the whole pool; the
    in-place k-means gets the same tolerance from the blocks (so the same clusters)."""
    from sklearn.cluster import KMeans

    rng = np.random.default_rng(4)
    X, restore = pool_features([(rng.normal(size=(3000, 16)) + rng.integers(0, 4, (3000, 1)),
                                 None)])
    plain = KMeans(7, random_state=5).fit(X.copy())

    def no_var(*args, **kwargs):
        raise AssertionError("np.var copies the pool")

    monkeypatch.setattr(np, "var", no_var)
    got = kmeans_labels(X, 7, 5, restore)
    assert np.array_equal(got, plain.labels_)
    km = coldstart._block_tolerance_kmeans()(n_clusters=7, random_state=5, copy_x=False)
    km.fit(X.copy())
    assert km._tol == plain._tol and km.n_iter_ == plain.n_iter_


def mapped_rss_kb(path) -> int:
    """Resident kB of this process's mappings of ``path`` (Linux /proc/self/smaps)."""
    total, inside = 0, False
    with open("/proc/self/smaps") as f:
        for line in f:
            if "-" in line.split(" ", 1)[0] and len(line.split()) >= 5:
                inside = line.rstrip().endswith(str(path))
            elif inside and line.startswith("Rss:"):
                total += int(line.split()[1])
    return total


@pytest.mark.skipif(not Path("/proc/self/smaps").exists(), reason="needs Linux /proc smaps")
def test_a_memory_mapped_pool_gives_its_pages_back_once_gathered(tmp_path, monkeypatch):
    monkeypatch.setattr(coldstart, "BLOCK_ROWS", 1024)
    X = np.random.default_rng(6).normal(size=(20_000, 256)).astype(np.float32)  # 20 MB
    np.save(tmp_path / "X.npy", X)
    pool = np.load(tmp_path / "X.npy", mmap_mode="r")
    float(pool.sum())  # every page resident, as after scoring the pool
    assert mapped_rss_kb(tmp_path / "X.npy") > 15_000
    buf, restore = pool_features([(pool, None)])
    assert mapped_rss_kb(tmp_path / "X.npy") < 2_000  # at most about one block's pages
    assert np.array_equal(buf, old_prepare(X)) and np.array_equal(pool, X)  # nothing lost
    restore()
    assert mapped_rss_kb(tmp_path / "X.npy") < 2_000
    rows = np.arange(0, 20_000, 3)  # candidates: rows gathered from the map
    buf, _ = pool_features([(pool, rows)])
    assert mapped_rss_kb(tmp_path / "X.npy") < 2_000
    assert np.array_equal(buf, old_prepare(X[rows]))
    private = np.load(tmp_path / "X.npy", mmap_mode="c")
    assert coldstart.shared_mapping(private) is None  # a private map may hold changes: kept
    assert coldstart.shared_mapping(pool[10:20]) is not None
    assert coldstart.shared_mapping(X) is None


@pytest.mark.skipif(not Path("/proc/self/smaps").exists(), reason="needs Linux /proc smaps")
def test_pages_given_back_keep_a_writable_maps_unflushed_writes(tmp_path, monkeypatch):
    monkeypatch.setattr(coldstart, "BLOCK_ROWS", 512)
    path = tmp_path / "W.npy"
    W = np.lib.format.open_memmap(path, mode="w+", dtype=np.float32, shape=(4000, 256))  # 4 MB
    W[:] = np.random.default_rng(9).normal(size=W.shape)
    W[17] = -1.0  # written, never flushed
    want = np.array(W)
    buf, _ = pool_features([(W, None)])
    assert mapped_rss_kb(path) < 1_000
    assert np.array_equal(W, want) and np.array_equal(buf, old_prepare(want))
    del W
    assert np.array_equal(np.load(path), want)  # and in the file
