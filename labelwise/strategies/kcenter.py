"""k-center greedy, the Coreset selector (Sener & Savarese 2018, "Active Learning for
Convolutional Neural Networks: A Core-Set Approach").

Used by An Empirical Study of Deep Active Learning (2021), Khosla et al. 2022 ("Neural
Active Learning on Heteroskedastic Distributions") and Aggarwal et al. 2022
("Optimizing Active Learning for Low Annotation Budgets").

Definition: the labeled points are the initial centres (if there are none, the first centre is a
seeded random candidate); then, b times, the candidate farthest from its nearest centre (squared
Euclidean distance, ties to the lower index) becomes a centre.

- :func:`kcenter_greedy_plain` is that definition as a loop: one full distance pass per pick,
  O(b n d). It is the reference the tests and ``benchmarks/bench_select.py`` compare with.
- :func:`kcenter_greedy` checks its input and runs the lazy active-set loop of
  :mod:`labelwise.strategies.kcenter_fast` (how it works, and why it gives the same picks, is
  explained there): 4-15x faster from n = 20,000 to 1,000,000 at d = 384, b = 1,000.
"""

from __future__ import annotations

import numpy as np

from labelwise.strategies.distances import min_sq_distances, one_blas_thread, sq_norms
from labelwise.strategies.kcenter_fast import kcenter_active
from labelwise.validation import LabelwiseError, check_k


def kcenter_greedy(
    X: np.ndarray,
    k: int,
    centers: np.ndarray | None = None,
    rng: np.random.Generator | None = None,
) -> np.ndarray:
    """Exact k-center greedy: k positions into the candidates X (n, d), farthest first.

    ``centers`` (m, d) are the labeled points, the initial centres (their distances computed in
    blocks by :func:`min_sq_distances`, never an n x m matrix); with none (or m = 0) the first
    centre is ``rng.integers(n)``. Returns (k,) int64 unique positions.

    Same picks as :func:`kcenter_greedy_plain`, faster (see :mod:`kcenter_fast`), with one caveat:
    the BLAS may sum a dot product in a different order in a matrix product or a smaller matrix
    than in the (n, d) pool's product, so two candidates whose distances tie to within rounding
    can come out in the other order than in the plain loop (in float32, distances 3e-7 apart, a
    few ulps of the formula's terms: seen at pick 458 of 1,000 at n = 20,000 and pick 893 at
    n = 1,000,000 in benchmarks/bench_select.py); in float64 and away from such ties the picks
    are identical.
    """
    if np.ndim(X) != 2:
        raise LabelwiseError(f"k-center greedy needs X of shape (n, d), got shape {np.shape(X)}")
    k = check_k(k, len(X))
    if centers is not None and len(centers):
        if np.ndim(centers) != 2 or centers.shape[1] != X.shape[1]:
            raise LabelwiseError(
                f"k-center greedy: the labeled points have shape {np.shape(centers)}, the "
                f"candidates {X.shape}; both need the same number of columns"
            )
        dist0 = min_sq_distances(X, centers)
    else:
        dist0 = None
    with one_blas_thread():
        return kcenter_active(X, k, dist0, rng)


def kcenter_greedy_plain(
    X: np.ndarray,
    k: int,
    centers: np.ndarray | None = None,
    rng: np.random.Generator | None = None,
) -> np.ndarray:
    """Reference k-center greedy, the definition as a loop: one full pass over X (n, d) per pick.

    Same arguments and picks as :func:`kcenter_greedy`; kept for the tests and the benchmark.
    ``dist`` (n,) is each candidate's squared distance to its nearest centre (-inf once picked).
    """
    n = len(X)
    x_sq = sq_norms(X)
    if centers is not None and len(centers):
        dist = min_sq_distances(X, centers)
        picks: list[int] = []
    else:
        rng = rng if rng is not None else np.random.default_rng()
        first = int(rng.integers(n))
        dist = np.maximum(x_sq - 2.0 * (X @ X[first]) + x_sq[first], 0.0)
        dist[first] = -np.inf
        picks = [first]
    while len(picks) < k:
        i = int(np.argmax(dist))
        picks.append(i)
        d_new = x_sq - 2.0 * (X @ X[i]) + x_sq[i]
        np.minimum(dist, d_new, out=dist)
        dist[i] = -np.inf
    return np.asarray(picks, dtype=np.int64)
