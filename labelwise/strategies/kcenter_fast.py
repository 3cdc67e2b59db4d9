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

    def add_row(self, row: np.ndarray, sq, i: int) -> None:
        """Centre ``row`` (d,) of squared norm ``sq``, at position ``i`` (-1: held elsewhere)."""
        p = len(self.positions)
        self.positions.append(i)
        self.rows[p] = row
        self.sq[p] = sq


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
    first = None
    if dist0 is None:
        rng = rng if rng is not None else np.random.default_rng()
        first = int(rng.integers(len(X)))
    state = KCenterState(X, k, dist0, first_at=first, chunk=chunk, cstep=cstep)
    k = min(k, len(X))
    while len(state.picks.positions) < k:
        state.add(state.farthest()[0])
    return np.asarray(state.picks.positions, dtype=np.int64)


class KCenterState:
    """The active-set state over rows X (n, d), for centres picked here or elsewhere.

    :func:`kcenter_active` alternates :meth:`farthest` and :meth:`add` on one state; a shard
    worker keeps one over its own rows and adds every centre of the global loop, its own picks
    (``at`` given) and the other workers' (a row it does not hold), so its :meth:`farthest` is
    the exact farthest of its rows. ``capacity`` bounds the centres added (k).

    The first centre, when there are no labeled ones (``dist0`` None), is row ``first_at`` or
    the row ``first_row`` (d,) with squared norm ``first_sq`` held elsewhere.
    """

    def __init__(self, X, capacity, dist0, first_at=None, first_row=None, first_sq=None,
                 chunk=None, cstep=64):
        n, d = X.shape
        self.X, self.x_sq = X, sq_norms(X)
        self.chunk, self.cstep = chunk or max(512, n // 256), cstep
        self.picks = Picks(np.empty((capacity, d), dtype=X.dtype),
                           np.empty(capacity, dtype=self.x_sq.dtype))
        self.left = n  # rows not picked
        if dist0 is not None:
            u = dist0
        else:
            if first_at is not None:
                first_row, first_sq = X[first_at], self.x_sq[first_at]
            u = np.maximum(self.x_sq - 2.0 * (X @ first_row) + first_sq, 0.0)
            if first_at is not None:
                u[first_at] = -np.inf
                self.left -= 1
            self.picks.add_row(first_row, first_sq, -1 if first_at is None else first_at)
        self.bounds = Bounds(u, np.full(n, len(self.picks.positions), dtype=np.int32), u.copy())
        self.active = ActiveSet.empty(d, X.dtype, u.dtype)
        self.t = np.inf  # every row outside the active set has a bound < t

    def farthest(self):
        """(position, squared distance) of the farthest unpicked row, ties to the lower
        position; None when every row is picked."""
        if self.left == 0:
            return None
        active = self.active
        while True:
            if len(active.idx):
                m = active.dist.max()
                if m >= self.t:
                    break
            self.t = _lower_threshold(self.X, self.x_sq, self.picks, self.bounds, active,
                                      self.chunk, self.cstep, len(self.X) - self.left)
        return int(active.idx[active.dist == m].min()), m

    def top(self, m: int):
        """The ``m`` farthest unpicked rows, exactly: (positions (m',), squared distances (m',))
        farthest first, ties to the lower position, and a bound that no other unpicked row's
        distance exceeds (-inf when none is left). m' = min(m, rows left)."""
        active = self.active
        m = min(m, self.left)
        while len(active.idx) < m:  # bring more rows in until m are known exactly
            self.t = _lower_threshold(self.X, self.x_sq, self.picks, self.bounds, active,
                                      self.chunk, self.cstep, len(self.X) - self.left)
        order = np.lexsort((active.idx, -active.dist))
        rest = active.dist[order[m:]]
        bound = max(float(self.t), float(rest[0]) if len(rest) else -np.inf)
        return active.idx[order[:m]], active.dist[order[:m]], bound

    def add(self, at=None, row=None, sq=None) -> None:
        """Add a centre: row ``at`` of X, or the row ``row`` (d,) of squared norm ``sq`` held
        elsewhere (``at`` None)."""
        if at is not None:
            row, sq = self.X[at], self.x_sq[at]
            self.left -= 1
        _pick(at, row, sq, self.x_sq, self.picks, self.bounds, self.active, self.t)


def _pick(i, row, sq, x_sq, picks: Picks, bounds: Bounds, active: ActiveSet, t) -> None:
    """Make ``row`` (active candidate ``i``, or a row from elsewhere when ``i`` is None) a
    centre; bring the active set up to date against it and move out the candidates that fell
    below t."""
    p = len(picks.positions)
    picks.add_row(row, sq, -1 if i is None else i)
    keep = np.ones(len(active.idx), dtype=bool)
    if i is not None:
        bounds.dist[i] = -np.inf
        bounds.outside[i] = -np.inf
        keep = active.idx != i
    dn = x_sq[active.idx] - 2.0 * (active.rows @ picks.rows[p]) + picks.sq[p]
    np.minimum(active.dist, dn, out=active.dist)
    keep &= active.dist >= t
    drop = ~keep
    if i is not None:
        drop[active.idx == i] = False
    if drop.any():
        bounds.release(active.idx[drop], active.dist[drop], p + 1)
    active.keep(keep)
    active.version += 1


def _lower_threshold(X, x_sq, picks: Picks, bounds: Bounds, active: ActiveSet, chunk, cstep,
                     n_picked):
    """Lower t so that the next ~``chunk`` candidates by bound enter the active set, bring them up
    to date, keep those still >= t; returns the new t (-inf once every candidate is in).
    ``n_picked`` rows of X are centres (the other centres came from elsewhere)."""
    n = len(X)
    p = len(picks.positions)
    n_out = n - len(active.idx) - n_picked
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
