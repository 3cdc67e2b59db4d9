"""ProbCover: greedy max coverage of delta-balls, a cold-start selector that needs no model.

Yehuda, Dekel, Hacohen & Weinshall 2022, "Active Learning Through a Covering Lens" (NeurIPS).
The labeled set should cover as much of the pool as possible with balls of radius delta, where
delta is as large as possible while the balls stay "pure". Choices where the paper leaves room:

* graph: i -> j iff ||x_i - x_j|| <= delta (self-loops included; the authors' code uses a strict
  "<"), kept as sparse CSR out- and in-edges, never as an n x n matrix;
* greedy: pick the point whose ball holds the most not-yet-covered points, ties by the lowest
  row; the balls of labeled points are covered from the start; after a pick its ball is covered
  (the incoming edges of the covered points no longer count);
* once every point is covered (the largest such count is 0), the remaining picks are uniform at
  random over the unlabeled, unpicked rows (seeded by ``random_state``);
* delta: the largest value of a grid for which at least alpha = 95% of the balls are pure
  w.r.t. a k-means clustering into K clusters (K = the number of classes); a ball is pure
  when all its points share its centre's cluster, i.e. when delta is below the distance r_i
  from the centre to the nearest point of another cluster, so purity(delta) = mean(r > delta)
  is computed exactly from r for every grid value at once;
* features are L2-normalised first (``normalize=True``), as in the authors' code;
* exact duplicates (rows equal after normalisation) are points like any other: each is an item
  to cover, so a group of copies makes its ball denser, and once one copy is picked the others
  cover nothing new and are not picked while anything is left to cover; the random picks after
  full coverage prefer rows that are no copy of a labeled or picked row. A warning says how
  many rows are duplicates.
"""

from __future__ import annotations

import numpy as np

from labelwise.strategies.coldstart import (
    check_selection,
    kmeans_labels,
    pool_features,
    prepare_features,
    selection_parts,
)
from labelwise.strategies.neighbours import (
    first_copies,
    gather_rows,
    nearest_distance,
    radius_graph,
    transpose_csr,
    warn_duplicates,
)
from labelwise.validation import LabelwiseError, check_features

ALPHA = 0.95
MAX_EDGES = 200_000_000  # 8 bytes each (out- and in-edges as int32): 1.6 GB at most


def other_cluster_distance(X: np.ndarray, clusters: np.ndarray,
                           backend: str = "auto") -> np.ndarray:
    """(n,) distance from each row of ``X`` (n, d) to the nearest row in another cluster
    (``inf`` if there is a single cluster): the ball around row i is pure iff delta < r_i."""
    r = np.full(len(X), np.inf)
    for c in np.unique(clusters):
        inside = clusters == c
        if not inside.all():
            r[inside] = nearest_distance(X[inside], X[~inside], backend)
    return r


def ball_purity(r: np.ndarray, deltas) -> np.ndarray:
    """(len(deltas),) fraction of pure balls at each delta, from :func:`other_cluster_distance`'s
    ``r``: mean(r > delta)."""
    r_sorted = np.sort(np.asarray(r, dtype=np.float64))
    deltas = np.asarray(deltas, dtype=np.float64)
    return (len(r_sorted) - np.searchsorted(r_sorted, deltas, side="right")) / len(r_sorted)


def default_grid(X: np.ndarray, normalize: bool = True) -> np.ndarray:
    """0.01, 0.02, ..., 2.00 for unit-norm rows (their distances lie in [0, 2]); otherwise the
    same 200 steps times the median row norm."""
    scale = 1.0 if normalize else float(np.median(np.linalg.norm(X, axis=1)))
    return np.arange(1, 201) * (0.01 * scale)


def estimate_delta(X, n_clusters: int, alpha: float = ALPHA, random_state=None, *, grid=None,
                   normalize: bool = True, backend: str = "auto") -> float:
    """The largest delta of ``grid`` for which at least ``alpha`` of the delta-balls around the
    rows of ``X`` (n, d) are pure w.r.t. k-means into ``n_clusters`` (Yehuda et al. 2022, Sec. 4;
    K = the number of classes). ``grid`` defaults to :func:`default_grid`."""
    X = prepare_features(X, normalize)
    if not 2 <= int(n_clusters) <= len(X):
        raise LabelwiseError(f"delta estimation needs 2 <= n_clusters <= {len(X)} (the number "
                             f"of classes), got {n_clusters}")
    if not 0 < alpha <= 1:
        raise LabelwiseError(f"alpha must be in (0, 1], got {alpha}")
    clusters = kmeans_labels(X, n_clusters, random_state)
    r = other_cluster_distance(X, clusters, backend)
    grid = np.sort(np.asarray(default_grid(X, normalize) if grid is None else grid, float))
    ok = grid[(grid > 0) & (ball_purity(r, grid) >= alpha)]
    if not ok.size:
        raise LabelwiseError(f"no delta in the grid (smallest {grid[0]:g}) keeps {alpha:.0%} of "
                             "the balls pure; pass a grid with smaller values")
    return float(ok.max())


def max_coverage(indptr: np.ndarray, indices: np.ndarray, k: int, labeled_idx=None,
                 random_state=None, first: np.ndarray | None = None) -> np.ndarray:
    """Greedy max coverage on a graph given as CSR out-edges (row i covers ``indices[indptr[i]:
    indptr[i+1]]``): (k,) picks, each the row covering the most uncovered rows (ties: the lower
    row), random over the unlabeled, unpicked rows once nothing is left to cover (with
    ``first``, :func:`~labelwise.strategies.neighbours.first_copies` of the rows, first over
    those that are no copy of a labeled or picked row)."""
    n = len(indptr) - 1
    labeled = check_selection(n, k, labeled_idx)
    in_indptr, in_indices = transpose_csr(indptr, indices, n)
    covered = np.zeros(n, dtype=bool)
    covered[gather_rows(indptr, indices, labeled)] = True
    # degree[i] = uncovered rows in the ball of i, by differences of one running sum
    run = np.zeros(len(indices) + 1, dtype=np.int32 if len(indices) < 2**31 else np.int64)
    np.cumsum(~covered[indices], out=run[1:])
    degree = run[indptr[1:]] - run[indptr[:-1]]
    del run
    taken = np.zeros(n, dtype=bool)
    taken[labeled] = True
    picks: list[int] = []
    while len(picks) < k:
        p = int(np.argmax(degree))
        if degree[p] == 0:
            break
        ball = gather_rows(indptr, indices, np.array([p]))
        new = ball[~covered[ball]]
        covered[new] = True
        # every row with an edge into a newly covered row loses one from its degree
        degree -= np.bincount(gather_rows(in_indptr, in_indices, new), minlength=n)
        picks.append(p)
        taken[p] = True
    if len(picks) < k:  # all covered: the rest at random
        rng = np.random.default_rng(random_state)
        free = np.flatnonzero(~taken)
        seen = np.zeros(n, dtype=bool)  # groups of copies with a labeled or picked row
        if first is not None:
            seen[first[taken]] = True
        late = seen[first[free]] if first is not None else np.zeros(len(free), dtype=bool)
        if late.any():  # copies of taken rows come after every other row
            free = np.r_[rng.permutation(free[~late]), rng.permutation(free[late])]
            picks.extend(free[:k - len(picks)].tolist())
        else:
            picks.extend(rng.choice(free, size=k - len(picks), replace=False).tolist())
    return np.asarray(picks, dtype=np.int64)


def probcover(X, k: int, labeled_idx=None, delta: float | None = None, random_state=None, *,
              n_clusters: int | None = None, alpha: float = ALPHA, normalize: bool = True,
              backend: str = "auto", max_edges: int = MAX_EDGES) -> np.ndarray:
    """ProbCover picks: (k,) int64 rows of ``X`` (n, d), the whole pool, none labeled, none
    repeated, in pick order.

    ``delta`` is the ball radius in the (normalised) feature space; when None it is estimated
    with :func:`estimate_delta` from ``n_clusters`` (the number of classes) and ``alpha``. Pass
    a delta estimated once per pool: it does not change between rounds and costs as much as the
    graph. ``random_state`` seeds only the random picks made once everything is covered (and
    k-means when delta is estimated). More than ``max_edges`` edges raises LabelwiseError.
    """
    X = check_features(X, "X")
    labeled = check_selection(len(X), k, labeled_idx)
    return _probcover([(X, None)], k, labeled, delta, random_state, n_clusters, alpha,
                      normalize, backend, max_edges)


def _probcover(parts, k: int, labeled: np.ndarray, delta, random_state, n_clusters, alpha,
               normalize: bool, backend: str, max_edges: int) -> np.ndarray:
    """:func:`probcover` on the pool made of ``parts`` (see
    :func:`~labelwise.strategies.coldstart.pool_features`), ``labeled`` checked already."""
    if k == 0:
        return np.zeros(0, dtype=np.int64)
    X = pool_features(parts, normalize)[0]  # one float32 pool, or the caller's unit rows
    rng = np.random.default_rng(random_state)
    if delta is None:
        if n_clusters is None:
            raise LabelwiseError("ProbCover needs delta or n_clusters (the number of classes) "
                                 "to estimate it")
        delta = estimate_delta(X, n_clusters, alpha, rng, normalize=False, backend=backend,
                               grid=default_grid(X, normalize))
    first = first_copies(X)
    warn_duplicates(first, "ProbCover covers each copy, and picks one copy of a group at most "
                    "while anything is left to cover", normalize)
    indptr, indices = radius_graph(X, float(delta), backend, max_edges)
    return max_coverage(indptr, indices, k, labeled, rng, first)


def probcover_candidates(X_candidates, X_labeled, k: int, delta: float | None = None,
                         random_state=None, candidate_rows=None, *,
                         n_clusters: int | None = None, alpha: float = ALPHA,
                         normalize: bool = True, backend: str = "auto",
                         max_edges: int = MAX_EDGES) -> np.ndarray:
    """ProbCover over a selection context's arrays: the pool is ``[X_labeled; X_candidates]``;
    returns (k,) positions into the candidates. With ``candidate_rows``, the candidates are
    those rows of ``X_candidates`` (e.g. a memory-mapped pool), gathered straight into the
    normalised pool. Options as :func:`probcover`."""
    parts, labeled = selection_parts(X_candidates, X_labeled, k, candidate_rows)
    picks = _probcover(parts, k, labeled, delta, random_state, n_clusters, alpha, normalize,
                       backend, max_edges)
    return picks - len(labeled)
