"""Exact Euclidean neighbour search for the cold-start selectors, with FAISS or scikit-learn.

TypiClust needs k nearest neighbours, ProbCover a delta-ball graph and nearest neighbours in
other clusters. Each function here takes ``backend``: ``"faiss"`` (exhaustive ``IndexFlatL2``
search, the extra ``labelwise[coldstart]``), ``"sklearn"`` (brute-force ``NearestNeighbors``) or
``"auto"`` (FAISS when importable). Both are exact, so they return the same neighbours up to
float32 rounding at ties; nothing here builds an n x n matrix (queries go in row blocks).
"""

from __future__ import annotations

from contextlib import contextmanager

import numpy as np

from labelwise.validation import LabelwiseError

SMALL = 1_000_000  # below this many query x reference rows, one thread is faster

BACKENDS = ("auto", "faiss", "sklearn")


def resolve_backend(backend: str = "auto") -> str:
    """``"faiss"`` or ``"sklearn"``: ``"auto"`` picks FAISS when it can be imported."""
    if backend not in BACKENDS:
        raise LabelwiseError(f"unknown neighbour backend {backend!r}; choose one of: "
                             f"{', '.join(BACKENDS)}")
    if backend != "auto":
        if backend == "faiss":
            _faiss()
        return backend
    try:
        _faiss()
    except LabelwiseError:
        return "sklearn"
    return "faiss"


def _faiss():
    try:
        import faiss
    except ImportError:
        raise LabelwiseError("FAISS is not installed; pip install 'labelwise[coldstart]' or "
                             "pass backend='sklearn'") from None
    return faiss


@contextmanager
def _threads_for(work: int, backend: str):
    """One thread for small searches: starting OpenMP threads (and, on a busy machine, waiting
    for them) costs more than the work. A 10-row FAISS search took 54 ms with threads."""
    if work >= SMALL:
        yield
        return
    if backend == "faiss":
        faiss = _faiss()
        before = faiss.omp_get_max_threads()
        faiss.omp_set_num_threads(1)
        try:
            yield
        finally:
            faiss.omp_set_num_threads(before)
    else:
        from threadpoolctl import threadpool_limits  # a scikit-learn dependency

        with threadpool_limits(limits=1):
            yield


def first_copies(X: np.ndarray) -> np.ndarray:
    """(n,) int64: for each row of ``X`` (n, d), the lowest row holding exactly the same values
    (the same bytes: 0.0 and -0.0 differ; itself when it has no earlier duplicate).

    Each row is hashed to 64 bits, a block of rows at a time; only rows whose hash is shared
    (the duplicates, and the rare collision) are compared byte for byte, by one sort of their
    bytes. Memory is O(n) plus the shared rows, not a sorted copy of the whole pool."""
    if not len(X):
        return np.zeros(0, dtype=np.int64)
    h = _row_hashes(X)
    order = np.argsort(h, kind="stable")
    hs = h[order]
    same = hs[1:] == hs[:-1]
    shared = np.zeros(len(X), dtype=bool)
    shared[order[1:][same]] = True
    shared[order[:-1][same]] = True
    first = np.arange(len(X), dtype=np.int64)
    rows = np.flatnonzero(shared)
    if len(rows):
        first[rows] = rows[_first_copies_exact(X[rows])]
    return first


def _first_copies_exact(X: np.ndarray) -> np.ndarray:
    """:func:`first_copies` by one sort of the rows' bytes, O(n log n), a sorted copy of ``X``."""
    X = np.ascontiguousarray(X)
    rows = X.reshape(len(X), -1).view(np.dtype((np.void, X.dtype.itemsize * X[0].size)))
    _, first, inverse = np.unique(rows.ravel(), return_index=True, return_inverse=True)
    return first.astype(np.int64)[inverse.ravel()]


#: odd 64-bit multipliers of the row hash, one per 32-bit word of a row (grown on demand)
_MULTIPLIERS = np.zeros(0, dtype=np.uint64)


def _row_hashes(X: np.ndarray, block: int = 4096) -> np.ndarray:
    """(n,) uint64 hash of each row's bytes: the sum of its 32-bit words (bytes when a row's
    size is not a multiple of 4) times fixed random odd multipliers, modulo 2^64. Equal rows get
    equal hashes; a collision only costs a byte comparison in :func:`first_copies`."""
    global _MULTIPLIERS
    n = len(X)
    width = X.dtype.itemsize * (X.size // n if n else 0)
    word = np.uint32 if width % 4 == 0 else np.uint8
    m = width // np.dtype(word).itemsize
    if len(_MULTIPLIERS) < m:
        rng = np.random.default_rng(0x1ABE1)
        _MULTIPLIERS = rng.integers(0, 2**63, m, dtype=np.uint64) * np.uint64(2) + np.uint64(1)
    mult = _MULTIPLIERS[:m]
    out = np.empty(n, dtype=np.uint64)
    for a in range(0, n, block):
        words = np.ascontiguousarray(X[a:a + block]).reshape(-1).view(word).reshape(-1, m)
        out[a:a + block] = (words.astype(np.uint64) * mult).sum(axis=1, dtype=np.uint64)
    return out


def warn_duplicates(first: np.ndarray, who: str, normalized: bool) -> int:
    """Warn (once per message) how many rows duplicate an earlier one; returns that number."""
    import warnings

    n_dup = int((first != np.arange(len(first))).sum())
    if n_dup:
        how = "point the same way as (L2-normalised)" if normalized else "duplicate"
        warnings.warn(f"{n_dup} of the pool's {len(first)} rows {how} an earlier row; {who}",
                      UserWarning, stacklevel=3)
    return n_dup


def knn_distances(X: np.ndarray, k: int, backend: str = "auto") -> np.ndarray:
    """(n, k) Euclidean distances from each row of ``X`` (n, d) to its k nearest OTHER rows,
    nearest first. Requires 1 <= k <= n - 1."""
    n = len(X)
    if not 1 <= k <= n - 1:
        raise LabelwiseError(f"k nearest neighbours need 1 <= k <= n - 1, got k={k}, n={n}")
    backend = resolve_backend(backend)
    with _threads_for(n * n, backend):
        return _knn_distances(X, k, backend)


def _knn_distances(X: np.ndarray, k: int, backend: str) -> np.ndarray:
    n = len(X)
    if backend == "sklearn":
        from sklearn.neighbors import NearestNeighbors

        nn = NearestNeighbors(n_neighbors=k, algorithm="brute").fit(X)
        return nn.kneighbors(return_distance=True)[0]  # X=None leaves each point itself out
    faiss = _faiss()
    X = np.ascontiguousarray(X, dtype=np.float32)
    index = faiss.IndexFlatL2(X.shape[1])
    index.add(X)
    d2, idx = index.search(X, k + 1)
    # Drop each row's own entry; with exact duplicates it need not come first, and if it was
    # pushed out of the k + 1 by duplicates, drop the last (farthest) one instead.
    own = idx == np.arange(n)[:, None]
    missing = ~own.any(axis=1)
    own[missing, -1] = True
    d2 = d2[~own].reshape(n, k)
    return np.sqrt(np.maximum(d2, 0.0))


def nearest_distance(X_query: np.ndarray, X_ref: np.ndarray, backend: str = "auto") -> np.ndarray:
    """(n_q,) Euclidean distance from each row of ``X_query`` to its nearest row of ``X_ref``."""
    backend = resolve_backend(backend)
    with _threads_for(len(X_query) * len(X_ref), backend):
        return _nearest_distance(X_query, X_ref, backend)


def _nearest_distance(X_query: np.ndarray, X_ref: np.ndarray, backend: str) -> np.ndarray:
    if backend == "sklearn":
        from sklearn.neighbors import NearestNeighbors

        nn = NearestNeighbors(n_neighbors=1, algorithm="brute").fit(X_ref)
        return nn.kneighbors(X_query, return_distance=True)[0][:, 0]
    faiss = _faiss()
    index = faiss.IndexFlatL2(X_ref.shape[1])
    index.add(np.ascontiguousarray(X_ref, dtype=np.float32))
    d2 = index.search(np.ascontiguousarray(X_query, dtype=np.float32), 1)[0][:, 0]
    return np.sqrt(np.maximum(d2, 0.0))


def radius_graph(X: np.ndarray, radius: float, backend: str = "auto",
                 max_edges: int = 200_000_000, block: int = 2048) -> tuple[np.ndarray, np.ndarray]:
    """The directed graph i -> j iff ||x_i - x_j|| <= ``radius`` (self-loops included), as CSR.

    Returns ``indptr`` (n + 1,) int64 and ``indices`` (nnz,) int32 (column order inside a row
    is unspecified): 4 bytes per edge plus 8 per row. Rows are searched in blocks of ``block``
    queries; more than ``max_edges`` edges raises a :class:`LabelwiseError` before memory runs
    out (the ball sizes grow fast with the radius).
    """
    if not radius > 0:
        raise LabelwiseError(f"the ball radius must be > 0, got {radius}")
    backend = resolve_backend(backend)
    with _threads_for(len(X) * len(X), backend):
        return _radius_graph(X, radius, backend, max_edges, block)


def _radius_graph(X: np.ndarray, radius: float, backend: str, max_edges: int,
                  block: int) -> tuple[np.ndarray, np.ndarray]:
    n = len(X)
    counts = np.zeros(n, dtype=np.int64)
    parts: list[np.ndarray] = []
    total = 0
    if backend == "sklearn":
        from sklearn.neighbors import NearestNeighbors

        nn = NearestNeighbors(radius=radius, algorithm="brute").fit(X)

        def search(rows):
            g = nn.radius_neighbors_graph(X[rows], mode="connectivity")  # d <= radius
            return np.diff(g.indptr), g.indices
    else:
        faiss = _faiss()
        index = faiss.IndexFlatL2(X.shape[1])
        index.add(X)
        # FAISS keeps squared distances strictly below its radius: the next float32 above
        # radius^2 keeps d^2 <= radius^2, as scikit-learn does.
        r2 = float(np.nextafter(np.float32(radius) ** 2, np.float32(np.inf)))

        def search(rows):
            lims, _, idx = index.range_search(X[rows], r2)
            return np.diff(lims), idx

    for b0 in range(0, n, block):
        rows = np.arange(b0, min(b0 + block, n))
        cnt, idx = search(rows)
        total += len(idx)
        if total > max_edges:
            raise LabelwiseError(
                f"the delta-graph holds more than {max_edges:,} edges at radius {radius:g} "
                f"(about {total / (b0 + len(rows)):.0f} per point); pass a smaller delta "
                "or raise max_edges")
        counts[rows] = cnt
        parts.append(idx.astype(np.int32, copy=False))
    indptr = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(counts, out=indptr[1:])
    indices = np.concatenate(parts) if parts else np.zeros(0, dtype=np.int32)
    return indptr, indices


def transpose_csr(indptr: np.ndarray, indices: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """CSR of the transposed graph (the in-edges of every node), same dtypes, O(nnz)."""
    from scipy.sparse import csr_matrix

    g = csr_matrix((np.ones(len(indices), dtype=bool), indices, indptr), shape=(n, n))
    t = g.tocsc()  # CSC of g == CSR of its transpose
    return t.indptr.astype(np.int64, copy=False), t.indices.astype(np.int32, copy=False)


def gather_rows(indptr: np.ndarray, indices: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """The concatenated column indices of the given CSR ``rows``, without a Python loop."""
    starts = indptr[rows]
    lengths = indptr[np.asarray(rows) + 1] - starts
    total = int(lengths.sum())
    if total == 0:
        return np.zeros(0, dtype=indices.dtype)
    # position p of the output reads indices[starts[r] + (p - offset of r)]
    offsets = np.repeat(starts - np.concatenate([[0], np.cumsum(lengths)[:-1]]), lengths)
    return indices[np.arange(total) + offsets]
