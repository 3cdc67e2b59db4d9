"""Batch selectors: turn a score or a representation into b distinct picks.

All return positions into the candidate arrays they were given, as an int64 array of unique values.
The distance-based selectors live in their own modules and are re-exported here:
:func:`kcenter_greedy` (Coreset, :mod:`labelwise.strategies.kcenter`) and
:func:`min_sq_distances` (:mod:`labelwise.strategies.distances`); k-means++ seeding (BADGE, LHD) is
:func:`labelwise.strategies.kmeanspp.kmeanspp_seeding`.
"""

from __future__ import annotations

import numpy as np

from labelwise.strategies.distances import min_sq_distances
from labelwise.strategies.kcenter import kcenter_greedy, kcenter_greedy_plain

__all__ = [
    "diversify",
    "kcenter_greedy",
    "kcenter_greedy_plain",
    "min_sq_distances",
    "per_class_quota",
    "random_choice",
    "top_k",
    "top_k_lex",
]


def top_k(score: np.ndarray, k: int, largest: bool = True) -> np.ndarray:
    """The k best positions of ``score`` (n,), ties broken by the lower index.

    O(n) selection with one partition; only the k chosen positions are sorted.
    """
    s = -score if largest else score
    n = len(s)
    if k <= 0:  # np.partition(s, -1) below would pick the worst item, not none
        return np.zeros(0, np.int64)
    if k >= n:
        return np.lexsort((np.arange(n), s))[:k].astype(np.int64)
    kth = np.partition(s, k - 1)[k - 1]
    better = np.flatnonzero(s < kth)
    tied = np.flatnonzero(s == kth)[: k - len(better)]
    chosen = np.concatenate([better, tied])
    order = np.lexsort((chosen, s[chosen]))
    return chosen[order].astype(np.int64)


def random_choice(n: int, k: int, rng: np.random.Generator) -> np.ndarray:
    """k distinct positions out of n, uniformly at random."""
    return rng.choice(n, size=k, replace=False).astype(np.int64)


def top_k_lex(score: np.ndarray, tiebreak: np.ndarray, k: int, largest: bool = True) -> np.ndarray:
    """The k best positions by ``score`` (n,), ties broken by ``tiebreak`` (n,) (same direction,
    e.g. variation ratio then the entropy of the mean, as in "An empirical study of deep active
    learning", 2021), then by the lower index.

    Only the items tied with the k-th score are sorted by ``tiebreak``: O(n) plus the ties.
    """
    s = -np.asarray(score) if largest else np.asarray(score)
    t = -np.asarray(tiebreak) if largest else np.asarray(tiebreak)
    n = len(s)
    if k >= n:
        return np.lexsort((np.arange(n), t, s)).astype(np.int64)
    kth = np.partition(s, k - 1)[k - 1]
    chosen = np.concatenate([np.flatnonzero(s < kth), np.flatnonzero(s == kth)])
    order = np.lexsort((chosen, t[chosen], s[chosen]))
    return chosen[order[:k]].astype(np.int64)


def diversify(order: np.ndarray, groups: np.ndarray, k: int) -> np.ndarray:
    """Diversification by group (Aggarwal et al. 2022, Algorithm 1).

    ``order`` (n,) lists positions best first (by any score); ``groups`` (n_total,) gives each
    position's group (a predicted class). The algorithm sweeps the order repeatedly, taking at most
    one not-yet-taken item per group per sweep, until k are taken. Sweep s takes exactly the s-th
    item (in order) of every group that has one, so the result is the order sorted by (rank of the
    item within its group, position in the order): one stable sort, O(n log n), the same picks
    in the same order as the sweep loop.
    """
    order = np.asarray(order, dtype=np.int64)
    g = np.asarray(groups)[order]
    # rank of each item within its group, in order of appearance
    by_group = np.argsort(g, kind="stable")
    sorted_g = g[by_group]
    starts = np.flatnonzero(np.r_[True, sorted_g[1:] != sorted_g[:-1]])
    run_start = np.repeat(starts, np.diff(np.r_[starts, len(g)]))
    rank = np.empty(len(g), dtype=np.int64)
    rank[by_group] = np.arange(len(g)) - run_start
    sweep_order = np.lexsort((np.arange(len(g)), rank))
    return order[sweep_order[:k]]


def per_class_quota(
    score: np.ndarray, groups: np.ndarray, n_groups: int, k: int, largest: bool = False
) -> np.ndarray:
    """Per-class quota (Krishnan et al. 2021, SCAL/FeatureSim: "M/K samples from each cluster").

    Each group (predicted class, 0..n_groups-1) gets floor(k / n_groups) picks, its best scores
    first (``largest=False``: the LOWEST scores, as SCAL wants); a group with fewer candidates
    takes all it has. The unused quota, and the remainder k mod n_groups, go to the remaining
    candidates with the best scores overall (ties by the lower index). ``score`` (n,),
    ``groups`` (n,). Returns k positions: the per-class picks (class by class), then the extras.
    """
    score = np.asarray(score)
    groups = np.asarray(groups)
    quota = k // n_groups
    taken = np.zeros(len(score), dtype=bool)
    picks = []
    if quota:
        for c in range(n_groups):
            members = np.flatnonzero(groups == c)
            if len(members) == 0:
                continue
            best = members[top_k(score[members], min(quota, len(members)), largest=largest)]
            picks.append(best)
            taken[best] = True
    chosen = np.concatenate(picks) if picks else np.empty(0, dtype=np.int64)
    short = k - len(chosen)
    if short > 0:
        rest = np.flatnonzero(~taken)
        extra = rest[top_k(score[rest], short, largest=largest)]
        chosen = np.concatenate([chosen, extra])
    return chosen.astype(np.int64)
