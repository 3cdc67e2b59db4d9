"""TypiClust: typical points of k-means clusters, a cold-start selector that needs no model.

Hacohen, Dekel & Weinshall 2022, "Active Learning on a Budget: Opposite Strategies Suit High and
Low Budgets" (ICML). With a small budget the most typical (dense) examples are the ones worth
labeling; clustering spreads them over the data. Choices where the paper leaves room:

* clusters: k-means on the whole pool into min(|L| + b, 500) clusters (500 is the cap of the
  authors' code for large budgets), clusters of at most 5 points are skipped (the authors' code
  keeps ``cluster_size > 5``) unless nothing else is left;
* order: each pick goes to the cluster with the fewest labeled points (labeled + picked so far),
  ties by the larger cluster, then by the lower cluster index; recounted after every pick;
* typicality (the paper's formula) = 1 / mean Euclidean distance to the k = 20 nearest
  neighbours, computed WITHIN the cluster over all its members (labeled ones too: density is a
  property of the data, not of who is labeled), with k = min(20, cluster size - 1). The authors'
  code uses squared distances, its cluster's unlabeled points only, and k = min(20, size // 2);
* features are L2-normalised first (``normalize=True``), as in the authors' code;
* exact duplicates (rows equal after normalisation) count as one point: typicality is computed
  over the distinct points of a cluster, so it stays finite (a duplicate at distance 0 would
  make it infinite and win every pick), and a copy is picked only after every distinct point
  of its cluster; a warning says how many rows are duplicates.
"""

from __future__ import annotations

import numpy as np

from labelwise.strategies.coldstart import (
    check_selection,
    kmeans_labels,
    pool_features,
    selection_parts,
)
from labelwise.strategies.neighbours import first_copies, knn_distances, warn_duplicates
from labelwise.validation import check_features

K_NN = 20
MAX_CLUSTERS = 500
SMALL_CLUSTER = 5


def typicality(X: np.ndarray, k_nn: int = K_NN, backend: str = "auto") -> np.ndarray:
    """(n,) typicality of each row of ``X`` (n, d): the inverse of its mean Euclidean distance
    to its min(k_nn, m - 1) nearest other distinct rows (Hacohen et al. 2022, Eq. 4), m the
    number of distinct rows. Exact duplicates share their point's typicality, always finite; a
    lone point (m = 1) gets 0."""
    first = first_copies(X)
    distinct = np.flatnonzero(first == np.arange(len(X)))
    typ = np.zeros(len(X))
    typ[distinct] = _distinct_typicality(X[distinct], k_nn, backend)
    return typ[first]


def _distinct_typicality(X: np.ndarray, k_nn: int, backend: str) -> np.ndarray:
    """:func:`typicality` of rows known to be pairwise distinct, (m,) float64."""
    k = min(int(k_nn), len(X) - 1)
    if k < 1:
        return np.zeros(len(X))
    return 1.0 / knn_distances(X, k, backend).astype(np.float64).mean(axis=1)


def typiclust(X, k: int, labeled_idx=None, random_state=None, *, k_nn: int = K_NN,
              max_clusters: int = MAX_CLUSTERS, small_cluster: int = SMALL_CLUSTER,
              normalize: bool = True, backend: str = "auto") -> np.ndarray:
    """TypiClust picks: (k,) int64 rows of ``X``, none labeled, none repeated, in pick order.

    Args:
        X: (n, d) embeddings of the whole pool, labeled and unlabeled rows.
        k: the budget b of new picks.
        labeled_idx: (m,) rows of ``X`` already labeled, or None.
        random_state: seed (int or Generator) of k-means, the only random step.
        k_nn: neighbours in the typicality (20 in the paper).
        max_clusters: cap on the number of clusters (500 in the authors' code).
        small_cluster: clusters of at most this many points are skipped while others remain.
        normalize: L2-normalise the rows first.
        backend: neighbour search, ``"auto"``, ``"faiss"`` or ``"sklearn"``.

    Memory: one float32 normalised copy of the pool (none when ``X`` is float32, C-contiguous
    and unit-norm already), which k-means centres in place (a memory-mapped ``X`` gives its
    pages back as it is read); the rows of the largest visited cluster twice (gathered, and
    in the neighbour index) and O(n) besides.
    """
    X = check_features(X, "X")
    labeled = check_selection(len(X), k, labeled_idx)
    return _typiclust([(X, None)], k, labeled, random_state, k_nn, max_clusters, small_cluster,
                      normalize, backend)


def _typiclust(parts, k: int, labeled: np.ndarray, random_state, k_nn: int, max_clusters: int,
               small_cluster: int, normalize: bool, backend: str) -> np.ndarray:
    """:func:`typiclust` on the pool made of ``parts`` (see
    :func:`~labelwise.strategies.coldstart.pool_features`), ``labeled`` checked already."""
    if k == 0:
        return np.zeros(0, dtype=np.int64)
    X, restore = pool_features(parts, normalize)
    n = len(X)
    first = first_copies(X)
    copy = first != np.arange(n)  # rows with an earlier duplicate
    warn_duplicates(first, "TypiClust counts each group of duplicates as one point and picks "
                    "its copies last", normalize)
    n_clusters = min(len(labeled) + int(k), int(max_clusters), n)
    clusters = kmeans_labels(X, n_clusters, random_state, restore)
    sizes = np.bincount(clusters, minlength=n_clusters)
    counts = np.bincount(clusters[labeled], minlength=n_clusters)  # labeled + picked
    left = sizes - counts  # unlabeled points left in each cluster
    large = sizes > small_cluster
    order = np.argsort(clusters, kind="stable")  # members of each cluster, in row order
    starts = np.concatenate([[0], np.cumsum(sizes)])
    taken = np.zeros(n, dtype=bool)
    taken[labeled] = True
    scored: dict[int, tuple[np.ndarray, np.ndarray]] = {}
    picks = np.empty(k, dtype=np.int64)
    for t in range(k):
        eligible = (left > 0) & large
        if not eligible.any():  # only small clusters still have unlabeled points
            eligible = left > 0
        cand = np.flatnonzero(eligible)
        c = int(cand[np.lexsort((cand, -sizes[cand], counts[cand]))[0]])
        if c not in scored:  # typicality once per visited cluster; copies rank below all
            rows = order[starts[c]:starts[c + 1]]
            # equal rows share a cluster, so its distinct rows are those with no earlier copy
            distinct = ~copy[rows]
            typ = np.full(len(rows), -1.0)
            typ[distinct] = _distinct_typicality(X[rows[distinct]], k_nn, backend)
            scored[c] = (rows, typ)
        rows, typ = scored[c]
        free = np.flatnonzero(~taken[rows])
        p = int(rows[free[np.argmax(typ[free])]])  # ties: the lower row
        picks[t] = p
        taken[p] = True
        counts[c] += 1
        left[c] -= 1
    return picks


def typiclust_candidates(X_candidates, X_labeled, k: int, random_state=None,
                         candidate_rows=None, *, k_nn: int = K_NN,
                         max_clusters: int = MAX_CLUSTERS, small_cluster: int = SMALL_CLUSTER,
                         normalize: bool = True, backend: str = "auto") -> np.ndarray:
    """TypiClust over a selection context's arrays: the pool is ``[X_labeled; X_candidates]``;
    returns (k,) positions into the candidates. With ``candidate_rows``, the candidates are
    those rows of ``X_candidates`` (e.g. a memory-mapped pool), gathered straight into the
    normalised pool without a copy of their own. Options as :func:`typiclust`."""
    parts, labeled = selection_parts(X_candidates, X_labeled, k, candidate_rows)
    picks = _typiclust(parts, k, labeled, random_state, k_nn, max_clusters, small_cluster,
                       normalize, backend)
    return picks - len(labeled)
