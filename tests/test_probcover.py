"""ProbCover: greedy coverage and delta estimation on examples worked out by hand."""

import importlib.util

import numpy as np
import pytest

from labelwise.strategies.probcover import (
    ball_purity,
    estimate_delta,
    max_coverage,
    other_cluster_distance,
    probcover,
    probcover_candidates,
)
from labelwise.validation import LabelwiseError

# six points on a line; balls of radius 1.5:
#   0 -> {0, 1}   1 -> {0, 1, 2}   2 -> {1, 2}   5 -> {5, 6}   6 -> {5, 6}   10 -> {10}
LINE = np.array([0.0, 1.0, 2.0, 5.0, 6.0, 10.0])[:, None]

HAS_FAISS = importlib.util.find_spec("faiss") is not None
needs_faiss = pytest.mark.skipif(not HAS_FAISS, reason="faiss-cpu is not installed")
WITH_FAISS = ["sklearn", pytest.param("faiss", marks=needs_faiss)]


@pytest.mark.parametrize("backend", WITH_FAISS)
def test_greedy_order_on_six_points_of_a_line(backend):
    # degrees 2 3 2 2 2 1 -> row 1 (covers 0, 1, 2); then 0 0 0 2 2 1 -> row 3 (tie with 4,
    # lower row); then row 5; everything covered
    picks = probcover(LINE, 3, None, 1.5, 0, normalize=False, backend=backend)
    assert picks.tolist() == [1, 3, 5]


def test_labeled_points_cover_their_balls_from_the_start():
    # row 4 labeled covers {3, 4}: degrees 2 3 2 0 0 1 -> row 1, then row 5
    picks = probcover(LINE, 2, [4], 1.5, 0, normalize=False, backend="sklearn")
    assert picks.tolist() == [1, 5]


def test_once_all_is_covered_the_rest_is_random_and_seeded():
    a = probcover(LINE, 5, [4], 1.5, 3, normalize=False, backend="sklearn")
    assert a[:2].tolist() == [1, 5]
    # the last three: a seeded permutation of the uncovered-by-picks rows {0, 2, 3}
    rest = np.random.default_rng(3).choice([0, 2, 3], size=3, replace=False)
    assert a[2:].tolist() == rest.tolist()
    b = probcover(LINE, 5, [4], 1.5, 3, normalize=False, backend="sklearn")
    np.testing.assert_array_equal(a, b)


def test_ball_radius_is_inclusive():
    # radius exactly 1: 0 -> {0, 1}, 1 -> {0, 1, 2}, 2 -> {1, 2}: row 1 covers all
    x = np.array([[0.0], [1.0], [2.0]])
    assert probcover(x, 1, None, 1.0, 0, normalize=False, backend="sklearn").tolist() == [1]


def test_max_coverage_on_an_explicit_directed_graph():
    # 0 -> {0, 1, 2}, 1 -> {1}, 2 -> {2, 3}, 3 -> {3, 4}, 4 -> {4}
    indptr = np.array([0, 3, 4, 6, 8, 9])
    indices = np.array([0, 1, 2, 1, 2, 3, 3, 4, 4], dtype=np.int32)
    # degrees 3 1 2 2 1 -> 0; covered {0,1,2}: degrees 0 0 1 2 1 -> 3; then all covered
    assert max_coverage(indptr, indices, 2).tolist() == [0, 3]


@pytest.mark.parametrize("backend", WITH_FAISS)
def test_two_separated_rows_of_points_give_the_hand_computed_delta(backend):
    # 20 points 0.0 .. 1.9 and 20 points 10.0 .. 11.9: the nearest point of the other cluster
    # is 8.1, 8.2, ... 10.0 away, each value twice. 95% of 40 = 38 pure balls allow 2 impure:
    # delta in [8.1, 8.2) -> 8.175 on the grid 0.025, 0.075, ... (no value at a boundary);
    # all 40 pure needs delta < 8.1 -> 8.075
    x = np.concatenate([np.arange(20) * 0.1, 10 + np.arange(20) * 0.1])[:, None]
    grid = 0.025 + np.arange(400) * 0.05
    delta = estimate_delta(x, 2, 0.95, 0, grid=grid, normalize=False, backend=backend)
    assert delta == pytest.approx(8.175)
    assert estimate_delta(x, 2, 1.0, 0, grid=grid, normalize=False,
                          backend=backend) == pytest.approx(8.075)


def test_purity_counts_balls_that_reach_another_cluster():
    x = np.array([[0.0], [1.0], [4.0], [6.0]])
    r = other_cluster_distance(x, np.array([0, 0, 1, 1]), "sklearn")
    np.testing.assert_allclose(r, [4, 3, 3, 5])
    np.testing.assert_allclose(ball_purity(r, [2.9, 3.0, 4.5, 5.0]), [1, 0.5, 0.25, 0])


def test_blobs_on_the_sphere_each_get_a_pick():
    rng = np.random.default_rng(0)
    centres = np.eye(8)[:2] * 5
    X = np.vstack([c + rng.normal(scale=0.3, size=(100, 8)) for c in centres])
    delta = estimate_delta(X, 2, random_state=0, backend="sklearn")
    assert 0.1 < delta < 2.0
    picks = probcover(X, 2, None, delta, 0, backend="sklearn")
    assert {int(p) // 100 for p in picks} == {0, 1}


@needs_faiss
def test_faiss_and_sklearn_agree():
    rng = np.random.default_rng(1)
    centres = rng.normal(size=(5, 16)) * 3
    X = centres[rng.integers(5, size=800)] + rng.normal(size=(800, 16))
    d1 = estimate_delta(X, 5, random_state=2, backend="sklearn")
    d2 = estimate_delta(X, 5, random_state=2, backend="faiss")
    assert d1 == d2
    a = probcover(X, 40, np.arange(7), d1, 4, backend="sklearn")
    b = probcover(X, 40, np.arange(7), d1, 4, backend="faiss")
    np.testing.assert_array_equal(a, b)
    assert len(set(a.tolist())) == 40 and not set(a.tolist()) & set(range(7))


def test_delta_is_estimated_when_not_given_and_candidates_map_back():
    rng = np.random.default_rng(2)
    X = np.vstack([c + rng.normal(scale=0.3, size=(60, 6)) for c in np.eye(6)[:3] * 4])
    labeled = np.array([0, 60])  # one point of each of the first two blobs
    cand = np.setdiff1d(np.arange(180), labeled)
    pos = probcover_candidates(X[cand], X[labeled], 1, None, 0, n_clusters=3,
                               backend="sklearn")
    assert 120 <= cand[pos[0]] < 180  # the uncovered third blob
    with pytest.raises(LabelwiseError, match="n_clusters"):
        probcover(X, 1)


def test_too_many_edges_raise_before_building_the_graph():
    X = np.random.default_rng(0).normal(size=(200, 4))
    with pytest.raises(LabelwiseError, match="smaller delta"):
        probcover(X, 1, None, 2.0, 0, max_edges=1000, backend="sklearn")


def test_duplicates_are_covered_once_and_counted():
    """Three copies of row 0 make its ball the densest: one copy is picked, then the others
    cover nothing new; after full coverage the random picks take the copies last."""
    X = np.r_[np.zeros((3, 1)), [[10.0], [20.0], [30.0]]]
    with pytest.warns(UserWarning, match="^2 of the pool's 6 rows duplicate an earlier row; "
                                         "ProbCover covers each copy"):
        picks = probcover(X, 6, None, 0.5, 0, normalize=False, backend="sklearn")
    assert picks[:4].tolist() == [0, 3, 4, 5] and sorted(picks[4:].tolist()) == [1, 2]


def test_candidates_gathered_from_the_pool_pick_as_the_concatenated_pool():
    from labelwise.strategies.probcover import probcover_candidates

    rng = np.random.default_rng(5)
    pool = rng.normal(size=(600, 6)).astype(np.float32)
    rows = np.sort(rng.choice(600, 450, replace=False))
    covered = pool[:4].astype(np.float64)
    gathered = probcover_candidates(pool, covered, 7, 0.9, 3, rows)
    concatenated = probcover_candidates(pool[rows], covered, 7, 0.9, 3)
    assert gathered.tolist() == concatenated.tolist()
