"""Cluster-Margin (Citovsky et al. 2021): HAC with average linkage once, then the lowest-margin
candidates visited cluster by cluster round-robin, smallest cluster first."""

import math

import numpy as np
import pytest

from labelwise import ActiveLearner
from labelwise.strategies import get_strategy
from labelwise.strategies.cluster_margin import (
    KM_RATIO,
    cluster_margin,
    cluster_margin_selector,
    hac_clusters,
    hac_labels,
    margin_candidates,
    round_robin,
)
from labelwise.validation import LabelwiseError


def test_round_robin_by_hand():
    # clusters of the low-margin candidates: 5 has 3 members, 7 one, 9 two
    clusters = np.array([5, 5, 5, 7, 9, 9])
    for seed in range(20):
        picks = round_robin(clusters, 5, np.random.default_rng(seed))
        # sweep 1: the smallest cluster (7), then 9, then 5; sweep 2: 9's other member, then 5
        assert picks[0] == 3
        assert picks[1] in (4, 5) and picks[3] == 9 - picks[1]
        assert picks[2] in (0, 1, 2) and picks[4] in (0, 1, 2) and picks[4] != picks[2]
    assert sorted(round_robin(clusters, 6, np.random.default_rng(0))) == list(range(6))


def _published_cluster_order(clusters: np.ndarray, k: int) -> list:
    """The paper's loop, literally: sort the clusters by size ascending, then sweep them,
    taking one remaining member from each, until k are taken; returns the clusters in order."""
    ids, sizes = np.unique(clusters, return_counts=True)
    left = dict(zip(ids.tolist(), sizes.tolist(), strict=True))
    order = [c for _, c in sorted(zip(sizes.tolist(), ids.tolist(), strict=True))]
    out = []
    while len(out) < k:
        for c in order:
            if left[c] and len(out) < k:
                left[c] -= 1
                out.append(c)
    return out


def test_round_robin_follows_the_published_loop_and_is_uniform_within_a_cluster():
    rng = np.random.default_rng(0)
    clusters = rng.integers(0, 12, size=200)
    picks = round_robin(clusters, 150, np.random.default_rng(1))
    assert len(np.unique(picks)) == 150
    assert clusters[picks].tolist() == _published_cluster_order(clusters, 150)
    # which member of a cluster comes first is uniform: 3 members, each about 1/3 of 3,000 draws
    first = [round_robin(np.array([0, 0, 0]), 1, np.random.default_rng(s))[0]
             for s in range(3000)]
    counts = np.bincount(first, minlength=3)
    assert counts.min() > 900 and counts.max() < 1100


def test_only_the_km_lowest_margins_are_candidates():
    margins = np.array([0.9, 0.1, 0.8, 0.2, 0.7, 0.3, 0.05])
    clusters = np.array([0, 0, 1, 1, 2, 2, 0])
    picks = cluster_margin(margins, clusters, 2, np.random.default_rng(0), k_m=4)
    low = {6, 1, 3, 5}  # the four lowest margins
    assert set(picks) <= low
    # clusters among them: 0 holds {1, 6}, 1 holds {3}, 2 holds {5}: sizes 2, 1, 1; the
    # smallest (1, then 2 by the lower id) are visited first
    assert picks.tolist() == [3, 5]
    # with k_m = k the batch is the k lowest margins
    assert sorted(cluster_margin(margins, clusters, 3, np.random.default_rng(0), k_m=3)) == \
        [1, 3, 6]


def test_hac_average_linkage_by_hand():
    # on a line 0, 1, 2.1, 3.3: first {0, 1} (1.0); then average linkage compares
    # d({0, 1}, 2.1) = (2.1 + 1.1) / 2 = 1.6 with d(2.1, 3.3) = 1.2 and joins {2.1, 3.3};
    # single linkage would join 2.1 to {0, 1} (1.1) and leave 3.3 alone
    S = np.array([[0.0], [1.0], [2.1], [3.3]])
    labels = hac_labels(S, n_clusters=2)
    assert labels[0] == labels[1] != labels[2] == labels[3]
    assert len(set(hac_labels(S, n_clusters=4).tolist())) == 4  # every point alone


def test_a_sampled_clustering_puts_every_row_with_its_nearest_sampled_row():
    rng = np.random.default_rng(0)
    centres = np.array([[0, 0], [20, 0], [0, 20]], dtype=np.float32)
    X = (centres[rng.integers(0, 3, 600)] + rng.normal(size=(600, 2))).astype(np.float32)
    labels = hac_clusters(X, n_clusters=3, sample_size=60)
    truth = np.argmin(((X[:, None] - centres[None]) ** 2).sum(-1), axis=1)
    # the three blobs come out as three clusters, every row with its blob
    assert len(np.unique(labels)) == 3
    for c in range(3):
        assert len(np.unique(labels[truth == c])) == 1


@pytest.fixture(scope="module")
def problem():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(400, 5)).astype(np.float32)
    y = (X[:, 0] > 0).astype(int) + (X[:, 1] > 0.8)
    return X, y


def test_registered_strategy_picks_low_margin_candidates_once_per_pool_clustering(problem):
    X, y = problem
    assert get_strategy("cluster_margin").paper == "citovsky2021"
    lab = np.arange(0, 400, 20)
    al = ActiveLearner(X, "logreg", "cluster_margin", classes=[0, 1, 2], labeled_idx=lab,
                       labels=y[lab])
    al.fit()
    picks = al.query(15, random_state=0)
    assert len(np.unique(picks)) == 15 and not np.isin(picks, lab).any()
    np.testing.assert_array_equal(picks, al.query(15, random_state=0))
    assert len(al.pool_cache) == 1  # the clustering ran once for both queries
    margins = np.asarray(al.pick_scores())
    all_margins = np.sort(get_strategy("margin").score(al.last_context))
    assert margins.max() <= all_margins[margin_candidates(15, 380) - 1]  # the k_m lowest


def test_km_is_the_ratio_times_k_rounded_up_within_k_and_n():
    assert margin_candidates(200, 60_000, 1.25) == 250
    assert margin_candidates(3, 60_000, 1.25) == 4  # ceil(3.75)
    assert margin_candidates(200, 1_000, 10) == 1_000  # at most the candidates
    assert margin_candidates(200, 60_000, 1) == 200
    assert margin_candidates(200, 60_000) == math.ceil(float(KM_RATIO) * 200)


def test_a_selector_with_its_own_ratio(problem):
    X, y = problem
    lab = np.arange(0, 400, 20)
    al = ActiveLearner(X, "logreg", "margin", classes=[0, 1, 2], labeled_idx=lab, labels=y[lab])
    al.fit()
    al.query(1, random_state=0)
    ctx = al.last_context
    all_margins = np.sort(get_strategy("margin").score(ctx))
    picks = cluster_margin_selector(km_ratio=1.25)(ctx, 8)
    assert len(np.unique(picks)) == 8
    # k_m = 10: the eight picks come from the ten lowest margins
    assert get_strategy("margin").score(ctx)[picks].max() <= all_margins[10 - 1]
    for bad in (0.5, float("inf"), float("nan"), "2", True):
        with pytest.raises(LabelwiseError, match="km_ratio must be a finite number >= 1"):
            cluster_margin_selector(km_ratio=bad)
