"""The state of a k-means++ seeding, shared by the plain loop and the fast paths.

The definition is in :mod:`labelwise.strategies.kmeanspp`. Sharing this state is what makes the
fast seeding exact: both loops compute a distance with the same :class:`Gram` products, store
D^2 in the same :class:`D2Sampler` and draw with the same :meth:`Seeding.draw`, so equal D^2
values give equal draws, bit for bit. A fast path differs only in which rows it hands to
:meth:`Seeding.partial_pass` (those whose D^2 a new centre may lower) instead of making a
:meth:`Seeding.full_pass`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from labelwise.strategies.distances import sq_norms


class Gram:
    """Squared Euclidean distances from inner products: of X (n, d), or of the implicit rows
    g_i = r_i (x) x_i when ``R`` (n, K) is given (BADGE: <g_i, g_j> = <r_i, r_j> <x_i, x_j>).

    ``sq`` (n,) holds the squared norms. Products are taken in row blocks so that a gather never
    copies more than ``block`` rows (512 rows of 384 floats stay in cache: a gathered product then
    costs about 1.5x a contiguous one instead of 3x).
    """

    def __init__(self, X: np.ndarray, R: np.ndarray | None = None, block: int = 512):
        self.X = X
        self.R = None if R is None else np.asarray(R, dtype=X.dtype)
        self.block = block
        self.sq = sq_norms(X)
        if self.R is not None:
            self.sq = self.sq * sq_norms(self.R)
        self.n = len(X)

    def centre(self, c: int) -> tuple[np.ndarray, np.ndarray | None, np.floating]:
        """Row ``c`` as a centre: (x (d,), r (K,) or None, squared norm)."""
        return self.X[c], None if self.R is None else self.R[c], self.sq[c]

    def _dots(self, rows: np.ndarray | None, x: np.ndarray, r: np.ndarray | None) -> np.ndarray:
        if rows is None:
            out = self.X @ x
            if self.R is not None:
                out *= self.R @ r
            return out
        out = np.empty(len(rows), dtype=self.sq.dtype)
        for b0 in range(0, len(rows), self.block):
            rb = rows[b0:b0 + self.block]
            o = self.X[rb] @ x
            if self.R is not None:
                o *= self.R[rb] @ r
            out[b0:b0 + len(rb)] = o
        return out

    def dist2(self, c: int, rows: np.ndarray | None = None) -> np.ndarray:
        """Squared distances (clipped at 0) of the given rows (default: all) to row ``c``:
        (|x|^2 - 2 <x, c>) + |c|^2, in place (multiplying by -2 is exact, so this is rounded as
        |x|^2 - 2.0 * <x, c> + |c|^2 is)."""
        return self.dist2_to(*self.centre(c), rows)

    def dist2_to(self, x: np.ndarray, r: np.ndarray | None, sq, rows: np.ndarray | None = None
                 ) -> np.ndarray:
        """:meth:`dist2` to a centre given as a row: x (d,), r (K,) (with ``R``) and its squared
        norm ``sq`` (a shard worker's centre may be held by another worker)."""
        out = self._dots(rows, x, r)
        out *= -2.0
        out += self.sq if rows is None else self.sq[rows]
        out += sq
        return np.maximum(out, 0.0, out=out)


class D2Sampler:
    """The D^2 values (n,) and their float64 sums over blocks of ``B`` = 64 consecutive positions.

    ``d2`` (n,) is a view of the zero-padded buffer ``buf``; ``blocks`` (n_blocks, B) views the
    same buffer block by block and ``sums`` (n_blocks,) holds each block's sum. A draw costs
    O(n / B + B) and bringing the sums up to date after m values changed O(m B), so that a pick
    which changes few D^2 values does not pay an O(n) cumulative sum. Whoever changes ``d2`` calls
    :meth:`refresh` with the positions.
    """

    B = 64

    def __init__(self, d2: np.ndarray):
        n = len(d2)
        self.n = n
        self.buf = np.zeros(-(-n // self.B) * self.B, dtype=d2.dtype)
        self.buf[:n] = d2
        self.d2 = self.buf[:n]
        self.blocks = self.buf.reshape(-1, self.B)
        self.sums = self.blocks.sum(axis=1, dtype=np.float64)
        self._mark = np.zeros(len(self.sums), dtype=bool)  # scratch: blocks to re-sum

    def refresh(self, positions: np.ndarray | None = None) -> None:
        """Recompute the sums of the blocks holding ``positions`` (all blocks if None)."""
        if positions is None:
            self.sums = self.blocks.sum(axis=1, dtype=np.float64)
        elif len(positions):
            self._mark[np.asarray(positions) // self.B] = True
            blocks = np.flatnonzero(self._mark)
            self._mark[blocks] = False
            self.sums[blocks] = self.blocks[blocks].sum(axis=1, dtype=np.float64)

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
        local = np.cumsum(self.blocks[b], dtype=np.float64)
        local += base
        j = int(np.searchsorted(local, target, side="right"))
        i = b * self.B + j
        if j >= self.B or self.buf[i] <= 0:  # rounding at the end of a block or of the range
            pos = np.flatnonzero(self.blocks[b] > 0)
            i = b * self.B + int(pos[-1]) if len(pos) else int(np.flatnonzero(self.d2 > 0)[-1])
        return i


@dataclass
class Seeding:
    """A k-means++ seeding in progress: the distances (``gram``), the D^2 values and their
    sampler (``sampler``), the ``chosen`` mask (n,), the ``picks`` in order and the ``rng`` that
    draws them."""

    gram: Gram
    sampler: D2Sampler
    chosen: np.ndarray
    picks: list[int]
    rng: np.random.Generator

    @classmethod
    def start(cls, gram: Gram, rng: np.random.Generator) -> Seeding:
        """The first centre: the point of largest norm (as the public BADGE code; ties to the
        lower index), and every D^2 to it (0 at the centre)."""
        first = int(np.argmax(gram.sq))
        d2 = gram.dist2(first)
        d2[first] = 0.0
        chosen = np.zeros(gram.n, dtype=bool)
        chosen[first] = True
        return cls(gram, D2Sampler(d2), chosen, [first], rng)

    def draw(self) -> int:
        """The next centre, drawn with one ``rng.random()`` by D^2, and recorded as picked (its
        D^2 is set to 0 by the pass that follows)."""
        i = self.sampler.draw(self.rng.random(), self.gram.sq, self.chosen)
        self.picks.append(i)
        self.chosen[i] = True
        return i

    def full_pass(self, i: int) -> np.ndarray:
        """Lower D^2 to the distances to the new centre ``i`` with one pass over all rows; returns
        the rows whose D^2 went down (``i`` itself gets 0)."""
        return self.full_pass_to(i, *self.gram.centre(i))

    def full_pass_to(self, i: int | None, x, r, sq) -> np.ndarray:
        """:meth:`full_pass` to the centre (x, r, sq) (see :meth:`Gram.dist2_to`), row ``i`` here
        or None when it is held elsewhere."""
        D = self.sampler
        new = self.gram.dist2_to(x, r, sq)
        moved = np.flatnonzero(new < D.d2)
        D.d2[moved] = new[moved]
        if i is None:
            D.refresh(moved)
        else:
            D.d2[i] = 0.0
            D.refresh(np.append(moved, i))
        return moved

    def partial_pass(self, i: int, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Lower D^2 of ``rows`` (those the bounds could not exclude) to their distances to the new
        centre ``i``; ``i`` gets 0. Returns the mask of ``rows`` that moved and their new D^2."""
        return self.partial_pass_to(i, *self.gram.centre(i), rows)

    def partial_pass_to(self, i: int | None, x, r, sq, rows: np.ndarray
                        ) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`partial_pass` to the centre (x, r, sq), row ``i`` here or None."""
        D = self.sampler
        new = self.gram.dist2_to(x, r, sq, rows)
        moved = new < D.d2[rows]
        new = new[moved]
        D.d2[rows[moved]] = new
        if i is None:
            D.refresh(rows[moved])
        else:
            D.d2[i] = 0.0
            D.refresh(np.append(rows[moved], i))
        return moved, new

    def plain_pick(self) -> None:
        """One pick of the plain loop: a D^2 draw, then a full pass."""
        self.full_pass(self.draw())
