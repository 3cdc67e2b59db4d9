"""k-center greedy (Coreset) on examples worked out by hand."""

import numpy as np

from labelwise.strategies.selectors import kcenter_greedy, min_sq_distances

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
