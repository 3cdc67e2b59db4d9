"""k-means++ seeding (Arthur & Vassilvitskii 2007), the selector of BADGE (Ash et al. 2020) and
LHD, as Khosla et al. 2022 ("Neural Active Learning on Heteroskedastic Distributions") use them.

Definition: the first centre is the point of largest norm (deterministic, as the public BADGE
code; ties to the lower index); each next centre is drawn with probability proportional to D^2,
the squared distance to the nearest chosen centre (chosen points have 0), with one
``rng.random()`` per pick; if every D^2 is 0 it is the unchosen point of largest norm. For BADGE
the points are the gradient embeddings g_i = r_i (x) h_i, whose distances come from
<g_i, g_j> = <r_i, r_j><h_i, h_j> without building the n x (K d) matrix.

- :func:`kmeanspp_seeding_plain` is that definition as a loop: one full distance pass per pick.
  It is the reference the tests and ``benchmarks/bench_select.py`` compare with.
- :func:`kmeanspp_seeding` checks its input and runs one of the two exact fast paths of
  :mod:`labelwise.strategies.kmeanspp_fast`, which skip the distances a new centre cannot lower:
  local bounds in per-cluster frames (:mod:`labelwise.strategies.kmeanspp_frame`) for X alone in
  more than 64 dimensions, global bounds otherwise. Same picks as the plain loop for a seed, bit
  for bit: both keep their state in :class:`~labelwise.strategies.kmeanspp_state.Seeding` (same
  distance products, same D^2 sampler, same draw); how each path works is in
  :mod:`~labelwise.strategies.kmeanspp_fast`.
"""

from __future__ import annotations

import numpy as np

from labelwise.strategies.distances import one_blas_thread
from labelwise.strategies.kmeanspp_fast import kmeanspp_local, kmeanspp_pruned
from labelwise.strategies.kmeanspp_state import Gram, Seeding
from labelwise.validation import LabelwiseError, check_k


def kmeanspp_seeding(
    X: np.ndarray, k: int, rng: np.random.Generator | None = None, R: np.ndarray | None = None
) -> np.ndarray:
    """k-means++ seeding: k positions (k,) int64 into X (n, d), in picking order.

    Rows are X, or with ``R`` (n, K) the implicit BADGE gradient embedding g_i = r_i (x) x_i (see
    the module docstring for the definition). Same picks as :func:`kmeanspp_seeding_plain` for a
    seed, faster: for X alone with d > 64, k > 16 and n >= 4,096 by local bounds in per-cluster
    frames (built on a second core while the first picks run), otherwise by the triangle
    inequality through each point's nearest centre, the norm bound and, with ``R``, a bound from
    an (n, K) product. Extra memory O(n q) for the frames' local coordinates (q = 16), plus O(n)
    index arrays. BLAS runs on one thread (many small products).
    """
    if np.ndim(X) != 2:
        raise LabelwiseError(f"k-means++ seeding needs X of shape (n, d), got shape {np.shape(X)}")
    k = check_k(k, len(X))
    if R is not None and (np.ndim(R) != 2 or len(R) != len(X)):
        raise LabelwiseError(
            f"k-means++ seeding: the BADGE residuals have shape {np.shape(R)}; they need one row "
            f"per candidate ({len(X)})"
        )
    rng = rng if rng is not None else np.random.default_rng()
    with one_blas_thread():
        if R is None and k > 16 and X.shape[1] > 64 and len(X) >= 4096:
            return kmeanspp_local(X, k, rng)
        return kmeanspp_pruned(X, k, rng, R)


def kmeanspp_seeding_plain(
    X: np.ndarray, k: int, rng: np.random.Generator | None = None, R: np.ndarray | None = None
) -> np.ndarray:
    """Reference k-means++ seeding, the definition as a loop: one full distance pass per pick.
    Same arguments and picks as :func:`kmeanspp_seeding`; kept for the tests and the benchmark."""
    rng = rng if rng is not None else np.random.default_rng()
    seeding = Seeding.start(Gram(X, R), rng)  # the first centre: the largest norm
    while len(seeding.picks) < k:
        seeding.plain_pick()  # draw by D^2, then lower every D^2 to the new centre
    return np.asarray(seeding.picks, dtype=np.int64)
