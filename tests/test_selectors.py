"""Selectors on hand-computed examples: diversify (Algorithm 1 of Aggarwal, Popescu & Hudelot
2022), the per-class quota (Krishnan et al. 2021), the tie-broken top-k; and the import paths that
the registry uses."""

import numpy as np

from labelwise.strategies import kcenter
from labelwise.strategies import selectors as S


def diversify_loop(order, groups, k):
    """Aggarwal et al. 2022, Algorithm 1, literally."""
    taken = []
    while len(taken) < min(k, len(order)):
        seen = set()
        for i in order:
            if groups[i] not in seen and i not in taken:
                taken.append(int(i))
                seen.add(groups[i])
    return taken[:k]


def test_diversify_sweep_order_hand_computed():
    groups = np.array([0, 0, 1, 0, 2, 1])
    order = np.array([5, 3, 0, 1, 4, 2])
    # sweep 1: 5 (g1), 3 (g0), 4 (g2); sweep 2: 0 (g0), 2 (g1); sweep 3: 1 (g0)
    assert S.diversify(order, groups, 6).tolist() == [5, 3, 4, 0, 2, 1]
    assert S.diversify(order, groups, 4).tolist() == [5, 3, 4, 0]


def test_diversify_matches_algorithm_1_on_random_orders():
    rng = np.random.default_rng(0)
    for _ in range(20):
        n = int(rng.integers(1, 60))
        groups = rng.integers(0, 5, size=n)
        order = rng.permutation(n)
        k = int(rng.integers(1, n + 1))
        assert S.diversify(order, groups, k).tolist() == diversify_loop(order, groups, k)


def test_per_class_quota_when_a_class_runs_short():
    groups = np.array([0, 0, 0, 1, 1, 1, 1, 2])
    score = np.array([0.5, 0.1, 0.3, 0.9, 0.2, 0.05, 0.6, 0.7])
    # quota 6 / 3 = 2 lowest per class; class 2 has one item, its unused slot goes to the
    # lowest remaining score overall (item 0, 0.5)
    assert S.per_class_quota(score, groups, 3, 6).tolist() == [1, 2, 5, 4, 7, 0]
    # remainder: k = 7 -> quota 2 and one extra; plus class 2's unused slot
    assert S.per_class_quota(score, groups, 3, 7).tolist() == [1, 2, 5, 4, 7, 0, 6]
    # k < K: no quota, the k lowest overall
    assert S.per_class_quota(score, groups, 3, 2).tolist() == [5, 1]


def test_top_k_lex_ties():
    s = np.array([1.0, 2.0, 2.0, 2.0, 0.0])
    t = np.array([9.0, 0.1, 0.3, 0.3, 5.0])
    assert S.top_k_lex(s, t, 2).tolist() == [2, 3]
    assert S.top_k_lex(s, t, 4).tolist() == [2, 3, 1, 0]
    assert S.top_k_lex(s, t, 5).tolist() == [2, 3, 1, 0, 4]


def test_k_center_is_still_reachable_from_selectors():
    # the registry and older code call selectors.kcenter_greedy; it lives in kcenter.py now
    assert S.kcenter_greedy is kcenter.kcenter_greedy
    assert S.kcenter_greedy_plain is kcenter.kcenter_greedy_plain
    X = np.array([[0.0], [3.0], [1.0]])
    assert S.kcenter_greedy(X, 2, np.array([[0.0]])).tolist() == [1, 2]
