"""The shard worker: one Ray actor holding a contiguous range of a pool's shards.

A :class:`ShardWorker` memory-maps its shards (global rows ``[start, stop)``) and keeps, for the
round in progress, its candidates and whatever per-row state a selector needs: scores for an
exact top-k, minimum distances for k-center greedy, D^2 values for k-means++. The driver sends
the model once per round (``ray.put``) and small messages per pick; rows never leave the worker
except the few that become centres. Every computation calls the project's own functions
(registry scores, :mod:`~labelwise.strategies.distances`,
:mod:`~labelwise.strategies.kmeanspp_state`), so a shard computes what the in-memory pool
computes on the same rows.

The class is plain Python (the tests may run it without Ray); :mod:`labelwise.distributed.driver`
wraps it with ``ray.remote``.
"""

from __future__ import annotations

import numpy as np

from labelwise.sharded import check_shard_finite

#: rows scored at once: bounds the model's temporaries on a worker (proba, embeddings).
BLOCK_ROWS = 32768


class ShardWorker:
    """Shards ``paths`` (their global rows start at ``start``), memory-mapped.

    State of a round: ``cand`` (n_c,) local rows that are candidates, ascending; per selector,
    ``emb`` (n_c, d') embeddings, ``dist`` (n_c,) minimum squared distances (k-center) or the D^2
    sampler (k-means++).
    """

    def __init__(self, paths: list[str], start: int, check: bool = True):
        self.names = [p.rsplit("/", 1)[-1] for p in paths]
        self.parts = [np.load(p, mmap_mode="r") for p in paths]
        self.sizes = np.array([len(a) for a in self.parts], dtype=np.int64)
        self.starts = start + np.concatenate([[0], np.cumsum(self.sizes)[:-1]]).astype(np.int64)
        self.start = start
        self.stop = start + int(self.sizes.sum())
        if check:  # NaN/inf rows: one line naming the shard, before any round
            for a, name, s0 in zip(self.parts, self.names, self.starts, strict=True):
                check_shard_finite(a, name, int(s0))
        self.cluster_ids: dict = {}

    # -- rows --------------------------------------------------------------------------------
    def n_rows(self) -> int:
        return self.stop - self.start

    def rows(self, local: np.ndarray) -> np.ndarray:
        """(len(local), d) copy of the given local rows (ascending or not), across shards."""
        local = np.asarray(local, dtype=np.int64)
        bounds = np.concatenate([[0], np.cumsum(self.sizes)])
        s_of = np.searchsorted(bounds, local, side="right") - 1
        out = np.empty((len(local), self.parts[0].shape[1]), dtype=self.parts[0].dtype)
        for s in np.unique(s_of):
            at = np.flatnonzero(s_of == s)
            out[at] = self.parts[s][local[at] - bounds[s]]
        return out

    def blocks(self, local: np.ndarray, block_rows: int = BLOCK_ROWS):
        """(positions, rows) blocks of the given ascending local rows."""
        for b0 in range(0, len(local), block_rows):
            yield slice(b0, b0 + block_rows), self.rows(local[b0:b0 + block_rows])

    # -- a round -----------------------------------------------------------------------------
    def begin_round(self, model, previous_model, excluded: np.ndarray | None,
                    candidates: np.ndarray | None, X_labeled, y_labeled, classes) -> int:
        """Set this round's candidates: every row not ``excluded`` (global ids, e.g. the labeled
        ones) or, when given, exactly ``candidates`` (ascending global ids in this range).
        Returns the number of candidates."""
        if candidates is not None:
            self.cand = np.asarray(candidates, dtype=np.int64) - self.start
        else:
            mask = np.ones(self.n_rows(), dtype=bool)
            ex = np.asarray(excluded, dtype=np.int64)
            ex = ex[(ex >= self.start) & (ex < self.stop)]
            mask[ex - self.start] = False
            self.cand = np.flatnonzero(mask)
        self.model, self.previous_model = model, previous_model
        self.X_labeled, self.y_labeled, self.classes = X_labeled, y_labeled, classes
        # the last round's state holds an embedding of every candidate: let it go first
        self.emb = self.kc = self.gram = self.seeding = self.pruned = None
        return len(self.cand)

    def cand_id(self, j: int) -> int:
        """The global id of this worker's j-th candidate."""
        return int(self.start + self.cand[j])

    def _context(self, Xb: np.ndarray):
        from labelwise.strategies.context import SelectionContext

        return SelectionContext(self.model, Xb, self.X_labeled, self.y_labeled,
                                previous_learner=self.previous_model, classes=self.classes)

    def top_k(self, strategy, k: int, with_clusters: tuple | None = None):
        """This worker's k best candidates by ``strategy.score`` (ties by the lower row):
        (scores (k',), global ids (k',), cluster ids (k',) or None) with k' = min(k, n_c).
        Any global top k is among the union of the workers' top k."""
        from labelwise.strategies.selectors import top_k

        score = np.empty(len(self.cand))
        for at, Xb in self.blocks(self.cand):
            score[at] = strategy.score(self._context(Xb))
        pos = top_k(score, min(k, len(score)), largest=strategy.largest)
        cl = None
        if with_clusters is not None:
            cl = self.cluster_ids[with_clusters][self.cand[pos]]
        return score[pos], self.start + self.cand[pos], cl

    # -- Cluster-Margin's clusters (Citovsky et al. 2021) ------------------------------------
    def assign_clusters(self, key: tuple, S: np.ndarray, labels: np.ndarray) -> None:
        """Every row's cluster: that of its nearest sampled row of S (m, d), kept under ``key``
        for the pool's lifetime."""
        from labelwise.strategies.cluster_margin import nearest_labels

        if key not in self.cluster_ids:
            all_rows = np.arange(self.n_rows())
            out = np.empty(len(all_rows), dtype=np.int64)
            for at, Xb in self.blocks(all_rows):
                out[at] = nearest_labels(Xb, S, labels)
            self.cluster_ids[key] = out

    # -- k-center greedy (Sener & Savarese 2018) ---------------------------------------------
    def _embed(self, residuals: bool = False) -> tuple[np.ndarray, np.ndarray | None]:
        """(n_c, d') the candidates' embedding, filled block by block (no second copy), and
        with ``residuals`` their BADGE residuals (n_c, K) from the same read of each block
        (else None)."""
        from labelwise.strategies.scores import badge_residual

        out = R = None
        for at, Xb in self.blocks(self.cand):
            e = np.asarray(self.model.embed(Xb))
            if out is None:
                out = np.empty((len(self.cand), e.shape[1]), dtype=e.dtype)
            out[at] = e
            if residuals:
                r = badge_residual(self.model.predict_proba(Xb))
                if R is None:
                    R = np.empty((len(self.cand), r.shape[1]), dtype=r.dtype)
                R[at] = r
        if out is None:  # no candidates here: zero rows of the embedding's width
            X0 = self.rows(np.array([0]))
            out = np.asarray(self.model.embed(X0))[:0]
            if residuals:
                R = badge_residual(self.model.predict_proba(X0))[:0]
        return out, R

    def kcenter_start(self, centers: np.ndarray | None, k: int, m: int):
        """Embed the candidates and start the bounded k-center state over them
        (:class:`~labelwise.strategies.kcenter_fast.KCenterState`, the in-memory fast path's)
        with their squared distances to the labeled ``centers`` (m, d'), room for ``k`` centres.
        Returns :meth:`kcenter_top` of ``m``, or None without labeled centres (then
        :meth:`kcenter_first` starts the state)."""
        from labelwise.strategies.distances import min_sq_distances
        from labelwise.strategies.kcenter_fast import KCenterState

        self.emb = self._embed()[0]  # begin_round freed the last query's state
        self.kc_capacity = k
        if centers is None or len(centers) == 0:
            return None
        dist0 = min_sq_distances(self.emb, np.asarray(centers, dtype=self.emb.dtype))
        self.kc = KCenterState(self.emb, k, dist0)
        return self.kcenter_top(m)

    def kcenter_row(self, j: int):
        """(global id, embedding row, squared norm) of this worker's j-th candidate."""
        from labelwise.strategies.distances import sq_norms

        return self.cand_id(j), self.emb[j].copy(), sq_norms(self.emb[j:j + 1])[0]

    def kcenter_first(self, row: np.ndarray, sq, gid: int, m: int):
        """Start the state with the first centre ``row`` (global id ``gid``) instead of labeled
        centres; returns :meth:`kcenter_top` of ``m``."""
        from labelwise.strategies.kcenter_fast import KCenterState

        self.kc = KCenterState(self.emb, self.kc_capacity, None, first_at=self._local(gid),
                               first_row=row, first_sq=sq)
        return self.kcenter_top(m)

    def kcenter_top(self, m: int):
        """This worker's ``m`` farthest candidates, exactly: (squared distances (m',), global
        ids (m',), embedding rows (m', d'), squared norms (m',), bound), farthest first, ties to
        the lower id; no other candidate of this worker is farther than ``bound``."""
        pos, dist, bound = self.kc.top(m)
        return (dist, self.start + self.cand[pos], self.emb[pos], self.kc.x_sq[pos], bound)

    def kcenter_add(self, rows: np.ndarray, sqs: np.ndarray, gids: np.ndarray, m: int):
        """Add the new centres in picking order (rows (b, d'), squared norms (b,), global ids
        (b,)): the state lowers only the distances its bounds cannot exclude. Returns
        :meth:`kcenter_top` of ``m``."""
        for row, sq, gid in zip(rows, sqs, gids.tolist(), strict=True):
            at = self._local(gid)
            if at is None:
                self.kc.add(row=row, sq=sq)
            else:
                self.kc.add(at=at)
        return self.kcenter_top(m)

    def _local(self, gid: int) -> int | None:
        """The candidate position of global id ``gid``, or None when it is not one of mine."""
        if self.start <= gid < self.stop:
            at = int(np.searchsorted(self.cand, gid - self.start))
            if at < len(self.cand) and self.cand[at] == gid - self.start:
                return at
        return None

    # -- k-means++ seeding: BADGE (Ash et al. 2020), exact D^2 sampling in two levels -------
    def kmeanspp_start(self, badge: bool, k: int):
        """Embed the candidates (with BADGE residuals for ``badge``), room for ``k`` centres;
        returns the largest squared norm (the first centre's criterion) as (sq, global id, row,
        residual row)."""
        from labelwise.strategies.kmeanspp_state import Gram

        self.emb, R = self._embed(residuals=badge)  # begin_round freed the last query's state
        self.gram = Gram(self.emb, R)
        self.chosen = np.zeros(len(self.emb), dtype=bool)
        self.km_capacity = k
        return self.largest_free()

    def largest_free(self):
        """The unchosen candidate of largest squared norm (k-means++'s first centre, and its
        next one when every D^2 is 0), as (sq, global id, row, residual row)."""
        free = np.flatnonzero(~self.chosen)
        if len(free) == 0:
            return None
        i = int(free[np.argmax(self.gram.sq[free])])
        return self._centre(i)

    def _centre(self, i: int):
        r = None if self.gram.R is None else self.gram.R[i].copy()
        return self.gram.sq[i], int(self.start + self.cand[i]), self.emb[i].copy(), r

    def kmeanspp_update(self, centre) -> float:
        """Lower D^2 to the new centre (sq, global id, x, r) with the in-memory fast path's
        bounds (:class:`~labelwise.strategies.kmeanspp_fast.PrunedD2`: only the rows they cannot
        exclude get a distance); returns this worker's D^2 mass (the float64 sum the driver
        draws a worker by)."""
        from labelwise.strategies.kmeanspp_fast import PrunedD2
        from labelwise.strategies.kmeanspp_state import D2Sampler, Seeding

        sq, gid, x, r = centre
        g = self.gram
        x = np.asarray(x, dtype=g.X.dtype)
        r = None if g.R is None else np.asarray(r, dtype=g.R.dtype)
        sq = g.sq.dtype.type(sq)
        at = self._local(gid)
        if at is not None:
            self.chosen[at] = True
        if self.seeding is None:  # the first centre: every D^2 from one pass
            d2 = g.dist2_to(x, r, sq)
            if at is not None:
                d2[at] = 0.0
            self.seeding = Seeding(g, D2Sampler(d2), self.chosen, [], None)
            self.pruned = PrunedD2(self.seeding, self.km_capacity)
            self.pruned.first(x, r, sq)
        else:
            self.pruned.add(at, x, r, sq)
        return float(self.seeding.sampler.sums.sum())

    def kmeanspp_draw(self, target: float):
        """The row whose D^2 interval holds ``target`` (in [0, this worker's mass)), found as
        :class:`~labelwise.strategies.kmeanspp_state.D2Sampler` finds it; returns the centre."""
        D = self.seeding.sampler
        total = float(D.sums.sum())
        u = min(max(target / total, 0.0), np.nextafter(1.0, 0.0))
        return self._centre(D.draw(u, self.gram.sq, self.chosen))
