"""What the cold-start selectors (TypiClust, ProbCover) share: pool inputs, seeds, k-means.

Both pick from a pool of embeddings alone, with no model: ``X`` (n, d) is the WHOLE pool
(labeled and unlabeled rows), ``labeled_idx`` the rows already labeled, and the picks are rows
of ``X``. :func:`pool_of` builds that pool from a selection context's two arrays.
"""

from __future__ import annotations

import numpy as np

from labelwise.validation import LabelwiseError, check_features


def prepare_features(X, normalize: bool = True, name: str = "X") -> np.ndarray:
    """(n, d) float32 C-contiguous copy of ``X``, rows scaled to unit L2 norm if ``normalize``
    (all-zero rows stay 0). The authors of TypiClust and ProbCover ran both on L2-normalised
    self-supervised embeddings; their distance scales (delta around 0.5 to 0.8) assume it."""
    X = check_features(X, name)
    X = np.array(X, dtype=np.float32, order="C", copy=True)
    if normalize:
        norms = np.sqrt(np.einsum("ij,ij->i", X, X, dtype=np.float64))
        norms[norms == 0] = 1.0
        X /= norms[:, None].astype(np.float32)
    return X


def check_selection(n: int, k: int, labeled_idx) -> np.ndarray:
    """Validate a request for ``k`` new picks out of a pool of ``n`` rows; returns the labeled
    rows as a sorted int64 array (empty when ``labeled_idx`` is None)."""
    labeled = np.zeros(0, dtype=np.int64) if labeled_idx is None else np.asarray(labeled_idx)
    if labeled.ndim != 1 or (labeled.size and labeled.dtype.kind not in "iu"):
        raise LabelwiseError("labeled_idx must be a 1-D array of integer row indices into X")
    labeled = labeled.astype(np.int64)
    if labeled.size and (labeled.min() < 0 or labeled.max() >= n):
        raise LabelwiseError(f"labeled_idx holds rows outside 0..{n - 1}")
    if len(np.unique(labeled)) != len(labeled):
        raise LabelwiseError("labeled_idx holds a row twice; pass each labeled row once")
    if int(k) != k or k < 0:
        raise LabelwiseError(f"the number of picks must be an integer >= 0, got {k}")
    if k > n - len(labeled):
        raise LabelwiseError(f"cannot pick {k} items: only {n - len(labeled)} of {n} are "
                             "unlabeled; ask for fewer")
    return np.sort(labeled)


def sklearn_seed(random_state) -> int | None:
    """An int seed for scikit-learn from an int, None or a numpy Generator (one draw)."""
    if isinstance(random_state, np.random.Generator):
        return int(random_state.integers(2**31 - 1))
    if isinstance(random_state, np.random.RandomState):
        return int(random_state.randint(2**31 - 1))
    return None if random_state is None else int(random_state)


def kmeans_labels(X: np.ndarray, n_clusters: int, random_state=None) -> np.ndarray:
    """(n,) k-means cluster index of each row of ``X`` (n, d).

    As the TypiClust authors' code: scikit-learn ``KMeans`` up to 50 clusters, else
    ``MiniBatchKMeans`` with batches of 5,000 (both with scikit-learn's default ``n_init``).
    """
    from sklearn.cluster import KMeans, MiniBatchKMeans

    n_clusters = int(n_clusters)
    if not 1 <= n_clusters <= len(X):
        raise LabelwiseError(f"k-means needs 1 <= clusters <= {len(X)} rows, got {n_clusters}")
    from threadpoolctl import threadpool_limits  # a scikit-learn dependency

    seed = sklearn_seed(random_state)
    if n_clusters <= 50:
        km = KMeans(n_clusters=n_clusters, random_state=seed)
    else:
        km = MiniBatchKMeans(n_clusters=n_clusters, batch_size=5000, random_state=seed)
    # on small pools, starting (and on a busy machine, waiting for) OpenMP threads costs more
    # than the work: MiniBatchKMeans on 100 x 8 took 2 s with threads, 0.04 s without
    limits = 1 if X.size < 1_000_000 else None
    with threadpool_limits(limits=limits):
        return km.fit_predict(X).astype(np.int64)


def pool_of(X_candidates, X_labeled) -> tuple[np.ndarray, np.ndarray]:
    """The whole pool from a selection context: ``[X_labeled; X_candidates]`` (m + n_c, d) and
    the labeled rows ``arange(m)``; a pick p of the pool is candidate position p - m."""
    X_candidates = check_features(X_candidates, "X_candidates")
    if X_labeled is None or len(X_labeled) == 0:
        return X_candidates, np.zeros(0, dtype=np.int64)
    X_labeled = check_features(X_labeled, "X_labeled")
    if X_labeled.shape[1] != X_candidates.shape[1]:
        raise LabelwiseError(f"X_labeled has {X_labeled.shape[1]} features but X_candidates "
                             f"{X_candidates.shape[1]}; use the same encoder for both")
    return np.concatenate([X_labeled, X_candidates]), np.arange(len(X_labeled), dtype=np.int64)
