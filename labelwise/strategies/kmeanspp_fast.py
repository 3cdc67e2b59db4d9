"""The fast k-means++ seeding: two exact paths that skip the distances a new centre cannot lower.

The definition and the reference loop are in :mod:`labelwise.strategies.kmeanspp`; the state both
share (distances, the D^2 sampler, the draw) is
:class:`~labelwise.strategies.kmeanspp_state.Seeding`.

Why the picks are the same. A new centre c lowers D_x (the distance of x to its nearest centre)
only if d(x, c) < D_x. So x can be left out of the pass whenever a lower bound of d^2(x, c) is at
least D_x^2: its D^2 would not change. Every x the bounds cannot exclude gets its exact distance
from the same :class:`Gram` product as in the plain loop, so the D^2 values, the sampler's block
sums and therefore the draws are the plain loop's, bit for bit. Each bound is made conservative by
a slack of 1e-4 of the largest squared norm, far above its rounding. When the bounds leave a large
share of the pool, the pick makes one full pass instead (a gather costs more per row than a
contiguous product), so unprunable data (isotropic noise in 384 dimensions) costs about what the
plain loop costs.

How :func:`kmeanspp_local` works (X alone, d > 64, k > 16, n >= 4,096). It works in the local
frame of :mod:`labelwise.strategies.kmeanspp_frame`: clusters of at most 4,096 rows, each with a
mean m and 16 local directions U, where d^2(x, c) >= |z - w|^2 + (rho - rho_c)^2. The frame is
built on a second core while the first picks make full passes (every D^2 is still large then, so
bounds would prune little); the loop switches to the bounds as soon as the frame is ready, and
the picks never depend on when that is. Per pick: the centre's w and rho_c in every cluster
(:meth:`Bases.query`); bins whose ranges of |z| and rho already put the bound above the bin's
largest D^2 are skipped; the rows of the other bins are tested one by one, one
(rows, q + 2) x (q + 2,) product per cluster (:class:`FrameD2`); the survivors get an exact
distance. Above 35% of the pool left, a full pass.

How :func:`kmeanspp_pruned` works (BADGE's implicit embedding, or small or low-dimensional X).
Three bounds: the triangle inequality through each point's nearest centre a (d(x, c) >=
d(a, c) - d(x, a), so x is out when d^2(a, c) >= 4 D_x^2), the norm bound d(x, c) >=
| |x| - |c| |, and with BADGE's residuals R the bound d^2(g_x, g_c) >= |g_x|^2 + |g_c|^2 -
2 |<r_x, r_c>| |h_x| |h_c| from one (n, K) product. Above 25% of the pool left, a full pass (and
without R, no test for the next 8 picks).
"""

from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from labelwise.strategies.distances import sq_norms
from labelwise.strategies.kmeanspp_frame import LocalFrame, build_frame
from labelwise.strategies.kmeanspp_state import Gram, Seeding

_FULL_PASS = 0.35  # above this share of the pool left by the local bounds, a pick makes a full pass


def kmeanspp_pruned(X: np.ndarray, k: int, rng: np.random.Generator,
                    R: np.ndarray | None) -> np.ndarray:
    """k-means++ picks (k,) of X (n, d), or of g_i = r_i (x) x_i with ``R`` (n, K), pruned by the
    nearest-centre triangle inequality, the norm bound and (with R) the residual bound."""
    seeding = Seeding.start(Gram(X, R), rng)
    pruned = PrunedD2(seeding, k)
    pruned.first(*seeding.gram.centre(seeding.picks[0]))
    while len(seeding.picks) < k:
        i = seeding.draw()
        pruned.add(i, *seeding.gram.centre(i))
    return np.asarray(seeding.picks, dtype=np.int64)


class PrunedD2:
    """The bounds of :func:`kmeanspp_pruned` over a seeding's rows, for centres that are rows
    here or rows held elsewhere (a shard worker adds every centre of the global loop).

    Keeps each row's nearest centre (``assign`` (n,), an index into the centres in adding
    order) and a copy of the centres: x (capacity, d), r (capacity, K) and squared norms.
    """

    def __init__(self, seeding: Seeding, capacity: int):
        G = seeding.gram
        self.seeding = seeding
        self.assign = np.zeros(G.n, dtype=np.int32)
        self.slack = 1e-4 * float(G.sq.max() if G.n else 0.0) + 1e-30
        self.norms = np.sqrt(G.sq)
        self.hnorms = np.sqrt(sq_norms(G.X)) if G.R is not None else None
        self.cx = np.empty((capacity, G.X.shape[1]), dtype=G.X.dtype)
        self.cr = None if G.R is None else np.empty((capacity, G.R.shape[1]), dtype=G.R.dtype)
        self.csq = np.empty(capacity, dtype=G.sq.dtype)
        self.nc = 0
        self.skip = 0  # picks left before the pruning test is tried again after it failed

    def first(self, x, r, sq) -> None:
        """Record the first centre (the seeding's D^2 already holds the distances to it)."""
        self._record(x, r, sq)

    def _record(self, x, r, sq) -> None:
        j = self.nc
        self.cx[j] = x
        if self.cr is not None:
            self.cr[j] = r
        self.csq[j] = sq
        self.nc += 1

    def _to_centres(self, x, r, sq) -> np.ndarray:
        """Squared distances (clipped at 0) of the centre (x, r, sq) to the centres so far."""
        j = self.nc
        out = self.cx[:j] @ x
        if self.cr is not None:
            out *= self.cr[:j] @ r
        out *= -2.0
        out += self.csq[:j]
        out += sq
        return np.maximum(out, 0.0, out=out)

    def add(self, i: int | None, x, r, sq) -> None:
        """Lower D^2 to the new centre (x, r, sq), row ``i`` here (already drawn) or None: only
        the rows the bounds cannot exclude get their exact distance."""
        seeding, G, d2 = self.seeding, self.seeding.gram, self.seeding.sampler.d2
        n, R, slack = G.n, G.R, self.slack
        j = self.nc
        if R is None and self.skip:
            self.skip -= 1
            cand = None
        else:
            # triangle inequality through each point's nearest centre (j earlier centres)
            thr = self._to_centres(x, r, sq)[self.assign]
            thr -= slack
            thr *= 0.25
            keep = d2 > thr
            if R is not None:
                # BADGE: |<g_x, g_c>| <= |<r_x, r_c>| |h_x| |h_c|, from an (n, K) product only
                lb = np.abs(R @ r)
                lb *= self.hnorms
                lb *= -2.0 * np.sqrt(x @ x)
                lb += G.sq
                lb += sq - slack
                keep &= lb < d2
            cand = np.flatnonzero(keep)
            if len(cand):  # and d(x, c) >= | |x| - |c| |
                gap = self.norms[cand] - np.sqrt(sq)
                cand = cand[gap * gap < d2[cand] + slack]
            if R is None and len(cand) > n // 4:
                self.skip = 8
        if cand is None or len(cand) > n // 4:  # little pruned: one full pass, no gather
            self.assign[seeding.full_pass_to(i, x, r, sq)] = j
        else:
            self.assign[cand[seeding.partial_pass_to(i, x, r, sq, cand)[0]]] = j
        if i is not None:
            self.assign[i] = j
        self._record(x, r, sq)


def kmeanspp_local(X: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    """k-means++ picks (k,) of X (n, d), pruned by the local frame's bounds."""
    seeding, F = _first_picks_alongside_frame(X, k, rng)
    if F is None:  # every pick was made while the frame was being built
        return np.asarray(seeding.picks, dtype=np.int64)
    n = seeding.gram.n
    state = FrameD2.start(F, seeding.sampler.d2)
    slack = 1e-4 * float(seeding.gram.sq.max()) + 1e-30
    while len(seeding.picks) < k:
        i = seeding.draw()
        W, wn, rc, cm_sq = F.bases.query(X[i], near=1e3 * slack)
        live = np.flatnonzero(F.bins.lower_bound(wn, rc) < state.bin_max + slack)
        state.aim(W, rc)
        pos = state.candidates(live, slack - cm_sq)
        if len(pos) > _FULL_PASS * n:  # little pruned: one full pass, no gather
            seeding.full_pass(i)
            state.resync(seeding.sampler.d2)
            continue
        moved, new = seeding.partial_pass(i, F.order[pos])
        state.lower(pos[moved], new, F.position[i])
    return np.asarray(seeding.picks, dtype=np.int64)


@dataclass
class FrameD2:
    """D^2 as the local bounds read it, in the frame's order (position p is row ``frame.order[p]``):
    ``d2`` (n,) the D^2 values, ``bin_max`` (bins,) float64 an upper bound of each bin's largest
    D^2, ``rows`` (n, q + 2) = [z, rho, D^2 - a] and ``centre`` (clusters, q + 2) =
    [-2 w, -2 rho_c, -1] for the current centre.

    With a = |z|^2 + rho^2, the bound |z - w|^2 + (rho - rho_c)^2 - slack < D^2 reads
    rows[p] . centre[c] < slack - |c - m|^2: one product per cluster tests all its rows.
    """

    frame: LocalFrame
    d2: np.ndarray
    bin_max: np.ndarray
    rows: np.ndarray
    centre: np.ndarray

    @classmethod
    def start(cls, frame: LocalFrame, d2: np.ndarray) -> FrameD2:
        q = frame.bases.q
        rows = np.empty((len(frame.order), q + 2), dtype=frame.zr.dtype)
        rows[:, :q + 1] = frame.zr
        centre = np.empty((frame.bases.nc, q + 2), dtype=frame.zr.dtype)
        centre[:, q + 1] = -1.0
        state = cls(frame, np.empty(0), np.empty(0), rows, centre)  # filled by resync
        state.resync(d2)
        return state

    def resync(self, d2: np.ndarray) -> None:
        """Take every D^2 (n,, in row order) again, after a full pass."""
        F = self.frame
        self.d2 = d2[F.order]
        self.rows[:, -1] = self.d2 - F.a
        self.bin_max = np.maximum.reduceat(self.d2, F.bins.start).astype(np.float64)

    def aim(self, W: np.ndarray, rc: np.ndarray) -> None:
        """Set the centre's row per cluster from its w (clusters, q) and rho_c (clusters,)."""
        q = self.frame.bases.q
        np.multiply(W, -2.0, out=self.centre[:, :q])
        np.multiply(rc, -2.0, out=self.centre[:, q])

    def candidates(self, live: np.ndarray, thr: np.ndarray) -> np.ndarray:
        """Positions in the ``live`` bins (sorted) whose bound is below their D^2, ``thr``
        (clusters,) = slack - |c - m|^2: one product per cluster with live bins, over its
        positions from the first live bin to the last (contiguous in memory; measured faster
        than gathering only the live bins' rows)."""
        if not len(live):
            return live
        bins = self.frame.bins
        cl = bins.cluster[live]
        brk = np.flatnonzero(cl[1:] != cl[:-1]) + 1
        starts = bins.start[live[np.concatenate(([0], brk))]]
        ends = bins.end[live[np.append(brk - 1, len(live) - 1)]]
        cs = cl[np.concatenate(([0], brk))]
        found = [np.flatnonzero(self.rows[s:e] @ self.centre[c] < thr[c]) + s
                 for s, e, c in zip(starts.tolist(), ends.tolist(), cs.tolist(), strict=True)]
        return np.concatenate(found)

    def lower(self, pos: np.ndarray, new: np.ndarray, p: int) -> None:
        """Positions ``pos`` (ascending) got the new D^2 values ``new`` and the centre, at
        position p, got 0; the bins of ``pos`` take their largest D^2 again (the bin of p keeps
        its old maximum: an upper bound still)."""
        F = self.frame
        self.d2[pos] = new
        self.rows[pos, -1] = new - F.a[pos]
        self.d2[p] = 0.0
        self.rows[p, -1] = -F.a[p]
        if len(pos):
            b = F.bins.of[pos]  # ascending, as pos
            touched = b[np.append(True, b[1:] != b[:-1])]
            start = F.bins.start[touched]
            at, off = _ranges(start, F.bins.end[touched] - start)
            self.bin_max[touched] = np.maximum.reduceat(self.d2[at], off)


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


def _first_picks_alongside_frame(X, k, rng) -> tuple[Seeding, LocalFrame | None]:
    """The first centre, then plain picks (full passes) while the local frame of X is built on a
    second core: every D^2 is still large then, so bounds would prune little. With one core the
    frame is built first. Returns the seeding so far and the frame (None when all k picks were
    made before it was ready; its build is then told to stop). The frame has its own seed: it
    changes the speed, never the picks."""
    if _cores() < 2:
        F = build_frame(X, np.random.default_rng(0))
        return Seeding.start(Gram(X), rng), F
    stop = threading.Event()
    with ThreadPoolExecutor(1) as pool:
        frame = pool.submit(build_frame, X, np.random.default_rng(0), stop=stop)
        seeding = Seeding.start(Gram(X), rng)
        while len(seeding.picks) < k and not frame.done():
            seeding.plain_pick()
        if len(seeding.picks) == k:
            stop.set()  # the frame stops at its next cluster
            return seeding, None
        return seeding, frame.result()
