"""Cluster-Margin (Citovsky et al. 2021, "Batch Active Learning at Scale", Algorithm 2; its
clustering is their Algorithm 1, HAC with average linkage).

For very large batches: cluster the pool once, then each round take the k_m candidates of
lowest margin and visit their clusters round-robin, smallest cluster first, one random member
per cluster per sweep, until k_t (the batch size k) are picked. Diversity comes from the
clusters, uncertainty from the margin, and a round costs one score pass plus O(k_m log k_m).

- :func:`hac_clusters`: hierarchical agglomerative clustering with average linkage, run once per
  pool, before the first query, as the paper does. The paper clusters its network's embeddings;
  here the pool's features are the embedding (in practice a pretrained encoder's features). On a
  large pool it runs on a seeded uniform sample of ``sample_size`` rows (4,000: the O(m^2)
  distance matrix stays at 64 MB) and every other row joins the cluster of its nearest sampled
  row; the paper runs its own scalable HAC on the whole pool instead. The paper cuts the tree at
  a distance threshold epsilon; here it is cut into ``n_clusters`` (default m / 10: mean cluster
  size 10) clusters, our choice, since a count carries across feature scales and a threshold
  does not.
- :func:`round_robin`: the paper's sampling step over the clusters of the k_m candidates.
- :func:`cluster_margin`: both together on arrays; k_m = ``ceil(km_ratio * k)`` (at least k, at
  most the candidates). The paper leaves k_m and k_t as inputs of the algorithm; the ratio it
  used in its experiments could not be checked against its text here, so the default
  (:data:`KM_RATIO`) is our choice, made by measurement on a development data set (see
  docs/distributed.md, section "Cluster-Margin").
- :func:`cluster_margin_selector` builds a selector with other settings;
  :func:`select_cluster_margin` is the registry's (defaults), which caches the clusters in the
  engine's ``pool_cache``.

The sharded version (:mod:`labelwise.distributed`) calls the same functions: the sample is
gathered from the shards, the nearest-row assignment runs on each shard, the k_m lowest margins
come from an exact top-k merge, and :func:`round_robin` runs on the driver.
"""

from __future__ import annotations

import math

import numpy as np

from labelwise.strategies.distances import sq_norms
from labelwise.strategies.scores import margin
from labelwise.strategies.selectors import top_k
from labelwise.validation import LabelwiseError

#: k_m = ceil(KM_RATIO * k): how many low-margin candidates a round draws its batch from. Chosen
#: on a development set (MNIST-5k pixels, batches of 5% of the pool; docs/distributed.md): 1.25
#: kept margin's accuracy, 10 lost 0.07 (the filter keeps half the pool and little uncertainty).
KM_RATIO = 1.25
#: at most this many rows enter the O(m^2) clustering; the rest join their nearest sampled row.
SAMPLE_SIZE = 4000
#: the tree is cut into sample_size / MEAN_CLUSTER_SIZE clusters unless n_clusters is given.
MEAN_CLUSTER_SIZE = 10


def sample_rows(n: int, sample_size: int = SAMPLE_SIZE, seed: int = 0) -> np.ndarray:
    """(m,) sorted pool rows that enter the clustering: all of them when n <= sample_size,
    otherwise a uniform sample (seeded, so a sharded pool samples the same rows)."""
    if n <= sample_size:
        return np.arange(n, dtype=np.int64)
    return np.sort(np.random.default_rng(seed).choice(n, sample_size, replace=False))


def hac_labels(S: np.ndarray, n_clusters: int | None = None) -> np.ndarray:
    """(m,) cluster ids 0..c-1 of the rows of S (m, d): average linkage on Euclidean distances,
    the tree cut into ``n_clusters`` (default m / 10) clusters."""
    from scipy.cluster.hierarchy import fcluster, linkage

    m = len(S)
    if m < 2:
        return np.zeros(m, dtype=np.int64)
    c = n_clusters or max(1, m // MEAN_CLUSTER_SIZE)
    tree = linkage(np.asarray(S, dtype=np.float64), method="average", metric="euclidean")
    return (fcluster(tree, t=min(c, m), criterion="maxclust") - 1).astype(np.int64)


def nearest_labels(X: np.ndarray, S: np.ndarray, labels: np.ndarray,
                   block_rows: int = 4096) -> np.ndarray:
    """(n,) the cluster id of each row of X (n, d): that of its nearest row of S (m, d), ties to
    the lower row of S. Blocked: no n x m matrix is held."""
    S = np.asarray(S, dtype=X.dtype)
    s_sq = sq_norms(S)
    out = np.empty(len(X), dtype=np.int64)
    for r0 in range(0, len(X), block_rows):
        xb = np.asarray(X[r0:r0 + block_rows])
        d = xb @ S.T
        d *= -2.0
        d += s_sq[None, :]  # |x|^2 is the same for every centre: it cannot change the argmin
        out[r0:r0 + len(xb)] = labels[d.argmin(axis=1)]
    return out


def hac_clusters(X: np.ndarray, n_clusters: int | None = None,
                 sample_size: int = SAMPLE_SIZE, seed: int = 0) -> np.ndarray:
    """(n,) cluster ids of the pool X (n, d): :func:`hac_labels` on :func:`sample_rows`, every
    other row in the cluster of its nearest sampled row."""
    rows = sample_rows(len(X), sample_size, seed)
    S = np.asarray(X[rows])
    labels = hac_labels(S, n_clusters)
    if len(rows) == len(X):
        return labels
    return nearest_labels(X, S, labels)


def round_robin(clusters: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    """The paper's sampling step: k positions into ``clusters`` (n,), the cluster id of each
    low-margin candidate.

    The candidates' clusters are sorted by size (their members among these candidates), smallest
    first, ties by the lower cluster id; then sweeps visit the clusters in that order, taking one
    member chosen uniformly at random (without replacement) from every cluster that has one left,
    until k are taken. Returns (k,) int64 positions in picking order.
    """
    clusters = np.asarray(clusters)
    ids, inverse, sizes = np.unique(clusters, return_inverse=True, return_counts=True)
    size_rank = np.empty(len(ids), dtype=np.int64)
    size_rank[np.lexsort((ids, sizes))] = np.arange(len(ids))
    # a random order inside each cluster: shuffle all, then a stable sort by cluster keeps it
    shuffled = rng.permutation(len(clusters))
    by_cluster = shuffled[np.argsort(inverse[shuffled], kind="stable")]
    g = inverse[by_cluster]
    starts = np.flatnonzero(np.r_[True, g[1:] != g[:-1]])
    within = np.arange(len(g)) - np.repeat(starts, np.diff(np.r_[starts, len(g)]))
    # sweep s takes the s-th member of every cluster, clusters in size order
    order = np.lexsort((size_rank[g], within))
    return by_cluster[order[:k]].astype(np.int64)


def margin_candidates(k: int, n: int, km_ratio: float = KM_RATIO) -> int:
    """k_m for a batch of k from n candidates: ``ceil(km_ratio * k)``, at least k, at most n."""
    return int(min(n, max(k, math.ceil(float(km_ratio) * k))))


def cluster_margin(margins: np.ndarray, clusters: np.ndarray, k: int, rng: np.random.Generator,
                   k_m: int | None = None, km_ratio: float = KM_RATIO) -> np.ndarray:
    """Cluster-Margin's selection: k positions of the candidates given their ``margins`` (n,)
    (smaller = less certain) and ``clusters`` (n,) ids.

    The k_m (default :func:`margin_candidates` of ``km_ratio``; at least k, at most n) lowest
    margins, ties by the lower position, then :func:`round_robin` over their clusters.
    """
    n = len(margins)
    k_m = margin_candidates(k, n, km_ratio) if k_m is None else min(n, max(k, int(k_m)))
    low = top_k(np.asarray(margins), k_m, largest=False)
    return low[round_robin(np.asarray(clusters)[low], k, rng)]


def cluster_key(n: int, n_clusters: int | None = None, sample_size: int = SAMPLE_SIZE) -> tuple:
    """The pool cache's key for the clusters of a pool of ``n`` rows with these settings (the
    sharded driver keeps its workers' clusters under the same key)."""
    return ("cluster_margin", n, n_clusters, sample_size)


def pool_clusters(pool_cache: dict, X_pool, n_clusters: int | None = None,
                  sample_size: int = SAMPLE_SIZE) -> np.ndarray:
    """(N,) the pool's clusters, computed on first use and kept in ``pool_cache``."""
    key = cluster_key(len(X_pool), n_clusters, sample_size)
    if key not in pool_cache:
        pool_cache[key] = hac_clusters(X_pool, n_clusters, sample_size)
    return pool_cache[key]


def cluster_margin_selector(km_ratio: float = KM_RATIO, n_clusters: int | None = None,
                            sample_size: int = SAMPLE_SIZE):
    """A selector ``(ctx, k) -> (k,)`` with these settings, for a strategy of one's own (the
    registry's ``cluster_margin`` is the defaults)."""
    if isinstance(km_ratio, bool) or not isinstance(km_ratio, (int, float, np.integer,
                                                               np.floating)) \
            or not 1 <= km_ratio < float("inf"):
        raise LabelwiseError(f"km_ratio must be a finite number >= 1 (k_m >= k), got "
                             f"{km_ratio!r}")

    def select(ctx, k: int) -> np.ndarray:
        clusters = pool_clusters(ctx.pool_cache, ctx.X_pool, n_clusters, sample_size)
        return cluster_margin(margin(ctx.proba), clusters[ctx.candidate_idx], k, ctx.rng,
                              km_ratio=km_ratio)

    return select


def select_cluster_margin(ctx, k: int) -> np.ndarray:
    """The registry's selector: :func:`cluster_margin` on this round's margins and the pool's
    clusters (cached per pool), default settings."""
    return _DEFAULT_SELECT(ctx, k)


_DEFAULT_SELECT = cluster_margin_selector()
