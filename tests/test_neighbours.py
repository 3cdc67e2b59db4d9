"""Neighbour search: FAISS and scikit-learn agree, and the CSR helpers on tiny graphs."""

import importlib.util

import numpy as np
import pytest

from labelwise.strategies.coldstart import pool_of, prepare_features, sklearn_seed
from labelwise.strategies.neighbours import (
    gather_rows,
    knn_distances,
    nearest_distance,
    radius_graph,
    resolve_backend,
    transpose_csr,
)
from labelwise.validation import LabelwiseError

HAS_FAISS = importlib.util.find_spec("faiss") is not None
needs_faiss = pytest.mark.skipif(not HAS_FAISS, reason="faiss-cpu is not installed")
WITH_FAISS = ["sklearn", pytest.param("faiss", marks=needs_faiss)]


def _rows(indptr, indices):
    return [sorted(indices[indptr[i]:indptr[i + 1]].tolist()) for i in range(len(indptr) - 1)]


@pytest.mark.parametrize("backend", WITH_FAISS)
def test_knn_distances_by_hand(backend):
    x = np.array([[0.0], [1.0], [3.0], [6.0]], dtype=np.float32)
    expected = [[1, 3], [1, 2], [2, 3], [3, 5]]
    np.testing.assert_allclose(knn_distances(x, 2, backend), expected, rtol=1e-6)


@pytest.mark.parametrize("backend", WITH_FAISS)
def test_duplicates_leave_out_each_point_once(backend):
    x = np.array([[0.0], [0.0], [0.0], [5.0]], dtype=np.float32)
    np.testing.assert_allclose(knn_distances(x, 2, backend)[:3], 0.0)
    np.testing.assert_allclose(knn_distances(x, 2, backend)[3], [5, 5])


@needs_faiss
def test_backends_agree_on_random_data():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(500, 12)).astype(np.float32)
    np.testing.assert_allclose(knn_distances(X, 5, "sklearn"), knn_distances(X, 5, "faiss"),
                               rtol=1e-4)
    np.testing.assert_allclose(nearest_distance(X[:50], X[50:], "sklearn"),
                               nearest_distance(X[:50], X[50:], "faiss"), rtol=1e-4)
    g1 = radius_graph(X, 3.5, "sklearn", block=64)
    g2 = radius_graph(X, 3.5, "faiss", block=64)
    assert _rows(*g1) == _rows(*g2)
    assert all(i in row for i, row in enumerate(_rows(*g1)))  # self-loops


def test_radius_graph_by_hand():
    x = np.array([[0.0], [1.0], [2.5]], dtype=np.float32)
    indptr, indices = radius_graph(x, 1.5, "sklearn")
    assert indices.dtype == np.int32 and indptr.dtype == np.int64
    assert _rows(indptr, indices) == [[0, 1], [0, 1, 2], [1, 2]]


def test_transpose_and_gather():
    # 0 -> {1, 2}, 1 -> {}, 2 -> {0}
    indptr, indices = np.array([0, 2, 2, 3]), np.array([1, 2, 0], dtype=np.int32)
    t_ptr, t_idx = transpose_csr(indptr, indices, 3)
    assert _rows(t_ptr, t_idx) == [[2], [0], [0]]
    assert gather_rows(indptr, indices, np.array([2, 1, 0])).tolist() == [0, 1, 2]
    assert gather_rows(indptr, indices, np.array([1])).tolist() == []


def test_backend_names_and_missing_faiss(monkeypatch):
    assert resolve_backend("sklearn") == "sklearn"
    with pytest.raises(LabelwiseError, match="unknown neighbour backend"):
        resolve_backend("annoy")
    import builtins

    real_import = builtins.__import__

    def no_faiss(name, *args, **kwargs):
        if name == "faiss":
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_faiss)
    assert resolve_backend("auto") == "sklearn"
    with pytest.raises(LabelwiseError, match="coldstart"):
        resolve_backend("faiss")


def test_prepare_features_pool_and_seeds():
    X = prepare_features(np.array([[3.0, 4.0], [0.0, 0.0]]))
    np.testing.assert_allclose(X, [[0.6, 0.8], [0.0, 0.0]])
    assert X.dtype == np.float32
    pool, labeled = pool_of(np.ones((3, 2)), np.zeros((2, 2)))
    assert pool.shape == (5, 2) and labeled.tolist() == [0, 1]
    assert pool_of(np.ones((3, 2)), None)[1].tolist() == []
    with pytest.raises(LabelwiseError, match="same encoder"):
        pool_of(np.ones((3, 2)), np.zeros((2, 3)))
    assert sklearn_seed(np.random.default_rng(1)) == sklearn_seed(np.random.default_rng(1))
    assert sklearn_seed(None) is None and sklearn_seed(5) == 5


def _old_first_copies(X):
    """The earlier first_copies: one sort of the whole pool's row bytes."""
    X = np.ascontiguousarray(X)
    rows = X.reshape(len(X), -1).view(np.dtype((np.void, X.dtype.itemsize * X[0].size)))
    _, first, inverse = np.unique(rows.ravel(), return_index=True, return_inverse=True)
    return first.astype(np.int64)[inverse.ravel()]


@pytest.mark.parametrize("collide", [False, True])
def test_first_copies_by_hash_equal_a_sort_of_the_bytes(monkeypatch, collide):
    from labelwise.strategies import neighbours

    if collide:  # every row hashes alike: the byte comparison alone must sort them out
        monkeypatch.setattr(neighbours, "_row_hashes", lambda X: np.zeros(len(X), np.uint64))
    rng = np.random.default_rng(4)
    for n, d, dtype in [(1, 1, np.float32), (50, 3, np.float64), (3000, 5, np.float32),
                        (300, 7, np.float16)]:  # float16: rows of 14 bytes, hashed bytewise
        X = rng.integers(-2, 3, (n, d)).astype(dtype)
        X[rng.integers(0, n, 4)] = -0.0  # differs from 0.0 in its bytes
        assert np.array_equal(neighbours.first_copies(X), _old_first_copies(X))
