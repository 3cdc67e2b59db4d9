"""The local frame: the clusters, local bases and bins that the fast k-means++ bounds work in.

Used by the local-bound path of :mod:`labelwise.strategies.kmeanspp_fast` (read that first).

What it holds. The pool X (n, d) is cut into clusters of at most 4,096 rows. Each cluster has a
mean m and an orthonormal basis U of q = 16 local directions; each row x has local coordinates
z = U (x - m) (q,) and a residual norm rho = |x - m - U^T z|. For a centre c, with w = U (c - m)
and rho_c = |c - m - U^T w| in the same cluster's frame,

    d^2(x, c) >= |z - w|^2 + (rho - rho_c)^2

(Pythagoras in the two orthogonal parts, then the reverse triangle inequality on the residuals).
The bound holds for any m and any orthonormal U; a good choice only makes it tight. Rows are
sorted by |z| within their cluster and cut into at most 32 bins; the ranges of |z| and rho over a
bin bound the whole bin at once (:meth:`Bins.lower_bound`).

How it is built (:func:`build_frame`): k-means (k-means++ seeding and 5 Lloyd steps on a sample)
into up to 64 clusters, k-means again inside clusters above 4,096 rows, then up to 8 rounds of
cutting clusters in two along their top local direction: those still too large (at the median)
and those whose residuals are far above the typical cluster's (k-means joined two groups: cut
where 1-D 2-means puts it). Bases come from a randomized range finder (Halko et al. 2011) on at
most 256 rows per cluster. The frame has its own random generator: it changes the speed of the
seeding, never its picks.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import numpy as np

from labelwise.strategies.distances import sq_norms
from labelwise.strategies.kmeanspp_state import Gram, Seeding

LOCAL_DIMS = 16  # local directions per cluster
_BINS = 32  # |z| bins per cluster
_FIRST_CLUSTERS = 64  # k-means clusters before splitting
_MAX_CLUSTER = 4096  # larger clusters are cut again (k-means within them, then halving)


class Stopped(Exception):
    """The frame's build was stopped (its picks were all made without it)."""


@dataclass
class Cluster:
    """One cluster of rows ``idx`` (r,): mean ``m`` (d,), basis ``U`` (q, d) (zero rows where the
    cluster has fewer directions), and per row z = U (x - m) (r, q), the residual norm ``rho``
    (r,) and ``zn`` = |z| (r,)."""

    idx: np.ndarray
    m: np.ndarray
    U: np.ndarray
    z: np.ndarray
    rho: np.ndarray
    zn: np.ndarray

    @classmethod
    def fit(cls, X: np.ndarray, idx: np.ndarray, q: int, rng: np.random.Generator) -> Cluster:
        R = X[idx]
        m = (np.ones(len(idx), dtype=X.dtype) @ R) / len(idx)  # any m keeps the bound
        R -= m
        sub = R if len(idx) <= 256 else R[rng.choice(len(idx), 256, replace=False)]
        vt = local_basis(sub, q, rng)
        U = np.zeros((q, X.shape[1]), dtype=X.dtype)
        U[:len(vt)] = vt
        z = R @ U.T
        # the residual itself, not |x - m|^2 - |z|^2: a small difference of two large numbers
        R -= z @ U
        return cls(idx, m, U, z, np.sqrt(sq_norms(R)), np.sqrt(sq_norms(z)))


@dataclass
class Bins:
    """Runs of consecutive frame positions [start, end) (bins,), each inside one ``cluster``;
    ``of`` (n,) the bin of each position; float64 ranges of |z| (``zlo``, ``zhi``) and of rho
    (``rlo``, ``rhi``) over each bin."""

    start: np.ndarray
    end: np.ndarray
    cluster: np.ndarray
    of: np.ndarray
    zlo: np.ndarray
    zhi: np.ndarray
    rlo: np.ndarray
    rhi: np.ndarray

    def lower_bound(self, wn: np.ndarray, rc: np.ndarray) -> np.ndarray:
        """A lower bound (bins,) of d^2(x, c) over each bin's rows, from the centre's |w| and rho_c
        per cluster (clusters,): |z - w| >= | |z| - |w| |, so the gap from |w| to the bin's range
        of |z|, squared, plus the same for rho."""
        lb = gap_sq(wn[self.cluster], self.zlo, self.zhi)
        lb += gap_sq(rc[self.cluster], self.rlo, self.rhi)
        return lb


@dataclass
class Bases:
    """The clusters' frames stacked: ``U`` (clusters * q, d) the bases, ``M`` (clusters, d) the
    means (and ``M64``, float64), ``Um`` = U m (clusters, q), ``m_sq`` = |m|^2 (clusters,)."""

    nc: int
    q: int
    U: np.ndarray
    M: np.ndarray
    Um: np.ndarray
    M64: np.ndarray
    m_sq: np.ndarray

    def query(self, xc: np.ndarray, near: float) -> tuple[np.ndarray, ...]:
        """For a centre xc (d,) and each cluster: w = U (xc - m) (clusters, q), then as float64
        (clusters,) |w|, rho_c = |xc - m - U^T w| and |xc - m|^2.

        rho_c^2 is first taken as |xc - m|^2 - |w|^2; where that is below ``near`` (a small
        difference of large numbers, which float32 w would spoil), w and rho_c are computed again
        from xc - m in float64 (usually only for the centre's own cluster).
        """
        W = (self.U @ xc).reshape(self.nc, self.q)
        W -= self.Um
        w_sq = sq_norms(W).astype(np.float64)
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


@dataclass
class LocalFrame:
    """The clusters of X (n, d) laid out in one order: rows sorted by cluster, then by |z|.

    Indexed by frame position p: ``order`` (n,) the row of X at p (``position`` its inverse),
    ``zr`` (n, q + 1) = [z, rho] (views ``z``, ``rho``), ``a`` = |z|^2 + rho^2 = |x - m|^2 (n,).
    """

    order: np.ndarray
    position: np.ndarray
    zr: np.ndarray
    a: np.ndarray
    bins: Bins
    bases: Bases

    @property
    def z(self) -> np.ndarray:
        return self.zr[:, :-1]

    @property
    def rho(self) -> np.ndarray:
        return self.zr[:, -1]


def build_frame(X: np.ndarray, rng: np.random.Generator, q: int = LOCAL_DIMS,
                stop: threading.Event | None = None) -> LocalFrame:
    """The local frame of X (n, d) (see the module docstring). ``stop`` (set from another thread)
    ends the build early, between two clusters, with :class:`Stopped`."""
    stop = stop or threading.Event()
    n, d = X.shape
    q = min(q, d)

    def cluster(idx: np.ndarray) -> Cluster:
        if stop.is_set():
            raise Stopped
        return Cluster.fit(X, idx, q, rng)

    lab = kmeans_labels(X, min(_FIRST_CLUSTERS, max(2, n // 300)), rng)
    groups = np.split(np.argsort(lab, kind="stable"), np.cumsum(np.bincount(lab))[:-1])
    rows = []
    for g in groups:  # large clusters: k-means again within them (cheaper than halving)
        if len(g) > _MAX_CLUSTER:
            sub = kmeans_labels(X[g], -(-4 * len(g) // (3 * _MAX_CLUSTER)), rng)
            bounds = np.cumsum(np.bincount(sub))[:-1]
            rows += np.split(g[np.argsort(sub, kind="stable")], bounds)
        else:
            rows.append(g)
    clusters = [cluster(t) for t in rows if len(t)]
    for _ in range(8):
        # split the large clusters, and those whose local directions leave far more than
        # is typical (k-means joined two groups), along their top direction
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
    return _lay_out(clusters, n, d, q, X.dtype)


def _lay_out(clusters: list[Cluster], n: int, d: int, q: int, dtype) -> LocalFrame:
    """The clusters' rows in one order (cluster by cluster, by |z| within each), cut into bins."""
    nc = len(clusters)
    order = np.empty(n, dtype=np.int64)
    zr = np.empty((n, q + 1), dtype=dtype)  # [z, rho]
    zn = np.empty(n)
    M = np.empty((nc, d), dtype=dtype)
    U = np.empty((nc, q, d), dtype=dtype)
    starts, owner = [], []
    s = 0
    for c, cl in enumerate(clusters):
        e = s + len(cl.idx)
        srt = np.argsort(cl.zn, kind="stable")
        order[s:e] = cl.idx[srt]
        zr[s:e, :q] = cl.z[srt]
        zr[s:e, q] = cl.rho[srt]
        zn[s:e] = cl.zn[srt]
        M[c], U[c] = cl.m, cl.U
        nbin = max(1, min(_BINS, (e - s) // 32))
        starts.append(s + (np.arange(nbin) * (e - s)) // nbin)
        owner.append(np.full(nbin, c))
        s = e
    bin_start = np.concatenate(starts)
    bin_end = np.append(bin_start[1:], n)
    rho = zr[:, q].astype(np.float64)
    bins = Bins(bin_start, bin_end, np.concatenate(owner),
                np.repeat(np.arange(len(bin_start)), bin_end - bin_start),
                np.minimum.reduceat(zn, bin_start), np.maximum.reduceat(zn, bin_start),
                np.minimum.reduceat(rho, bin_start), np.maximum.reduceat(rho, bin_start))
    position = np.empty(n, dtype=np.int64)
    position[order] = np.arange(n)
    M64 = M.astype(np.float64)
    bases = Bases(nc, q, U.reshape(nc * q, d), M, np.einsum("cqd,cd->cq", U, M), M64,
                  np.einsum("ij,ij->i", M64, M64))
    return LocalFrame(order, position, zr, sq_norms(zr), bins, bases)


def kmeans_labels(X: np.ndarray, m: int, rng: np.random.Generator, iters: int = 5) -> np.ndarray:
    """Labels (n,) of m clusters: k-means++ seeding (the plain loop) and Lloyd steps on a sample
    of <= 32 m rows, then every row to its nearest centroid (in blocks of 8,192 rows)."""
    n = len(X)
    m = min(m, n)
    s = min(n, 32 * m)
    sample = X[np.sort(rng.choice(n, s, replace=False))]
    seeding = Seeding.start(Gram(sample), rng)
    while len(seeding.picks) < m:
        seeding.plain_pick()
    C = sample[seeding.picks]
    onehot = np.zeros((m, s), dtype=X.dtype)
    for _ in range(iters):
        lab = np.argmin(sq_norms(C)[None, :] - 2.0 * (sample @ C.T), axis=1)
        cnt = np.bincount(lab, minlength=m)
        onehot[:] = 0.0
        onehot[lab, np.arange(s)] = 1.0
        sums = onehot @ sample
        nz = cnt > 0
        C[nz] = sums[nz] / cnt[nz, None]
    c_sq, C2 = sq_norms(C), -2.0 * C.T
    out = np.empty(n, dtype=np.int64)
    for r0 in range(0, n, 8192):
        P = X[r0:r0 + 8192] @ C2
        P += c_sq
        out[r0:r0 + 8192] = np.argmin(P, axis=1)
    return out


def local_basis(R: np.ndarray, q: int, rng: np.random.Generator) -> np.ndarray:
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


def _halves(cluster: Cluster, balanced: bool) -> list[np.ndarray]:
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


def gap_sq(v: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """Squared distance from v to the interval [lo, hi], elementwise."""
    g = np.maximum(lo - v, v - hi)
    np.maximum(g, 0.0, out=g)
    g *= g
    return g
