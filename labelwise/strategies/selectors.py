"""Batch selectors: turn a score or a representation into b distinct picks.

All return positions into the candidate arrays they were given, as an int64 array of unique values.
"""

from __future__ import annotations

import numpy as np


def top_k(score: np.ndarray, k: int, largest: bool = True) -> np.ndarray:
    """The k best positions of ``score`` (n,), ties broken by the lower index.

    O(n) selection with one partition; only the k chosen positions are sorted.
    """
    s = -score if largest else score
    n = len(s)
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


def _sq_norms(X: np.ndarray) -> np.ndarray:
    return np.einsum("ij,ij->i", X, X)


def min_sq_distances(
    X: np.ndarray, centers: np.ndarray, block_rows: int = 8192, block_centers: int = 1024
) -> np.ndarray:
    """Squared distance of each row of X (n, d) to its nearest row of ``centers`` (m, d).

    Computed in blocks so that no n x m matrix is ever built in one piece: memory is
    O(n + block_rows * block_centers). Returns (n,), float of X's dtype.
    """
    n = len(X)
    out = np.full(n, np.inf, dtype=X.dtype)
    if len(centers) == 0:
        return out
    x_sq = _sq_norms(X)
    c_sq = _sq_norms(centers)
    for r0 in range(0, n, block_rows):
        xb = X[r0:r0 + block_rows]
        best = out[r0:r0 + block_rows]
        for c0 in range(0, len(centers), block_centers):
            cb = centers[c0:c0 + block_centers]
            d = x_sq[r0:r0 + block_rows, None] - 2.0 * (xb @ cb.T) + c_sq[None, c0:c0 + len(cb)]
            np.minimum(best, d.min(axis=1), out=best)
    np.maximum(out, 0.0, out=out)
    return out


def kcenter_greedy(
    X: np.ndarray,
    k: int,
    centers: np.ndarray | None = None,
    rng: np.random.Generator | None = None,
) -> np.ndarray:
    """Exact k-center greedy (Coreset; Sener & Savarese 2018, used in papers 001, 002, 003).

    The labeled points ``centers`` (m, d) are the initial centres; if there are none, the first
    centre is a seeded random point. Then repeatedly take the candidate with the largest distance to
    its nearest centre and update the running min-distance vector: one pass over X (n, d) per pick,
    O(k n d) time and O(n) extra memory. Ties go to the lower index.

    Returns k positions into X.
    """
    n = len(X)
    x_sq = _sq_norms(X)
    if centers is not None and len(centers):
        dist = min_sq_distances(X, centers)
        picks: list[int] = []
    else:
        rng = rng if rng is not None else np.random.default_rng()
        first = int(rng.integers(n))
        dist = np.maximum(x_sq - 2.0 * (X @ X[first]) + x_sq[first], 0.0)
        dist[first] = -np.inf
        picks = [first]
    while len(picks) < k:
        i = int(np.argmax(dist))
        picks.append(i)
        d_new = x_sq - 2.0 * (X @ X[i]) + x_sq[i]
        np.minimum(dist, d_new, out=dist)
        dist[i] = -np.inf
    return np.asarray(picks, dtype=np.int64)
