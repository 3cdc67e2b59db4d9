"""Selection over a :class:`~labelwise.sharded.ShardedPool` on a Ray cluster, merged exactly.

:class:`ShardedSelection` starts one :class:`~labelwise.distributed.worker.ShardWorker` actor per
group of consecutive shards (workers hold ascending ranges of global ids, so concatenating
their results keeps the pool's order, and ties break by the lower id as in memory). Each round
the driver puts the model in the object store once and the workers read it; then:

- score-based strategies (the registry's top-k of a score: least confidence, margin, entropy,
  BALD, DFM, alamp, learning loss, ...): each worker returns its own top k with scores, the
  driver takes the top k of that union: the in-memory picks, exactly;
- ``coreset`` (k-center greedy): each worker keeps the in-memory fast path's bounded state
  (:class:`~labelwise.strategies.kcenter_fast.KCenterState`) and reports its farthest rows
  with a bound on the rest; the driver picks a block of centres from them while exact and sends
  the block to every worker: one round trip per block;
- ``badge`` (k-means++ seeding on the gradient embedding): D^2 sampling in two levels, a worker
  in proportion to its D^2 mass, then a row within it by the same sampler as in memory, with
  the same ``rng.random()`` per pick: the same distribution, and the same picks up to rounding
  at a worker's boundary; each worker lowers D^2 with the in-memory pruned seeding's bounds
  (:class:`~labelwise.strategies.kmeanspp_fast.PrunedD2`); each pick is a draw task on one
  worker and an update task on every worker, the drawn centre passed on as an object reference
  (:mod:`labelwise.distributed.seeding`);
- ``cluster_margin`` (Citovsky et al. 2021): the pool's clusters from a sample gathered on the
  driver, assigned on the workers, the k_m lowest margins by the exact top-k merge, the
  round-robin on the driver;
- ``random``: drawn on the driver from the candidate count alone.

Strategies that need the whole pool at once (TypiClust, ProbCover, alamp_div and the other
diversified or per-class selectors, LHD, the "+ft" variants) are refused with a message saying
what to do. The driver holds the labeled rows, the candidates' ids and per-pick messages; never
the pool.
"""

from __future__ import annotations

import numpy as np

from labelwise.distributed.remote import connect, get, import_ray
from labelwise.sharded import ShardedPool
from labelwise.validation import LabelwiseError

SUPPORTED = ("random", "coreset", "badge", "cluster_margin", "any registered top-k of a score "
             "(least_confidence, margin, entropy, bald, dfm, alamp, learning_loss)")


#: k-center: rows each worker reports per round trip (its farthest, with a bound on the rest)
TOP_ROWS = 64


def is_top_of_score(strategy) -> bool:
    """Whether ``strategy`` picks the top k of its score (registered with a score alone): its
    selector is :func:`~labelwise.strategies.registry.top_of_score`'s (the registry's wrapper
    keeps its name through ``functools.wraps``)."""
    return getattr(strategy.select, "__qualname__", "").startswith("top_of_score.")


def groups_of(rows: np.ndarray, n_workers: int) -> list[list[int]]:
    """Consecutive shard indices split into ``n_workers`` groups of about equal rows."""
    n_workers = max(1, min(n_workers, len(rows)))
    cum = np.cumsum(rows)
    cuts = np.searchsorted(cum, cum[-1] * np.arange(1, n_workers) / n_workers, side="left") + 1
    bounds = np.unique(np.concatenate([[0], np.clip(cuts, 1, len(rows)), [len(rows)]]))
    return [list(range(a, b)) for a, b in zip(bounds[:-1], bounds[1:], strict=True)]


class PickedContext:
    """What the engine reads back from a sharded query (its ``last_context``): the picks'
    scores only. ``picked_positions`` is 0..k-1 and ``score_of`` gives the picks' scores."""

    def __init__(self, k: int, pick_scores: np.ndarray | None):
        self.picked_positions = np.arange(k)
        self._scores = np.full(k, np.nan) if pick_scores is None else pick_scores

    def score_of(self, score) -> np.ndarray:
        return self._scores


class ShardedSelection:
    """Ray actors over the shards of ``pool``, and the round's selection through them.

    Args:
        pool: a :class:`ShardedPool` (or what it opens: a folder, a manifest, shard paths).
        ray_address: a running cluster's address (``"ray://head:10001"`` or ``"auto"``); None
            connects to the cluster Ray finds (``RAY_ADDRESS``) or starts a local one.
        n_workers: actors to start (default: one per CPU of the cluster, at most one per shard).
        check: read every shard once to refuse NaN/inf rows (one line naming the shard).
    """

    def __init__(self, pool, ray_address: str | None = None, n_workers: int | None = None,
                 check: bool = True):
        from labelwise.distributed.worker import ShardWorker

        if isinstance(pool, np.ndarray):
            raise LabelwiseError("executor='ray' selects over a ShardedPool; write the array as "
                                 "shards first (labelwise.sharded.write_shards(X, folder)) or "
                                 "leave executor unset")
        self.pool = pool if isinstance(pool, ShardedPool) else ShardedPool(pool)
        ray = connect(ray_address)
        cpus = int(ray.cluster_resources().get("CPU", 1))
        self.groups = groups_of(self.pool.rows, n_workers or cpus)
        # num_cpus=0: a worker mostly waits for per-pick messages, and reserving cores would
        # starve a second selection on the same cluster; SPREAD puts workers on every node
        actor = ray.remote(num_cpus=0, scheduling_strategy="SPREAD")(ShardWorker)
        self.workers = [actor.remote([str(self.pool.paths[s]) for s in g],
                                     int(self.pool.offsets[g[0]]), check) for g in self.groups]
        get([w.n_rows.remote() for w in self.workers])  # surfaces a bad shard now

    def close(self) -> None:
        """End the workers (the cluster keeps running)."""
        ray = import_ray()
        for w in self.workers:
            ray.kill(w)
        self.workers = []

    # -- the engine's entry points -----------------------------------------------------------
    @staticmethod
    def check_strategy(strategy) -> None:
        """Refuse, before any training, a strategy that cannot run on shards (one line)."""
        if strategy.finetune:
            raise LabelwiseError(f"strategy {strategy.name!r} fine-tunes on the whole unlabeled "
                                 "pool, which a sharded pool does not hold in one place; use "
                                 f"{strategy.name[:-3]!r}")
        if strategy.name in ("random", "coreset", "badge", "cluster_margin") or \
                is_top_of_score(strategy):
            return
        raise LabelwiseError(
            f"strategy {strategy.name!r} needs the whole pool at once and does not run on a "
            f"sharded pool; sharded selection runs {', '.join(SUPPORTED)}. For "
            f"{strategy.name!r}, select in memory on a sample: "
            "ActiveLearner(pool.take(sample_ids), ...)")

    def select_from(self, strategy, learner, X_pool, labeled_idx, y_labeled, k, candidates,
                    previous_learner=None, random_state=None, classes=None,
                    pool_cache: dict | None = None, pending_idx=None):
        """:func:`labelwise.engine.select_from` over the shards: (picks as global ids, a
        :class:`PickedContext`)."""
        self.check_strategy(strategy)
        rng = np.random.default_rng(random_state)
        cand = np.asarray(candidates, dtype=np.int64)
        if strategy.name == "random":  # needs only the candidate count
            from labelwise.strategies.selectors import random_choice

            return cand[random_choice(len(cand), k, rng)], PickedContext(k, None)
        self.begin_round(learner, previous_learner, labeled_idx, y_labeled, classes, cand)
        if strategy.name == "coreset":
            return self.kcenter(learner, k, rng), PickedContext(k, None)
        if strategy.name == "badge":
            return self.kmeanspp(k, rng, badge=True), PickedContext(k, None)
        if strategy.name == "cluster_margin":
            return self.cluster_margin(strategy, k, rng, pool_cache)
        s, ids, _ = self.top_k(strategy, k)  # a top k of a score (check_strategy said so)
        return ids, PickedContext(k, s)

    def begin_round(self, model, previous_model, labeled_idx, y_labeled, classes, cand) -> None:
        """Send this round's model (once, through the object store) and candidates."""
        ray = import_ray()
        labeled_idx = np.asarray(labeled_idx, dtype=np.int64)
        # read once: the workers get them, and k-center embeds them as its first centres
        self.X_labeled = X_labeled = self.pool.take(labeled_idx)
        # the usual case, every unlabeled row: send the labeled ids, not the candidates
        complement = len(cand) + len(labeled_idx) == len(self.pool)
        if not complement:
            cand = np.sort(cand)
        m_ref, p_ref, x_ref = ray.put(model), ray.put(previous_model), ray.put(X_labeled)
        refs = []
        for w, g in zip(self.workers, self.groups, strict=True):
            lo, hi = self.pool.offsets[g[0]], self.pool.offsets[g[-1] + 1]
            mine = None if complement else cand[(cand >= lo) & (cand < hi)]
            refs.append(w.begin_round.remote(m_ref, p_ref, labeled_idx if complement else None,
                                             mine, x_ref, y_labeled, classes))
        self.n_cand = get(refs)

    # -- selectors -----------------------------------------------------------------------------
    def top_k(self, strategy, k: int, clusters_key: tuple | None = None):
        """Exact global top k of ``strategy.score``: (scores (k,), global ids (k,), cluster ids
        or None), best first, ties by the lower id."""
        from labelwise.strategies.selectors import top_k

        parts = get([w.top_k.remote(strategy, k, clusters_key) for w in self.workers])
        s = np.concatenate([p[0] for p in parts])
        ids = np.concatenate([p[1] for p in parts])
        pos = top_k(s, k, largest=strategy.largest)  # ids ascend: ties go to the lower id
        cl = None if clusters_key is None else np.concatenate([p[2] for p in parts])[pos]
        return s[pos], ids[pos], cl

    def kcenter(self, learner, k: int, rng) -> np.ndarray:
        """k-center greedy (Sener & Savarese 2018) with this round's labeled rows (read by
        :meth:`begin_round`) as centres.

        Each worker keeps the in-memory fast path's bounded state over its candidates and
        reports its ``TOP_ROWS`` farthest (exact) with a bound on the rest. The driver picks the
        farthest of those; it keeps picking from them (their distances lowered to each new
        centre) while the farthest is above every worker's bound, since no row it was not sent
        can then be farther; then it sends the centres of the block to every worker at once.
        One round trip per block of picks, instead of one per pick."""
        centers = None
        if len(self.X_labeled):
            centers = np.asarray(learner.embed(self.X_labeled))
        m = TOP_ROWS
        tops = get([w.kcenter_start.remote(centers, k, m) for w in self.workers])
        picks: list[int] = []
        if centers is None:  # no centre yet: a seeded random first pick, as in memory
            first = int(rng.integers(sum(self.n_cand)))
            w = int(np.searchsorted(np.cumsum(self.n_cand), first, side="right"))
            gid, row, sq = get(self.workers[w].kcenter_row.remote(first - sum(self.n_cand[:w])))
            tops = get([x.kcenter_first.remote(row, sq, gid, m) for x in self.workers])
            picks.append(gid)
        while len(picks) < k:
            d = np.concatenate([t[0] for t in tops])
            gids = np.concatenate([t[1] for t in tops])
            rows = np.concatenate([t[2] for t in tops])
            sqs = np.concatenate([t[3] for t in tops])
            bound = max(t[4] for t in tops)
            block: list[int] = []
            while len(picks) < k and len(d):
                top = d.max()
                if top == -np.inf or (block and not top > bound):
                    break  # a row not sent may be farther: ask the workers
                i = int(np.flatnonzero(d == top)[np.argmin(gids[d == top])])  # lower id
                block.append(i)
                picks.append(int(gids[i]))
                d[i] = -np.inf
                np.minimum(d, sqs - 2.0 * (rows @ rows[i]) + sqs[i], out=d)
            if len(picks) < k:
                at = np.asarray(block, dtype=np.int64)
                tops = get([w.kcenter_add.remote(rows[at], sqs[at], gids[at], m)
                            for w in self.workers])
        return np.asarray(picks, dtype=np.int64)

    def kmeanspp(self, k: int, rng, badge: bool) -> np.ndarray:
        """k-means++ seeding (Arthur & Vassilvitskii 2007; BADGE, Ash et al. 2020), exact D^2
        sampling in two levels with one ``rng.random()`` per pick, as in memory; see
        :mod:`labelwise.distributed.seeding`."""
        from labelwise.distributed.seeding import kmeanspp

        return kmeanspp(self.workers, k, rng, badge)

    def cluster_margin(self, strategy, k: int, rng, pool_cache: dict | None):
        """Cluster-Margin (Citovsky et al. 2021) over the shards; see
        :mod:`labelwise.strategies.cluster_margin`."""
        from labelwise.strategies import cluster_margin as cm

        cache = {} if pool_cache is None else pool_cache
        key = cm.cluster_key(len(self.pool))
        if key not in cache:  # once per pool: HAC on a sample gathered from the shards
            rows = cm.sample_rows(len(self.pool), cm.SAMPLE_SIZE)
            S = self.pool.take(rows)
            labels = cm.hac_labels(S)
            get([w.assign_clusters.remote(key, S, labels) for w in self.workers])
            cache[key] = "on the workers"
        n = sum(self.n_cand)
        k_m = cm.margin_candidates(k, n)
        s, ids, cl = self.top_k(strategy, k_m, clusters_key=key)
        pos = cm.round_robin(cl, k, rng)
        return ids[pos], PickedContext(k, s[pos])
