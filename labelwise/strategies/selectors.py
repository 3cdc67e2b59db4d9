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


class _Gram:
    """Squared Euclidean distances from inner products: of X (n, d), or of the implicit rows
    g_i = r_i (x) x_i when ``R`` (n, K) is given (BADGE: <g_i, g_j> = <r_i, r_j> <x_i, x_j>).

    Products are taken in row blocks so that a gather never copies more than ``block`` rows.
    """

    def __init__(self, X: np.ndarray, R: np.ndarray | None = None, block: int = 16384):
        self.X = X
        self.R = None if R is None else np.asarray(R, dtype=X.dtype)
        R = self.R
        self.block = block
        self.sq = _sq_norms(X)
        if R is not None:
            self.sq = self.sq * _sq_norms(R)
        self.n = len(X)

    def _dots(self, rows: np.ndarray | None, c: int) -> np.ndarray:
        if rows is None:
            out = self.X @ self.X[c]
            if self.R is not None:
                out *= self.R @ self.R[c]
            return out
        out = np.empty(len(rows), dtype=self.sq.dtype)
        for b0 in range(0, len(rows), self.block):
            rb = rows[b0:b0 + self.block]
            o = self.X[rb] @ self.X[c]
            if self.R is not None:
                o *= self.R[rb] @ self.R[c]
            out[b0:b0 + len(rb)] = o
        return out

    def dist2(self, c: int, rows: np.ndarray | None = None) -> np.ndarray:
        """Squared distances (clipped at 0) of the given rows (default: all) to row ``c``."""
        sq = self.sq if rows is None else self.sq[rows]
        return np.maximum(sq - 2.0 * self._dots(rows, c) + self.sq[c], 0.0)


def _d2_draw(d2: np.ndarray, sq: np.ndarray, chosen: np.ndarray, rng: np.random.Generator) -> int:
    """One D^2 draw: position i with probability d2[i] / sum(d2) (chosen points have d2 = 0);
    if every d2 is 0, the unchosen point of largest norm (ties to the lower index)."""
    cums = np.cumsum(d2, dtype=np.float64)
    total = cums[-1]
    if not total > 0:
        free = np.flatnonzero(~chosen)
        return int(free[np.lexsort((free, -sq[free]))[0]])
    i = int(np.searchsorted(cums, rng.random() * total, side="right"))
    if i >= len(d2) or d2[i] <= 0:  # rounding at the very end of the range
        i = int(np.flatnonzero(d2 > 0)[-1])
    return i


def kmeanspp_seeding_plain(
    X: np.ndarray, k: int, rng: np.random.Generator | None = None, R: np.ndarray | None = None
) -> np.ndarray:
    """Reference k-means++ seeding: one full distance pass per pick. Same picks as
    :func:`kmeanspp_seeding` (see there); kept for tests and the benchmark."""
    rng = rng if rng is not None else np.random.default_rng()
    G = _Gram(X, R)
    first = int(np.argmax(G.sq))
    d2 = G.dist2(first)
    chosen = np.zeros(G.n, dtype=bool)
    chosen[first] = True
    d2[first] = 0.0
    picks = [first]
    while len(picks) < k:
        i = _d2_draw(d2, G.sq, chosen, rng)
        picks.append(i)
        chosen[i] = True
        np.minimum(d2, G.dist2(i), out=d2)
        d2[i] = 0.0
    return np.asarray(picks, dtype=np.int64)


def kmeanspp_seeding(
    X: np.ndarray, k: int, rng: np.random.Generator | None = None, R: np.ndarray | None = None
) -> np.ndarray:
    """k-means++ seeding as BADGE and LHD use it (paper 002; Arthur & Vassilvitskii 2007).

    Rows are X (n, d), or with ``R`` (n, K) the implicit BADGE gradient embedding g_i = r_i (x) x_i,
    whose distances come from <g_i, g_j> = <r_i, r_j><x_i, x_j> without building the n x (K d)
    matrix. The first centre is the point of largest norm (deterministic, as the public BADGE code;
    ties to the lower index); each next centre is drawn with probability proportional to D^2, the
    squared distance to the nearest chosen centre (chosen points have 0); if every D^2 is 0 it falls
    back to the unchosen point of largest norm. Returns k positions.

    Exact acceleration (the same picks as :func:`kmeanspp_seeding_plain` for a seed): each point
    remembers its nearest centre a(i); a new centre c can only lower D_i if d(c, a(i)) < 2 D_i
    (triangle inequality), and only if | |x_i| - |c| | < D_i, so only those points are compared
    with c (a full pass when more than n/4 remain; after such a pick the test is skipped for the
    next 8 picks, so that unprunable data, e.g. isotropic noise in high dimension, cost about
    what the plain loop costs). With ``R`` (BADGE) the first test is instead the bound
    d^2(g_x, g_c) >= |g_x|^2 + |g_c|^2 - 2 |<r_x, r_c>| |h_x| |h_c|, which needs only an (n, K)
    product per pick: points whose residuals are nearly orthogonal to the new centre's (other
    predicted classes, confident predictions) are skipped without reading their h.
    Centre-to-centre distances cost O(p) products per pick, the tests O(n) cheap element-wise
    work; a small slack (1e-4 of the largest squared norm) keeps them conservative under
    rounding. Memory O(n + block * d).

    Without ``R``, for d > 96 and k > 16, the triangle test is replaced by stronger bounds (on
    embedding-like data the nearest centre stays at about half the typical distance, so the
    triangle test prunes little): with y = V (x - mu) the coordinates on the top principal
    directions of an evenly spaced sample of 4,096 rows and r the norm of the residual,
    d^2(x, c) >= |y_x - y_c|^2 + (r_x - r_c)^2. Each pick reads the (n, 64) coordinates on the
    top 64 directions (1/6 of X at d = 384), refines the survivors with the next 64 directions,
    and computes exact distances (the same products as the plain loop, so the same D^2 values
    bit for bit) only for the points neither bound excludes (a few percent late in the
    seeding). Extra memory: the (n, 128) projections.
    """
    with _one_blas_thread():
        if R is None and k > 16 and X.shape[1] > 3 * _PCA_DIMS // 2:
            return _kmeanspp_projected(X, k, rng, (_PCA_DIMS, _PCA_DIMS))
        return _kmeanspp_pruned(X, k, rng, R)


_PCA_DIMS = 64


def _kmeanspp_first_centre(G: _Gram) -> tuple[np.ndarray, np.ndarray, list[int]]:
    """First k-means++ centre = the point of largest norm (as the public BADGE code); returns its
    D^2 vector (n,) with 0 at the centre, the chosen mask (n,) and the pick list."""
    first = int(np.argmax(G.sq))
    d2 = G.dist2(first)
    chosen = np.zeros(G.n, dtype=bool)
    chosen[first] = True
    d2[first] = 0.0
    return d2, chosen, [first]


def _kmeanspp_pruned(X, k, rng, R):
    rng = rng if rng is not None else np.random.default_rng()
    G = _Gram(X, R)
    n = G.n
    d2, chosen, picks = _kmeanspp_first_centre(G)
    assign = np.zeros(n, dtype=np.int32)
    slack = 1e-4 * float(G.sq.max()) + 1e-30
    norms = np.sqrt(G.sq)
    hnorms = np.sqrt(_sq_norms(X)) if R is not None else None
    skip = 0  # picks left before the pruning test is tried again after it failed
    while len(picks) < k:
        i = _d2_draw(d2, G.sq, chosen, rng)
        j = len(picks)
        picks.append(i)
        chosen[i] = True
        if R is not None:
            # BADGE: |<g_x, g_c>| <= |<r_x, r_c>| |h_x| |h_c|, from an (n, K) product only
            lb = np.abs(G.R @ G.R[i])
            lb *= hnorms
            lb *= -2.0 * hnorms[i]
            lb += G.sq
            lb += G.sq[i] - slack
            keep = lb < d2
            cc2 = G.dist2(i, np.asarray(picks[:-1], dtype=np.int64))  # triangle test as well
            thr = cc2[assign]
            thr -= slack
            thr *= 0.25
            keep &= d2 > thr
            cand = np.flatnonzero(keep)
            if len(cand):
                gap = norms[cand] - norms[i]
                cand = cand[gap * gap < d2[cand] + slack]
        elif skip:
            skip -= 1
            cand = None
        else:
            cc2 = G.dist2(i, np.asarray(picks[:-1], dtype=np.int64))  # (j,) earlier centres
            thr = cc2[assign]
            thr -= slack
            thr *= 0.25
            cand = np.flatnonzero(d2 > thr)
            if len(cand):
                # second bound: d(x, c) >= | |x| - |c| |
                gap = norms[cand] - norms[i]
                cand = cand[gap * gap < d2[cand] + slack]
            if len(cand) > n // 4:
                skip = 8
        if cand is None or len(cand) > n // 4:  # little pruned: one full pass, no gather
            new = G.dist2(i)
            closer = new < d2
            d2[closer] = new[closer]
            assign[closer] = j
        elif len(cand):
            new = G.dist2(i, cand)
            closer = new < d2[cand]
            moved = cand[closer]
            d2[moved] = new[closer]
            assign[moved] = j
        d2[i] = 0.0
        assign[i] = j
    return np.asarray(picks, dtype=np.int64)


def _pca_frame(
    X: np.ndarray, dims: tuple[int, ...], x_sq: np.ndarray
) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Projections of X (n, d) on its top principal directions (of an evenly spaced sample of
    4,096 rows), in consecutive groups of ``dims`` directions: for each group g, (Y_g (n, dims[g]),
    |Y_g|^2 (n,), r_g (n,)) where r_g is the norm of the residual after groups 0..g, all in X's
    dtype. For any two rows and any g: d^2(x, c) >= sum over groups h <= g of |y_h,x - y_h,c|^2
    + (r_g,x - r_g,c)^2, as y and r are the coordinates of x - mu in orthogonal subspaces."""
    n = len(X)
    rows = np.unique(np.linspace(0, n - 1, min(n, 4096)).astype(np.int64))
    S = X[rows].astype(np.float64)
    mu = S.mean(axis=0)
    _, _, vt = np.linalg.svd(S - mu, full_matrices=False)
    rest = x_sq - 2.0 * (X @ mu.astype(X.dtype)) + float(mu @ mu)  # |x - mu|^2
    out = []
    q0 = 0
    for q in dims:
        V = np.ascontiguousarray(vt[q0:q0 + q].T).astype(X.dtype)  # (d, q)
        Y = X @ V
        Y -= (mu.astype(X.dtype) @ V)[None, :]
        y_sq = _sq_norms(Y)
        rest = rest - y_sq
        out.append((Y, y_sq, np.sqrt(np.maximum(rest, 0.0))))
        q0 += q
    return out


def _kmeanspp_projected(X, k, rng, dims):
    rng = rng if rng is not None else np.random.default_rng()
    G = _Gram(X)
    n = G.n
    d2, chosen, picks = _kmeanspp_first_centre(G)
    (Y1, y1_sq, r1), (Y2, y2_sq, r2) = _pca_frame(X, dims, G.sq)
    slack = 1e-4 * float(G.sq.max()) + 1e-30
    skip = 0  # picks left before the bounds are tried again after they failed
    while len(picks) < k:
        i = _d2_draw(d2, G.sq, chosen, rng)
        picks.append(i)
        chosen[i] = True
        if skip:
            skip -= 1
            np.minimum(d2, G.dist2(i), out=d2)
            d2[i] = 0.0
            continue
        # first bound, on all points: the top dims[0] directions and the residual
        part = Y1 @ Y1[i]
        part *= -2.0
        part += y1_sq
        part += y1_sq[i] - slack
        gap = r1 - r1[i]
        gap *= gap
        gap += part
        cand = np.flatnonzero(gap < d2)
        if len(cand) > n // 4:  # second bound on all points (no gather), then the survivors
            lb = Y2 @ Y2[i]
            lb *= -2.0
            lb += y2_sq
            lb += y2_sq[i]
            lb += part
            g2 = r2 - r2[i]
            g2 *= g2
            lb += g2
            cand = np.flatnonzero(lb < d2)
        elif len(cand):  # second bound on the survivors: the next dims[1] directions as well
            lb = Y2[cand] @ Y2[i]
            lb *= -2.0
            lb += y2_sq[cand]
            lb += y2_sq[i]
            lb += part[cand]
            g2 = r2[cand] - r2[i]
            lb += g2 * g2
            cand = cand[lb < d2[cand]]
        if len(cand) > n // 4:  # little pruned: one full pass, no gather
            np.minimum(d2, G.dist2(i), out=d2)
            skip = 8
        elif len(cand):
            new = G.dist2(i, cand)
            np.minimum(d2[cand], new, out=new)
            d2[cand] = new
        d2[i] = 0.0
    return np.asarray(picks, dtype=np.int64)
