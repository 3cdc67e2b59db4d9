"""The fast k-center greedy: lazy evaluation with a vectorised active set.

The definition and the reference loop are in :mod:`labelwise.strategies.kcenter`; this module is
only the acceleration that :func:`~labelwise.strategies.kcenter.kcenter_greedy` runs.

How it works. The plain loop compares every candidate with every new centre. Here a candidate's
distance to the centres it has been compared with is kept as an upper bound of its true distance
(adding centres only lowers it), valid against the centres up to its *version*. An *active set*
holds the candidates whose exact distance is known to be at least a threshold t; every other
candidate has an upper bound below t. Each pick

1. takes the largest exact distance in the active set if it is >= t (ties to the lower index),
2. updates the active set against the new centre with one (a, d) x (d,) product and moves the
   candidates that fell below t out of it (they keep their distance and version as a bound).

When the active set runs dry (its largest distance is below t), t is lowered so that about
``chunk`` more candidates (default max(512, n / 256)) enter, chosen by their bound with one O(n)
partition, and those are brought up to date against the centres picked since their version with
(rows, d) x (d, 64) products, centres in picking order; a candidate leaves as soon as it falls
below t (remembering how far it got).

Why the picks are the same: a candidate outside the active set has a bound below t, and its true
distance is at most its bound, so it cannot be the farthest while some active candidate is >= t;
inside the active set the distances are exact. So every pick is the plain loop's argmax, ties
included (the lower index among equal maxima). Rounding is the one caveat: a distance computed in
a matrix product can differ in the last bits from the plain loop's (n, d) x (d,) product (see
:func:`~labelwise.strategies.kcenter.kcenter_greedy`).

Memory O(n + k d) plus a copy of the active rows (the candidates within the band [t, current
farthest]).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from labelwise.strategies.distances import sq_norms


@dataclass
class Picks:
    """The centres picked in this call, in picking order: positions, rows (k, d) and squared norms
    (k,) (the first ``len(positions)`` filled). A candidate at version v has been compared with
    the labeled centres and with picked centres [0, v)."""

    rows: np.ndarray
    sq: np.ndarray
    positions: list[int] = field(default_factory=list)

    def add(self, i: int, X: np.ndarray, x_sq: np.ndarray) -> None:
        p = len(self.positions)
        self.positions.append(i)
        self.rows[p] = X[i]
        self.sq[p] = x_sq[i]


@dataclass
class Bounds:
    """What is known of every candidate (n,): ``dist``, its squared distance to the centres it has
    been compared with (-inf once picked); ``version``, how many picked centres that is;
    ``outside``, the same as ``dist`` for the candidates outside the active set and -inf for the
    others and for picks (the threshold is lowered over these)."""

    dist: np.ndarray
    version: np.ndarray
    outside: np.ndarray

    def release(self, idx: np.ndarray, dist: np.ndarray, version) -> None:
        """Candidates ``idx`` leave the active set with their distance reached at ``version``."""
        self.dist[idx] = dist
        self.outside[idx] = self.dist[idx]
        self.version[idx] = version


@dataclass
class ActiveSet:
    """The candidates whose exact distance is known to be >= the threshold t: positions ``idx``
    (a,), a copy of their rows (a, d) (each pick's update is then one contiguous product), their
    exact distances ``dist`` (a,) and versions (a,)."""

    idx: np.ndarray
    rows: np.ndarray
    dist: np.ndarray
    version: np.ndarray

    @classmethod
    def empty(cls, d: int, dtype, dist_dtype) -> ActiveSet:
        return cls(np.empty(0, dtype=np.int64), np.empty((0, d), dtype=dtype),
                   np.empty(0, dtype=dist_dtype), np.empty(0, dtype=np.int32))

    def add(self, idx, rows, dist, version) -> None:
        self.idx = np.concatenate([self.idx, idx])
        self.rows = np.concatenate([self.rows, rows])
        self.dist = np.concatenate([self.dist, dist])
        self.version = np.concatenate([self.version, version])

    def keep(self, mask: np.ndarray) -> None:
        self.idx, self.rows = self.idx[mask], self.rows[mask]
        self.dist, self.version = self.dist[mask], self.version[mask]


def kcenter_active(X, k, dist0, rng, chunk=None, cstep=64) -> np.ndarray:
    """k-center greedy picks (k,) from X (n, d) with the active set; ``dist0`` (n,) the squared
    distances to the labeled centres, or None (then the first centre is ``rng.integers(n)``).
    ``chunk`` candidates enter per lowering of t; ``cstep`` centres per catch-up product."""
    n, d = X.shape
    chunk = chunk or max(512, n // 256)
    x_sq = sq_norms(X)
    picks = Picks(np.empty((k, d), dtype=X.dtype), np.empty(k, dtype=x_sq.dtype))
    if dist0 is not None:
        u = dist0
    else:
        rng = rng if rng is not None else np.random.default_rng()
        first = int(rng.integers(n))
        u = np.maximum(x_sq - 2.0 * (X @ X[first]) + x_sq[first], 0.0)
        u[first] = -np.inf
        picks.add(first, X, x_sq)
    k = min(k, n)
    bounds = Bounds(u, np.full(n, len(picks.positions), dtype=np.int32), u.copy())
    active = ActiveSet.empty(d, X.dtype, u.dtype)
    t = np.inf  # every candidate outside the active set has a bound < t
    while len(picks.positions) < k:
        while True:
            if len(active.idx):
                m = active.dist.max()
                if m >= t:
                    break
            t = _lower_threshold(X, x_sq, picks, bounds, active, chunk, cstep)
        i = int(active.idx[active.dist == m].min())
        _pick(i, X, x_sq, picks, bounds, active, t)
    return np.asarray(picks.positions, dtype=np.int64)


def _pick(i, X, x_sq, picks: Picks, bounds: Bounds, active: ActiveSet, t) -> None:
    """Make active candidate ``i`` a centre; bring the active set up to date against it and move
    out the candidates that fell below t."""
    p = len(picks.positions)
    picks.add(i, X, x_sq)
    bounds.dist[i] = -np.inf
    keep = active.idx != i
    dn = x_sq[active.idx] - 2.0 * (active.rows @ picks.rows[p]) + picks.sq[p]
    np.minimum(active.dist, dn, out=active.dist)
    keep &= active.dist >= t
    drop = ~keep
    drop[active.idx == i] = False
    if drop.any():
        bounds.release(active.idx[drop], active.dist[drop], p + 1)
    active.keep(keep)
    active.version += 1


def _lower_threshold(X, x_sq, picks: Picks, bounds: Bounds, active: ActiveSet, chunk, cstep):
    """Lower t so that the next ~``chunk`` candidates by bound enter the active set, bring them up
    to date, keep those still >= t; returns the new t (-inf once every candidate is in)."""
    n = len(X)
    p = len(picks.positions)
    n_out = n - len(active.idx) - p
    take = min(chunk, n_out)
    if take == 0:
        return -np.inf
    w = bounds.outside
    t = np.partition(w, n - take)[n - take]
    new = np.flatnonzero(w >= t)
    w[new] = -np.inf
    XN = X[new]
    uN = bounds.dist[new]
    vN = bounds.version[new]
    _catch_up(XN, x_sq[new], uN, vN, picks, p, t, cstep)
    active.add(new, XN, uN, vN)
    keep = active.dist >= t
    if not keep.all():
        out = ~keep
        bounds.release(active.idx[out], active.dist[out], active.version[out])
        active.keep(keep)
    if n_out == take and len(active.idx) == 0:
        raise AssertionError("no candidates left")
    return t


def _catch_up(XN, xN_sq, uN, vN, picks: Picks, p: int, t, cstep: int) -> None:
    """Bring distances ``uN`` (r,) of rows XN (r, d) at versions ``vN`` (r,) up to date against the
    picked centres [vN, p), in place: ``cstep`` centres at a time, in picking order; a row whose
    distance falls below t stops there, with the version it reached."""
    for v in np.unique(vN):
        rows = np.flatnonzero(vN == v)
        lo = int(v)
        while lo < p and len(rows):
            hi = min(p, lo + cstep)
            dn = XN[rows] @ picks.rows[lo:hi].T
            dn *= -2.0
            dn += xN_sq[rows, None]
            dn += picks.sq[None, lo:hi]
            cur = np.minimum(uN[rows], dn.min(axis=1))
            uN[rows] = cur
            vN[rows] = hi
            rows = rows[cur >= t]
            lo = hi
