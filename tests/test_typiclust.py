"""TypiClust and typicality on examples worked out by hand."""

import importlib.util

import numpy as np
import pytest

from labelwise.strategies.typiclust import typicality, typiclust, typiclust_candidates
from labelwise.validation import LabelwiseError

HAS_FAISS = importlib.util.find_spec("faiss") is not None
needs_faiss = pytest.mark.skipif(not HAS_FAISS, reason="faiss-cpu is not installed")
WITH_FAISS = ["sklearn", pytest.param("faiss", marks=needs_faiss)]


@pytest.mark.parametrize("backend", WITH_FAISS)
def test_typicality_of_five_points_on_a_line(backend):
    x = np.array([[0.0], [1.0], [3.0], [6.0], [10.0]])
    # two nearest others and their mean distance:
    # 0: 1, 3 -> 2;  1: 0, 3 -> 1.5;  3: 1, 6 -> 2.5;  6: 3, 10 -> 3.5;  10: 6, 3 -> 5.5
    expected = 1.0 / np.array([2.0, 1.5, 2.5, 3.5, 5.5])
    np.testing.assert_allclose(typicality(x, 2, backend), expected, rtol=1e-6)


def test_typicality_uses_at_most_n_minus_one_neighbours():
    x = np.array([[0.0], [2.0], [6.0]])
    # k = min(20, 2): 0 -> (2 + 6) / 2 = 4;  2 -> (2 + 4) / 2 = 3;  6 -> (4 + 6) / 2 = 5
    np.testing.assert_allclose(typicality(x, 20, "sklearn"), [1 / 4, 1 / 3, 1 / 5])
    assert typicality(x[:1], 20, "sklearn").tolist() == [0.0]


def _grid(centre, half):
    """(2h+1)^2 points of an integer grid around ``centre``: the middle one is the densest."""
    r = np.arange(-half, half + 1, dtype=float)
    return np.stack(np.meshgrid(r, r), -1).reshape(-1, 2) + centre


def _blobs():
    small = _grid((0, 0), 1)  # 9 points, centre at row 4
    plus = np.array([[2, 0], [-2, 0], [0, 2], [0, -2]], float) + (40, 0)
    medium = np.vstack([_grid((40, 0), 1), plus])  # 13 points, centre at row 9 + 4
    large = _grid((0, 40), 2)  # 25 points, centre at row 22 + 12
    return np.vstack([small, medium, large]), {"small": 4, "medium": 13, "large": 34}


@pytest.mark.parametrize("backend", WITH_FAISS)
def test_one_pick_per_cluster_the_densest_largest_cluster_first(backend):
    X, centre = _blobs()
    picks = typiclust(X, 3, None, 0, normalize=False, backend=backend)
    # no labels: every cluster has 0, so largest first (25, 13, 9 points), each its centre
    assert picks.tolist() == [centre["large"], centre["medium"], centre["small"]]


def test_labeled_clusters_come_last():
    X, centre = _blobs()
    # one labeled point in the large blob, 2 picks -> 1 + 2 = 3 clusters, the two others first
    picks = typiclust(X, 2, [22], 0, normalize=False, backend="sklearn")
    assert picks.tolist() == [centre["medium"], centre["small"]]


def test_clusters_of_five_points_or_fewer_are_skipped():
    X, centre = _blobs()
    tiny = np.array([[80.0, 80.0], [80.0, 80.1], [80.1, 80.0]])  # dense but only 3 points
    X = np.vstack([X[:22], tiny])  # small + medium blobs and the tiny one: 3 clusters
    picks = typiclust(X, 3, None, 0, normalize=False, backend="sklearn")
    # the tiny cluster is skipped: after one pick in each blob, the larger blob again
    assert picks[:2].tolist() == [centre["medium"], centre["small"]]
    assert 9 <= picks[2] < 22 and picks[2] != centre["medium"]


def test_picks_are_new_unique_and_deterministic_for_a_seed():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(150, 8))
    labeled = rng.choice(150, 20, replace=False)
    a = typiclust(X, 50, labeled, 7, backend="sklearn")
    b = typiclust(X, 50, labeled, 7, backend="sklearn")
    np.testing.assert_array_equal(a, b)
    assert len(set(a.tolist())) == 50
    assert not set(a.tolist()) & set(labeled.tolist())
    # the whole unlabeled pool can be taken, small clusters last
    everything = typiclust(X, 130, labeled, 7, backend="sklearn")
    assert sorted(everything.tolist()) == sorted(set(range(150)) - set(labeled.tolist()))


@needs_faiss
def test_faiss_and_sklearn_pick_the_same():
    rng = np.random.default_rng(1)
    centres = rng.normal(size=(6, 16)) * 4
    X = centres[rng.integers(6, size=600)] + rng.normal(size=(600, 16))
    a = typiclust(X, 30, np.arange(10), 3, backend="sklearn")
    b = typiclust(X, 30, np.arange(10), 3, backend="faiss")
    np.testing.assert_array_equal(a, b)


def test_candidates_adaptor_returns_candidate_positions():
    X, centre = _blobs()
    labeled = np.array([22])
    cand = np.setdiff1d(np.arange(len(X)), labeled)
    pos = typiclust_candidates(X[cand], X[labeled], 2, 0, normalize=False, backend="sklearn")
    assert cand[pos].tolist() == [centre["medium"], centre["small"]]


def test_bad_requests_raise_one_line_errors():
    X = np.random.default_rng(0).normal(size=(10, 3))
    with pytest.raises(LabelwiseError, match="only 8 of 10 are unlabeled"):
        typiclust(X, 9, [0, 1])
    with pytest.raises(LabelwiseError, match="outside"):
        typiclust(X, 2, [10])
    with pytest.raises(LabelwiseError, match="twice"):
        typiclust(X, 2, [1, 1])
    with pytest.raises(LabelwiseError, match="NaN"):
        typiclust(np.full((5, 2), np.nan), 1)
    assert typiclust(X, 0).tolist() == []


def test_duplicates_share_a_finite_typicality():
    # distinct points 0, 1, 3 on a line (k = 1): nearest distinct distances 1, 1, 2
    X = np.array([[0.0, 0], [0, 0], [1, 0], [3, 0], [3, 0]])
    assert typicality(X, k_nn=1, backend="sklearn").tolist() == [1.0, 1.0, 1.0, 0.5, 0.5]
    assert typicality(np.ones((4, 2)), k_nn=3).tolist() == [0.0] * 4  # one point only


def test_exact_duplicates_are_not_picked_first_and_are_counted(recwarn):
    """The attack: three copies of a point at the edge of a cluster used to be "infinitely
    typical" (their k = 2 nearest neighbours at distance 0) and were picked before its centre."""
    from sklearn.neighbors import NearestNeighbors

    rng = np.random.default_rng(0)
    X = np.r_[rng.normal(0, 1, (40, 2)), [[3.0, 3.0]] * 3]
    picks = typiclust(X, 1, random_state=0, normalize=False, max_clusters=1, k_nn=2,
                      backend="sklearn")
    distinct = X[:41]  # by hand: 1 / mean distance to the 2 nearest other distinct points
    d = NearestNeighbors(n_neighbors=2).fit(distinct).kneighbors()[0]
    assert picks.tolist() == [int(np.argmax(1 / d.mean(axis=1)))]
    assert [str(w.message) for w in recwarn if "duplicate" in str(w.message)] == [
        "2 of the pool's 43 rows duplicate an earlier row; TypiClust counts each group of "
        "duplicates as one point and picks its copies last"]


def test_copies_come_last_within_their_cluster():
    X = np.array([[0.0, 0], [0, 0], [0, 0], [0.1, 0], [0.2, 0], [0.3, 0]])
    with pytest.warns(UserWarning, match="2 of the pool's 6 rows duplicate"):
        picks = typiclust(X, 6, random_state=0, normalize=False, max_clusters=1,
                          backend="sklearn")
    assert sorted(picks[:4].tolist()) == [0, 3, 4, 5] and sorted(picks[4:].tolist()) == [1, 2]


def test_low_copy_picks_equal_the_old_copying_path(monkeypatch):
    """One normalised buffer, hashed duplicates and k-means in place pick exactly what the
    earlier code did: a normalised copy, a sort of the rows' bytes and k-means on its own copy."""
    from labelwise.strategies import coldstart
    from labelwise.strategies import typiclust as module

    def old_pool_features(parts, normalize=True):
        X = np.concatenate([X if rows is None else X[rows] for X, rows in parts])
        X = np.array(X, dtype=np.float32, order="C", copy=True)
        if normalize:
            norms = np.sqrt(np.einsum("ij,ij->i", X, X, dtype=np.float64))
            norms[norms == 0] = 1.0
            X /= norms[:, None].astype(np.float32)
        return X, None  # None: k-means copies the pool, as before

    def old_first_copies(X):
        rows = np.ascontiguousarray(X).view(np.dtype((np.void, X.dtype.itemsize * X.shape[1])))
        _, first, inverse = np.unique(rows.ravel(), return_index=True, return_inverse=True)
        return first.astype(np.int64)[inverse.ravel()]

    rng = np.random.default_rng(7)
    pool = rng.normal(size=(1500, 16)).astype(np.float32)
    pool[100:130] = pool[5]  # duplicates
    unit = coldstart.prepare_features(pool)  # float32 rows of norm ~1 (most not exactly 1)
    rows = np.sort(rng.choice(1500, 1200, replace=False))
    cases = [lambda: typiclust(pool, 12, None, 0),
             lambda: typiclust(pool.astype(np.float64), 8, [3, 50, 700], 1),
             lambda: typiclust(pool, 70, np.arange(0, 1500, 40), 2),  # MiniBatchKMeans
             lambda: typiclust(unit, 9, None, 3),
             lambda: typiclust_candidates(pool, pool[:5], 10, 4, rows)]
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the duplicates' warning
        new = [case() for case in cases]
        monkeypatch.setattr(module, "pool_features", old_pool_features)
        monkeypatch.setattr(module, "first_copies", old_first_copies)
        old = [case() for case in cases]
    assert [a.tolist() for a in new] == [b.tolist() for b in old]
