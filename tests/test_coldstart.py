"""The cold-start selectors' shared pool preparation: one buffer, the same values as before."""

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
