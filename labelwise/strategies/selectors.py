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


def _one_blas_thread():
    """A context that keeps BLAS to one thread: the fast selectors make many small products, for
    which thread start-up and, on a busy machine, waiting threads cost more than they save."""
    from threadpoolctl import threadpool_limits  # a scikit-learn dependency

    return threadpool_limits(limits=1, user_api="blas")


def _sq_norms(X: np.ndarray) -> np.ndarray:
    return np.einsum("ij,ij->i", X, X)


def min_sq_distances(
    X: np.ndarray, centers: np.ndarray, block_rows: int = 4096, block_centers: int = 512
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
            d = xb @ cb.T
            d *= -2.0
            d += x_sq[r0:r0 + block_rows, None]
            d += c_sq[None, c0:c0 + len(cb)]
            np.minimum(best, d.min(axis=1), out=best)
    np.maximum(out, 0.0, out=out)
    return out



def top_k_lex(score: np.ndarray, tiebreak: np.ndarray, k: int, largest: bool = True) -> np.ndarray:
    """The k best positions by ``score`` (n,), ties broken by ``tiebreak`` (n,) (same direction,
    e.g. variation ratio then the entropy of the mean, paper 001), then by the lower index.

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
    """Diversification by group (paper 003, Algorithm 1).

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
    """Per-class quota (paper 004, SCAL/FeatureSim: "M/K samples from each cluster").

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


def kcenter_greedy_plain(
    X: np.ndarray,
    k: int,
    centers: np.ndarray | None = None,
    rng: np.random.Generator | None = None,
) -> np.ndarray:
    """Reference k-center greedy: one full distance pass over X (n, d) per pick, O(k n d).

    Kept for tests and ``benchmarks/bench_select.py``; :func:`kcenter_greedy` gives the same picks,
    faster. See :func:`kcenter_greedy` for the algorithm.
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


def kcenter_greedy(
    X: np.ndarray,
    k: int,
    centers: np.ndarray | None = None,
    rng: np.random.Generator | None = None,
) -> np.ndarray:
    """Exact k-center greedy (Coreset; Sener & Savarese 2018, used in papers 001, 002, 003).

    The labeled points ``centers`` (m, d) are the initial centres (their distances computed in
    blocks by :func:`min_sq_distances`, never an n x m matrix); if there are none, the first
    centre is a seeded random point. Then repeatedly take the candidate with the largest squared
    distance to its nearest centre (ties to the lower index). Returns k positions into X (n, d).

    Lazy evaluation, vectorised, makes it faster than one pass per pick while giving the same
    picks as :func:`kcenter_greedy_plain`: a point's distance to the centres it has been compared
    with is an upper bound of its true distance (adding centres only lowers it), valid against
    the centres up to its version. An *active set* holds the points whose exact distance is at
    least a threshold t; every other point has an upper bound below t. Each pick takes the
    largest exact distance in the active set if it is >= t (ties to the lower index), updates
    the active set against the new centre with one (|A|, d) x (d,) product and moves points that
    fell below t out; when the active set runs dry, t is lowered so that about ``chunk`` more
    (default max(512, n / 256))
    points enter (one O(n) partition), and those are brought up to date against the centres
    picked since their version with (rows, d) x (d, 64) products, centres in picking order, a
    point leaving as soon as it falls below t (remembering how far it got). Memory O(n + k d)
    plus a copy of the active rows (the points within the band [t, current farthest]).

    The BLAS may sum a dot product in a different order in a matrix product or a smaller matrix
    than in the (n, d) pool's product, so two points whose distances tie to within rounding can
    come out in the other order than in the plain loop (in float32, distances 3e-7 apart, a few
    ulps of the formula's terms: seen at pick 458 of 1,000 at n = 20,000 and pick 893 at
    n = 1,000,000 in benchmarks/bench_select.py); in float64 and away from such ties the picks
    are identical.
    """
    if centers is not None and len(centers):
        dist0 = min_sq_distances(X, centers)
    else:
        dist0 = None
    with _one_blas_thread():
        return _kcenter_active(X, k, dist0, rng)


def _kcenter_active(X, k, dist0, rng, chunk=None, cstep=64):
    n, d = X.shape
    chunk = chunk or max(512, n // 256)
    x_sq = _sq_norms(X)
    C = np.empty((k, d), dtype=X.dtype)
    c_sq = np.empty(k, dtype=x_sq.dtype)
    picks: list[int] = []
    if dist0 is not None:
        u = dist0
    else:
        rng = rng if rng is not None else np.random.default_rng()
        first = int(rng.integers(n))
        u = np.maximum(x_sq - 2.0 * (X @ X[first]) + x_sq[first], 0.0)
        u[first] = -np.inf
        picks.append(first)
        C[0] = X[first]
        c_sq[0] = x_sq[first]
    k = min(k, n)
    ver = np.full(n, len(picks), dtype=np.int32)
    # w: the upper bound of every point outside the active set (-inf inside it and for picks)
    w = u.copy()
    A = np.empty(0, dtype=np.int64)  # active points: exact distances uA >= t
    XA = np.empty((0, d), dtype=X.dtype)
    uA = np.empty(0, dtype=u.dtype)
    vA = np.empty(0, dtype=np.int32)
    t = np.inf  # every point outside the active set has w < t
    while len(picks) < k:
        p = len(picks)
        while True:
            if len(A):
                m = uA.max()
                if m >= t:
                    break
            # lower t: bring in the next ~chunk outside points by bound
            n_out = n - len(A) - p
            take = min(chunk, n_out)
            if take == 0:
                t = -np.inf
                continue
            t = np.partition(w, n - take)[n - take]
            new = np.flatnonzero(w >= t)
            w[new] = -np.inf
            XN = X[new]
            uN = u[new]
            vN = ver[new]
            # bring them up to date, centres in order of picking, a block at a time; a point
            # whose distance falls below t leaves with the version it reached
            for v in np.unique(vN):
                rows = np.flatnonzero(vN == v)
                lo = int(v)
                while lo < p and len(rows):
                    hi = min(p, lo + cstep)
                    dn = XN[rows] @ C[lo:hi].T
                    dn *= -2.0
                    dn += x_sq[new[rows], None]
                    dn += c_sq[None, lo:hi]
                    cur = np.minimum(uN[rows], dn.min(axis=1))
                    uN[rows] = cur
                    vN[rows] = hi
                    rows = rows[cur >= t]
                    lo = hi
            A = np.concatenate([A, new])
            XA = np.concatenate([XA, XN])
            uA = np.concatenate([uA, uN])
            vA = np.concatenate([vA, vN])
            keep = uA >= t
            if not keep.all():
                ev = A[~keep]
                u[ev] = uA[~keep]
                w[ev] = u[ev]
                ver[ev] = vA[~keep]
                A, XA, uA, vA = A[keep], XA[keep], uA[keep], vA[keep]
            if n_out == take and len(A) == 0:
                raise AssertionError("no candidates left")
        i = int(A[uA == m].min())
        picks.append(i)
        C[p] = X[i]
        c_sq[p] = x_sq[i]
        u[i] = -np.inf
        keep = A != i
        dn = x_sq[A] - 2.0 * (XA @ C[p]) + c_sq[p]
        np.minimum(uA, dn, out=uA)
        keep &= uA >= t
        drop = ~keep
        drop[A == i] = False
        if drop.any():
            ev = A[drop]
            u[ev] = uA[drop]
            w[ev] = u[ev]
            ver[ev] = p + 1
        A, XA, uA, vA = A[keep], XA[keep], uA[keep], vA[keep] + 1
    return np.asarray(picks, dtype=np.int64)
