"""k-center greedy (Coreset): examples worked out by hand, bad input, and the fast selector
against its plain reference loop."""

import numpy as np
import pytest

from labelwise.strategies.kcenter import kcenter_greedy, kcenter_greedy_plain
from labelwise.strategies.selectors import min_sq_distances
from labelwise.validation import LabelwiseError

# five candidates on a line, one labeled point at the origin
POOL = np.array([[1, 0], [4, 0], [10, 0], [6, 0], [9, 0]], dtype=np.float32)
LABELED = np.array([[0, 0]], dtype=np.float32)


def test_five_point_example_by_hand():
    # nearest-centre distances: 1 4 10 6 9 -> take 10 (index 2);
    # then min(., |x-10|): 1 4 0 4 1 -> tie between 4 and 6, lower index wins (index 1);
    # then min(., |x-4|): 1 0 0 2 1 -> take 6 (index 3)
    np.testing.assert_array_equal(kcenter_greedy(POOL, 3, LABELED), [2, 1, 3])


def test_without_labeled_points_the_first_centre_is_a_seeded_random_point():
    a = kcenter_greedy(POOL, 3, None, np.random.default_rng(5))
    b = kcenter_greedy(POOL, 3, None, np.random.default_rng(5))
    np.testing.assert_array_equal(a, b)
    first = int(np.random.default_rng(5).integers(len(POOL)))
    assert a[0] == first
    assert len(set(a.tolist())) == 3


def test_blocked_min_distances_equal_the_full_matrix():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(1000, 8)).astype(np.float32)
    C = rng.normal(size=(37, 8)).astype(np.float32)
    full = ((X[:, None, :] - C[None]) ** 2).sum(-1).min(1)
    blocked = min_sq_distances(X, C, block_rows=64, block_centers=5)
    np.testing.assert_allclose(blocked, full, rtol=1e-4, atol=1e-4)


def test_picks_are_unique_and_take_every_point_when_k_equals_n():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(50, 3)).astype(np.float32)
    picks = kcenter_greedy(X, 50, X[:0], rng)
    assert sorted(picks.tolist()) == list(range(50))


@pytest.mark.parametrize("k", [0, 6])
def test_k_outside_one_to_n_is_a_one_line_error(k):
    with pytest.raises(LabelwiseError, match="k"):
        kcenter_greedy(POOL, k, LABELED)


def test_labeled_points_with_other_columns_are_a_one_line_error():
    with pytest.raises(LabelwiseError, match="same number of columns"):
        kcenter_greedy(POOL, 2, np.zeros((1, 3), dtype=np.float32))


def assert_same_or_rounding_tie(X, centers, a, b, exact):
    """Equal picks; in float32 they may part only at a tie within rounding (BLAS kernels may sum a
    dot product in a different order for different matrix shapes), never at a real difference."""
    if a.tolist() == b.tolist() or exact:
        assert a.tolist() == b.tolist()
        return
    j = int(np.argmax(a != b))
    assert a[:j].tolist() == b[:j].tolist()
    ref = X[a[:j]].astype(np.float64)
    if centers is not None:
        ref = np.vstack([centers.astype(np.float64), ref])
    da, db = (((ref - X[i].astype(np.float64)) ** 2).sum(1).min() for i in (a[j], b[j]))
    assert abs(da - db) <= 1e-5 * max(da, db), (j, da, db)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("clustered", [False, True])
def test_fast_kcenter_equals_plain(blobs_24d, dtype, clustered):
    X, _ = blobs_24d(dtype, clustered)
    L = X[:50]
    P = X[50:]
    for cen in (None, L):
        a = kcenter_greedy_plain(P, 150, cen, np.random.default_rng(2))
        b = kcenter_greedy(P, 150, cen, np.random.default_rng(2))
        assert_same_or_rounding_tie(P, cen, a, b, exact=dtype == np.float64)


def test_kcenter_fast_on_duplicates_and_ties():
    X = np.array([[0.0], [0.0], [5.0], [5.0], [2.0], [10.0]])
    for cen in (None, np.array([[0.0]])):
        a = kcenter_greedy_plain(X, 5, cen, np.random.default_rng(0))
        b = kcenter_greedy(X, 5, cen, np.random.default_rng(0))
        assert a.tolist() == b.tolist()
    # with centre 0: farthest 10 (idx 5), then 5 (idx 2, lower of the tied pair), then 2.0 ...
    assert kcenter_greedy(X, 2, np.array([[0.0]])).tolist() == [5, 2]
