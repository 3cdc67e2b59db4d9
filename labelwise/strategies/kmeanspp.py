"""k-means++ seeding (Arthur & Vassilvitskii 2007) as BADGE and LHD select with it (paper 002).

:func:`kmeanspp_seeding` gives the same picks as :func:`kmeanspp_seeding_plain` (one full distance
pass per pick) for a seed, faster: both compute every D^2 value that can change with the same
products, and both draw from the same :class:`_D2Sampler`, so the draws agree bit for bit.
"""

from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from labelwise.strategies.selectors import _one_blas_thread, _sq_norms


class _Gram:
    """Squared Euclidean distances from inner products: of X (n, d), or of the implicit rows
    g_i = r_i (x) x_i when ``R`` (n, K) is given (BADGE: <g_i, g_j> = <r_i, r_j> <x_i, x_j>).

    Products are taken in row blocks so that a gather never copies more than ``block`` rows
    (512 rows of 384 floats stay in cache: a gathered product then costs about 1.5x a contiguous
    one instead of 3x).
    """

    def __init__(self, X: np.ndarray, R: np.ndarray | None = None, block: int = 512):
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
        """Squared distances (clipped at 0) of the given rows (default: all) to row ``c``:
        (|x|^2 - 2 <x, c>) + |c|^2, in place (multiplying by -2 is exact, so this is rounded as
        |x|^2 - 2.0 * <x, c> + |c|^2 is)."""
        out = self._dots(rows, c)
        out *= -2.0
        out += self.sq if rows is None else self.sq[rows]
        out += self.sq[c]
        return np.maximum(out, 0.0, out=out)


class _D2Sampler:
    """The D^2 values (n,) and float64 sums over blocks of ``B`` = 64 consecutive positions.

    A draw costs O(n / B + B) and bringing the sums up to date after m values changed O(m B), so
    that a pick which changes few D^2 values does not pay an O(n) cumulative sum. ``d2`` is a view
    of a zero-padded buffer; whoever changes it calls :meth:`refresh` with the positions.
    Plain and fast seeding share this class, so the same D^2 values give the same draws.
    """

    B = 64

    def __init__(self, d2: np.ndarray):
        n = len(d2)
        self.n = n
        self.buf = np.zeros(-(-n // self.B) * self.B, dtype=d2.dtype)
        self.buf[:n] = d2
        self.d2 = self.buf[:n]
        self.rows = self.buf.reshape(-1, self.B)
        self.sums = self.rows.sum(axis=1, dtype=np.float64)
        self.mark = np.zeros(len(self.sums), dtype=bool)

    def refresh(self, positions: np.ndarray | None = None) -> None:
        """Recompute the sums of the blocks holding ``positions`` (all blocks if None)."""
        if positions is None:
            self.sums = self.rows.sum(axis=1, dtype=np.float64)
        elif len(positions):
            self.mark[np.asarray(positions) // self.B] = True
            blocks = np.flatnonzero(self.mark)
            self.mark[blocks] = False
            self.sums[blocks] = self.rows[blocks].sum(axis=1, dtype=np.float64)

    def draw(self, u: float, sq: np.ndarray, chosen: np.ndarray) -> int:
        """Position i with probability d2[i] / sum(d2), for u uniform in [0, 1) (chosen points
        have d2 = 0); if every d2 is 0, the unchosen point of largest ``sq`` (ties to the lower
        index)."""
        cums = np.cumsum(self.sums)
        total = cums[-1]
        if not total > 0:
            free = np.flatnonzero(~chosen)
            return int(free[np.lexsort((free, -sq[free]))[0]])
        target = u * total
        b = min(int(np.searchsorted(cums, target, side="right")), len(cums) - 1)
        base = cums[b - 1] if b else 0.0
        local = np.cumsum(self.rows[b], dtype=np.float64)
        local += base
        j = int(np.searchsorted(local, target, side="right"))
        i = b * self.B + j
        if j >= self.B or self.buf[i] <= 0:  # rounding at the end of a block or of the range
            pos = np.flatnonzero(self.rows[b] > 0)
            i = b * self.B + int(pos[-1]) if len(pos) else int(np.flatnonzero(self.d2 > 0)[-1])
        return i


def _full_pass(G: _Gram, D: _D2Sampler, i: int) -> np.ndarray:
    """Lower D^2 to the distances to the new centre ``i`` with one pass over all rows; returns
    the rows whose D^2 went down (``i`` itself gets 0)."""
    new = G.dist2(i)
    moved = np.flatnonzero(new < D.d2)
    D.d2[moved] = new[moved]
    D.d2[i] = 0.0
    D.refresh(np.append(moved, i))
    return moved


def _partial_pass(G: _Gram, D: _D2Sampler, i: int, rows: np.ndarray) -> tuple[np.ndarray, ...]:
    """Lower D^2 of ``rows`` (those the bounds could not exclude) to their distances to the new
    centre ``i``; ``i`` gets 0. Returns the mask of rows that moved and their new D^2 values."""
    new = G.dist2(i, rows)
    moved = new < D.d2[rows]
    new = new[moved]
    D.d2[rows[moved]] = new
    D.d2[i] = 0.0
    D.refresh(np.append(rows[moved], i))
    return moved, new


def _plain_pick(G: _Gram, D: _D2Sampler, chosen: np.ndarray, picks: list[int], rng) -> None:
    """One pick of the plain loop: a D^2 draw, then a full pass."""
    i = D.draw(rng.random(), G.sq, chosen)
    picks.append(i)
    chosen[i] = True
    _full_pass(G, D, i)


def kmeanspp_seeding_plain(
    X: np.ndarray, k: int, rng: np.random.Generator | None = None, R: np.ndarray | None = None
) -> np.ndarray:
    """Reference k-means++ seeding: one full distance pass per pick. Same picks as
    :func:`kmeanspp_seeding` (see there); kept for tests and the benchmark."""
    rng = rng if rng is not None else np.random.default_rng()
    G = _Gram(X, R)
    D, chosen, picks = _first_centre(G)
    while len(picks) < k:
        _plain_pick(G, D, chosen, picks, rng)
    return np.asarray(picks, dtype=np.int64)


def kmeanspp_seeding(
    X: np.ndarray, k: int, rng: np.random.Generator | None = None, R: np.ndarray | None = None
) -> np.ndarray:
    """k-means++ seeding as BADGE and LHD use it (paper 002; Arthur & Vassilvitskii 2007).

    Rows are X (n, d), or with ``R`` (n, K) the implicit BADGE gradient embedding g_i = r_i (x) x_i,
    whose distances come from <g_i, g_j> = <r_i, r_j><x_i, x_j> without building the n x (K d)
    matrix. The first centre is the point of largest norm (deterministic, as the public BADGE code;
    ties to the lower index); each next centre is drawn with probability proportional to D^2, the
    squared distance to the nearest chosen centre (chosen points have 0), one ``rng.random()`` per
    pick (:class:`_D2Sampler`); if every D^2 is 0 it falls back to the unchosen point of largest
    norm. Returns k positions.

    Exact acceleration: the same picks as :func:`kmeanspp_seeding_plain` for a seed. A new centre
    c lowers D_x only if d(x, c) < D_x, so only the points that no lower bound of d(x, c) excludes
    are compared with c, with the same products as the plain loop (the same D^2 values bit for
    bit). Bounds, each conservative by a slack of 1e-4 of the largest squared norm:

    - without ``R``, for d > 64, k > 16 and n >= 4,096 (:func:`_kmeanspp_local`): the pool is cut
      into clusters of at most 4,096 rows (k-means on a sample; clusters whose residuals are far
      above the typical one, two groups joined, are cut along their top direction), each with its
      mean m and its top 16 local directions U (randomized range finder). For x in a cluster with
      z = U (x - m) and residual norm rho, and the centre's w = U (c - m) and residual norm rho_c,
      d^2(x, c) >= |z - w|^2 + (rho - rho_c)^2 (Pythagoras in the two orthogonal parts, then the
      reverse triangle inequality). Points are binned by |z| within a cluster; a bin is skipped
      when the bound over its ranges of |z| and rho is at least its largest D^2, otherwise its
      points are tested one by one (one (rows, 18) x (18,) product per cluster, the last column
      holding D^2 - |x - m|^2). The clusters are built on a second core while the first picks
      make full passes (they would prune little then: every D^2 is still large);
    - otherwise (:func:`_kmeanspp_pruned`): the triangle inequality through each point's nearest
      centre, | |x| - |c| |, and with ``R`` the bound d^2(g_x, g_c) >= |g_x|^2 + |g_c|^2 -
      2 |<r_x, r_c>| |h_x| |h_c| from an (n, K) product.

    When the bounds leave more than 35% of the pool (25% on the second path, which then skips its
    test for the next 8 picks) the pick makes one full pass instead, so unprunable data
    (isotropic noise in 384 dimensions) costs about what the plain loop costs. Extra memory:
    O(n q) for the local coordinates, plus O(n) index arrays. BLAS runs on one thread (many small
    products); the second core, if any, builds the clusters.
    """
    with _one_blas_thread():
        if R is None and k > 16 and X.shape[1] > 64 and len(X) >= 4096:
            return _kmeanspp_local(X, k, rng)
        return _kmeanspp_pruned(X, k, rng, R)


def _first_centre(G: _Gram) -> tuple[_D2Sampler, np.ndarray, list[int]]:
    """First centre = the point of largest norm (as the public BADGE code); returns the sampler of
    its D^2 values (0 at the centre), the chosen mask (n,) and the pick list."""
    first = int(np.argmax(G.sq))
    d2 = G.dist2(first)
    d2[first] = 0.0
    chosen = np.zeros(G.n, dtype=bool)
    chosen[first] = True
    return _D2Sampler(d2), chosen, [first]


def _kmeanspp_pruned(X, k, rng, R):
    rng = rng if rng is not None else np.random.default_rng()
    G = _Gram(X, R)
    n = G.n
    D, chosen, picks = _first_centre(G)
    d2 = D.d2
    assign = np.zeros(n, dtype=np.int32)
    slack = 1e-4 * float(G.sq.max()) + 1e-30
    norms = np.sqrt(G.sq)
    hnorms = np.sqrt(_sq_norms(X)) if R is not None else None
    skip = 0  # picks left before the pruning test is tried again after it failed
    while len(picks) < k:
        i = D.draw(rng.random(), G.sq, chosen)
        j = len(picks)
        picks.append(i)
        chosen[i] = True
        if R is None and skip:
            skip -= 1
            cand = None
        else:
            # triangle inequality through each point's nearest centre (j earlier centres)
            cc2 = G.dist2(i, np.asarray(picks[:-1], dtype=np.int64))
            thr = cc2[assign]
            thr -= slack
            thr *= 0.25
            keep = d2 > thr
            if R is not None:
                # BADGE: |<g_x, g_c>| <= |<r_x, r_c>| |h_x| |h_c|, from an (n, K) product only
                lb = np.abs(G.R @ G.R[i])
                lb *= hnorms
                lb *= -2.0 * hnorms[i]
                lb += G.sq
                lb += G.sq[i] - slack
                keep &= lb < d2
            cand = np.flatnonzero(keep)
            if len(cand):  # and d(x, c) >= | |x| - |c| |
                gap = norms[cand] - norms[i]
                cand = cand[gap * gap < d2[cand] + slack]
            if R is None and len(cand) > n // 4:
                skip = 8
        if cand is None or len(cand) > n // 4:  # little pruned: one full pass, no gather
            assign[_full_pass(G, D, i)] = j
        else:
            assign[cand[_partial_pass(G, D, i, cand)[0]]] = j
        assign[i] = j
    return np.asarray(picks, dtype=np.int64)


# ------------------------------------------------------------------ clustered local bounds
_LOCAL_DIMS = 16  # local directions per cluster
_BINS = 32  # |z| bins per cluster
_FIRST_CLUSTERS = 64  # k-means clusters before splitting
_MAX_CLUSTER = 4096  # larger clusters are cut again (k-means within them, then halving)
_FULL_PASS = 0.35  # above this share of the pool left by the bounds, a pick makes a full pass


def _kmeans_labels(X: np.ndarray, m: int, rng: np.random.Generator, iters: int = 5) -> np.ndarray:
    """Labels (n,) of m clusters: k-means++ seeding and Lloyd steps on a sample of <= 32 m rows,
    then every row to its nearest centroid (in blocks of 8,192 rows)."""
    n = len(X)
    m = min(m, n)
    s = min(n, 32 * m)
    sample = X[np.sort(rng.choice(n, s, replace=False))]
    C = sample[kmeanspp_seeding_plain(sample, m, rng)].copy()
    onehot = np.zeros((m, s), dtype=X.dtype)
    for _ in range(iters):
        lab = np.argmin(_sq_norms(C)[None, :] - 2.0 * (sample @ C.T), axis=1)
        cnt = np.bincount(lab, minlength=m)
        onehot[:] = 0.0
        onehot[lab, np.arange(s)] = 1.0
        sums = onehot @ sample
        nz = cnt > 0
        C[nz] = sums[nz] / cnt[nz, None]
    c_sq, C2 = _sq_norms(C), -2.0 * C.T
    out = np.empty(n, dtype=np.int64)
    for r0 in range(0, n, 8192):
        P = X[r0:r0 + 8192] @ C2
        P += c_sq
        out[r0:r0 + 8192] = np.argmin(P, axis=1)
    return out


def _local_basis(R: np.ndarray, q: int, rng: np.random.Generator) -> np.ndarray:
    """Orthonormal rows (<= q, d) spanning the top directions of the rows of R (centred), by a
    randomized range finder with one power step (Halko et al. 2011). Any orthonormal basis keeps
    the bounds valid; a good one makes them tight."""
    width = min(q + 8, *R.shape)
    A = R @ rng.standard_normal((R.shape[1], width)).astype(R.dtype)
    A = R @ (R.T @ A)
    Q, _ = np.linalg.qr(A)
    B = (Q.T @ R).astype(np.float64)  # (width, d): R's rows in the range found
    s2, V = np.linalg.eigh(B @ B.T)  # ascending; the top q directions with variance
    top = np.flatnonzero(s2 > 1e-10 * s2[-1])[::-1][:q]
    if not len(top):  # all rows equal
        return np.zeros((0, R.shape[1]), dtype=R.dtype)
    basis, _ = np.linalg.qr((V[:, top].T @ B).T)  # orthonormal to float64 rounding
    return basis.T.astype(R.dtype)


def _halves(cluster: _Cluster, balanced: bool) -> list[np.ndarray]:
    """The rows of a cluster in two, along their top local coordinate t: at its median
    (``balanced``), else where 1-D 2-means puts the cut (two groups that k-means joined)."""
    t = cluster.z[:, 0].astype(np.float64)
    cut = np.median(t)
    if not balanced:
        for _ in range(20):
            lo, hi = t[t <= cut], t[t > cut]
            if not len(lo) or not len(hi):
                break
            new = 0.5 * (lo.mean() + hi.mean())
            if new == cut:
                break
            cut = new
    left = t <= cut
    if left.all() or not left.any():
        order = np.argsort(t, kind="stable")
        left = np.zeros(len(t), dtype=bool)
        left[order[: len(t) // 2]] = True
    return [cluster.idx[left], cluster.idx[~left]]


class _Cluster:
    """One cluster of rows ``idx``: mean m (d,), basis U (q, d), and per row z = U (x - m) (q,),
    |z| and the residual norm rho = |x - m - U^T z|."""

    def __init__(self, X: np.ndarray, idx: np.ndarray, q: int, rng: np.random.Generator):
        self.idx = idx
        R = X[idx]
        self.m = (np.ones(len(idx), dtype=X.dtype) @ R) / len(idx)  # any m keeps the bound
        R -= self.m
        sub = R if len(idx) <= 256 else R[rng.choice(len(idx), 256, replace=False)]
        vt = _local_basis(sub, q, rng)
        self.U = np.zeros((q, X.shape[1]), dtype=X.dtype)
        self.U[:len(vt)] = vt
        self.z = R @ self.U.T
        # the residual itself, not |x - m|^2 - |z|^2: a small difference of two large numbers
        R -= self.z @ self.U
        self.rho = np.sqrt(_sq_norms(R))
        self.zn = np.sqrt(_sq_norms(self.z))


class _Stopped(Exception):
    """The frame's build was stopped (its picks were all made without it)."""


class _LocalFrame:
    """The clusters of X (n, d) laid out in one order: rows sorted by cluster, then by |z|.

    Arrays indexed by position p in that order: ``order`` (n,) the row, ``zr`` (n, q + 1) =
    [z, rho] (views ``z``, ``rho``), ``a`` = |z|^2 + rho^2 (n,); bins of about n_cluster / 32
    consecutive positions with their cluster and float64 ranges of |z| (``zlo``, ``zhi``) and rho
    (``rlo``, ``rhi``); per cluster the stacked bases ``U`` (clusters * q, d), means ``M``
    (clusters, d) and ``Um`` = U m (clusters, q). ``stop`` (set from another thread) ends the
    build early with :class:`_Stopped`.
    """

    def __init__(self, X: np.ndarray, rng: np.random.Generator, q: int = _LOCAL_DIMS,
                 stop: threading.Event | None = None):
        stop = stop or threading.Event()
        n, d = X.shape
        q = min(q, d)

        def cluster(idx: np.ndarray) -> _Cluster:  # a build told to stop, stops between clusters
            if stop.is_set():
                raise _Stopped
            return _Cluster(X, idx, q, rng)

        lab = _kmeans_labels(X, min(_FIRST_CLUSTERS, max(2, n // 300)), rng)
        groups = np.split(np.argsort(lab, kind="stable"), np.cumsum(np.bincount(lab))[:-1])
        rows = []
        for g in groups:  # large clusters: k-means again within them (cheaper than halving)
            if len(g) > _MAX_CLUSTER:
                sub = _kmeans_labels(X[g], -(-4 * len(g) // (3 * _MAX_CLUSTER)), rng)
                bounds = np.cumsum(np.bincount(sub))[:-1]
                rows += np.split(g[np.argsort(sub, kind="stable")], bounds)
            else:
                rows.append(g)
        clusters = [cluster(t) for t in rows if len(t)]
        for _ in range(8):
            # split the large clusters, and those whose local directions leave far more than
            # is typical (k-means joined two groups), at the median of their top direction
            r90 = np.array([np.partition(c.rho, 9 * len(c.rho) // 10)[9 * len(c.rho) // 10]
                            for c in clusters])
            size = np.array([len(c.idx) for c in clusters])
            big = size > _MAX_CLUSTER
            joined = (r90 > 2.0 * np.median(r90)) & (size >= 256)
            if not (big | joined).any():
                break
            cut = big | joined
            halves = [h for c, j, x in zip(clusters, joined, cut, strict=True) if x
                      for h in _halves(c, balanced=not j)]
            clusters = [c for c, x in zip(clusters, cut, strict=True) if not x]
            clusters += [cluster(h) for h in halves]
        self._layout(clusters, n, d, q, X.dtype)

    def _layout(self, clusters, n, d, q, dtype):
        nc = len(clusters)
        self.nc, self.q = nc, q
        self.order = np.empty(n, dtype=np.int64)
        self.zr = np.empty((n, q + 1), dtype=dtype)  # [z, rho]
        self.z, self.rho = self.zr[:, :q], self.zr[:, q]
        zn = np.empty(n)
        self.M = np.empty((nc, d), dtype=dtype)
        U = np.empty((nc, q, d), dtype=dtype)
        starts, owner = [], []
        s = 0
        for c, cl in enumerate(clusters):
            e = s + len(cl.idx)
            srt = np.argsort(cl.zn, kind="stable")
            self.order[s:e] = cl.idx[srt]
            self.z[s:e] = cl.z[srt]
            self.rho[s:e] = cl.rho[srt]
            zn[s:e] = cl.zn[srt]
            self.M[c], U[c] = cl.m, cl.U
            nbin = max(1, min(_BINS, (e - s) // 32))
            starts.append(s + (np.arange(nbin) * (e - s)) // nbin)
            owner.append(np.full(nbin, c))
            s = e
        self.a = _sq_norms(self.zr)  # |z|^2 + rho^2 = |x - m|^2
        self.bin_start = np.concatenate(starts)
        self.bin_end = np.append(self.bin_start[1:], n)
        self.bin_cluster = np.concatenate(owner)
        self.bin_of = np.repeat(np.arange(len(self.bin_start)), self.bin_end - self.bin_start)
        s0 = self.bin_start
        rho = self.rho.astype(np.float64)
        self.zlo, self.zhi = np.minimum.reduceat(zn, s0), np.maximum.reduceat(zn, s0)
        self.rlo, self.rhi = np.minimum.reduceat(rho, s0), np.maximum.reduceat(rho, s0)
        self.position = np.empty(n, dtype=np.int64)
        self.position[self.order] = np.arange(n)
        self.U = U.reshape(nc * q, d)
        self.Um = np.einsum("cqd,cd->cq", U, self.M)
        self.M64 = self.M.astype(np.float64)
        self.m_sq = np.einsum("ij,ij->i", self.M64, self.M64)

    def query(self, xc: np.ndarray, near: float) -> tuple[np.ndarray, ...]:
        """For a centre xc (d,) and each cluster: w = U (xc - m) (clusters, q), then as float64
        (clusters,) |w|, rho_c = |xc - m - U^T w| and |xc - m|^2.

        rho_c^2 is first taken as |xc - m|^2 - |w|^2; where that is below ``near`` (a small
        difference of large numbers, which float32 w would spoil), w and rho_c are computed again
        from xc - m in float64 (usually only for the centre's own cluster).
        """
        W = (self.U @ xc).reshape(self.nc, self.q)
        W -= self.Um
        w_sq = _sq_norms(W).astype(np.float64)
        x64 = xc.astype(np.float64)
        cm_sq = self.M64 @ (-2.0 * x64)
        cm_sq += self.m_sq + float(x64 @ x64)
        rc_sq = cm_sq - w_sq
        for c in np.flatnonzero(rc_sq < near).tolist():
            v = x64 - self.M64[c]
            U = self.U[c * self.q:(c + 1) * self.q].astype(np.float64)
            w = U @ v
            r = v - w @ U
            W[c], w_sq[c], rc_sq[c] = w, w @ w, r @ r
        np.maximum(rc_sq, 0.0, out=rc_sq)
        return W, np.sqrt(w_sq), np.sqrt(rc_sq), w_sq + rc_sq


def _gap_sq(v: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """Squared distance from v to the interval [lo, hi], elementwise."""
    g = np.maximum(lo - v, v - hi)
    np.maximum(g, 0.0, out=g)
    g *= g
    return g


def _local_candidates(F: _LocalFrame, live, Ze, We, thr) -> np.ndarray:
    """Positions in the live bins (sorted) whose bound is below their D^2.

    With a = |z|^2 + rho^2, the bound |z - w|^2 + (rho - rho_c)^2 - slack < D^2 reads
    [z, rho, D^2 - a].[-2 w, -2 rho_c, -1] < slack - |c - m|^2: rows of ``Ze`` (n, q + 2) times
    ``We`` (clusters, q + 2), below ``thr`` (clusters,): one product per cluster with live bins,
    over its positions from the first live bin to the last (contiguous in memory; measured
    faster than gathering only the live bins' rows).
    """
    if not len(live):
        return live
    cl = F.bin_cluster[live]
    brk = np.flatnonzero(cl[1:] != cl[:-1]) + 1
    starts = F.bin_start[live[np.concatenate(([0], brk))]]
    ends = F.bin_end[live[np.append(brk - 1, len(live) - 1)]]
    cs = cl[np.concatenate(([0], brk))]
    found = [np.flatnonzero(Ze[s:e] @ We[c] < thr[c]) + s
             for s, e, c in zip(starts.tolist(), ends.tolist(), cs.tolist(), strict=True)]
    return np.concatenate(found)


def _ranges(starts: np.ndarray, lens: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The positions of the ranges [starts[j], starts[j] + lens[j]) one after another, and each
    range's offset in that array."""
    off = np.cumsum(lens) - lens
    return np.repeat(starts - off, lens) + np.arange(int(lens.sum())), off


def _cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on every platform
        return os.cpu_count() or 1


def _first_picks_alongside_frame(X, k, rng):
    """The first centre, then plain picks (full passes) while the local frame of X is built on a
    second core: every D^2 is still large then, so bounds would prune little. With one core the
    frame is built first. Returns the Gram helper, the sampler, the chosen mask, the picks and the
    frame (None when all k picks were made before it was ready). The frame has its own seed: it
    changes the speed, never the picks."""
    if _cores() < 2:
        F = _LocalFrame(X, np.random.default_rng(0))
        G = _Gram(X)
        return (G, *_first_centre(G), F)
    stop = threading.Event()
    with ThreadPoolExecutor(1) as pool:
        frame = pool.submit(_LocalFrame, X, np.random.default_rng(0), stop=stop)
        G = _Gram(X)
        D, chosen, picks = _first_centre(G)
        while len(picks) < k and not frame.done():
            _plain_pick(G, D, chosen, picks, rng)
        if len(picks) == k:
            stop.set()  # the frame stops at its next cluster
            return G, D, chosen, picks, None
        return G, D, chosen, picks, frame.result()


def _kmeanspp_local(X, k, rng):
    rng = rng if rng is not None else np.random.default_rng()
    G, D, chosen, picks, F = _first_picks_alongside_frame(X, k, rng)
    if F is None:  # every pick was made while the frame was being built
        return np.asarray(picks, dtype=np.int64)
    n, q = G.n, F.q
    Ze = np.empty((n, q + 2), dtype=F.zr.dtype)  # [z, rho, D^2 - a] in the frame's order
    Ze[:, :q + 1] = F.zr
    We = np.empty((F.nc, q + 2), dtype=F.zr.dtype)
    We[:, q + 1] = -1.0
    d2o, bmax = _frame_order(F, D.d2, Ze)
    slack = 1e-4 * float(G.sq.max()) + 1e-30
    while len(picks) < k:
        i = D.draw(rng.random(), G.sq, chosen)
        picks.append(i)
        chosen[i] = True
        W, wn, rc, cm_sq = F.query(X[i], near=1e3 * slack)
        lb = _gap_sq(wn[F.bin_cluster], F.zlo, F.zhi)
        lb += _gap_sq(rc[F.bin_cluster], F.rlo, F.rhi)
        live = np.flatnonzero(lb < bmax + slack)
        np.multiply(W, -2.0, out=We[:, :q])
        np.multiply(rc, -2.0, out=We[:, q])
        pos = _local_candidates(F, live, Ze, We, slack - cm_sq)
        if len(pos) > _FULL_PASS * n:  # little pruned: one full pass, no gather
            _full_pass(G, D, i)
            d2o, bmax = _frame_order(F, D.d2, Ze)
            continue
        moved, new = _partial_pass(G, D, i, F.order[pos])
        pos = pos[moved]
        d2o[pos] = new
        Ze[pos, q + 1] = new - F.a[pos]
        p = F.position[i]
        d2o[p] = 0.0
        Ze[p, q + 1] = -F.a[p]
        if len(pos):  # (the bin of p keeps its old maximum: an upper bound still)
            b = F.bin_of[pos]  # ascending, as pos
            touched = b[np.append(True, b[1:] != b[:-1])]
            at, off = _ranges(F.bin_start[touched], F.bin_end[touched] - F.bin_start[touched])
            bmax[touched] = np.maximum.reduceat(d2o[at], off)
    return np.asarray(picks, dtype=np.int64)


def _frame_order(F: _LocalFrame, d2: np.ndarray, Ze: np.ndarray) -> tuple[np.ndarray, ...]:
    """D^2 (n,) in the frame's order, with D^2 - a written to the last column of ``Ze``, and
    the largest D^2 of each bin (float64)."""
    d2o = d2[F.order]
    Ze[:, -1] = d2o - F.a
    return d2o, np.maximum.reduceat(d2o, F.bin_start).astype(np.float64)
