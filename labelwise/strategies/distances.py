"""Squared Euclidean distances for the selectors, and the BLAS setting their products run under.

``|x - c|^2`` is computed everywhere as ``|x|^2 - 2 <x, c> + |c|^2`` from row norms and inner
products (one matrix product instead of an (n, m, d) difference), clipped at 0 where rounding
makes it negative. The fast selectors rely on computing a given distance the same way as their
plain reference loops, so this module holds the shared pieces.
"""

from __future__ import annotations

import numpy as np


def sq_norms(X: np.ndarray) -> np.ndarray:
    """Squared Euclidean norm of each row of X (n, d): (n,), X's dtype."""
    return np.einsum("ij,ij->i", X, X)


def min_sq_distances(
    X: np.ndarray, centers: np.ndarray, block_rows: int = 4096, block_centers: int = 512
) -> np.ndarray:
    """Squared distance of each row of X (n, d) to its nearest row of ``centers`` (m, d).

    Computed in blocks so that no n x m matrix is ever built in one piece: memory is
    O(n + block_rows * block_centers). Returns (n,), float of X's dtype.
    """
    n = len(X)
    out = np.full(n, np.inf, dtype=X.dtype)
    if len(centers) == 0:
        return out
    x_sq = sq_norms(X)
    c_sq = sq_norms(centers)
    for r0 in range(0, n, block_rows):
        xb = X[r0:r0 + block_rows]
        best = out[r0:r0 + block_rows]
        for c0 in range(0, len(centers), block_centers):
            cb = centers[c0:c0 + block_centers]
            d = xb @ cb.T
            d *= -2.0
            d += x_sq[r0:r0 + block_rows, None]
            d += c_sq[None, c0:c0 + len(cb)]
            np.minimum(best, d.min(axis=1), out=best)
    np.maximum(out, 0.0, out=out)
    return out


def one_blas_thread():
    """A context that keeps BLAS to one thread: the fast selectors make many small products, for
    which thread start-up and, on a busy machine, waiting threads cost more than they save."""
    from threadpoolctl import threadpool_limits  # a scikit-learn dependency

    return threadpool_limits(limits=1, user_api="blas")
