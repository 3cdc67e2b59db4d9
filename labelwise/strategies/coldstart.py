"""What the cold-start selectors (TypiClust, ProbCover) share: pool inputs, seeds, k-means.

Both pick from a pool of embeddings alone, with no model: ``X`` (n, d) is the WHOLE pool
(labeled and unlabeled rows), ``labeled_idx`` the rows already labeled, and the picks are rows
of ``X``. :func:`pool_of` builds that pool from a selection context's two arrays;
:func:`pool_parts` and :func:`pool_features` build it, normalised, in one float32 buffer read
straight from the arrays (rows of a memory-mapped pool included), with no copy in between.
"""

from __future__ import annotations

import numpy as np

from labelwise.validation import LabelwiseError, check_features

#: rows gathered, normalised or hashed at a time: bounds the temporaries to a few MB
BLOCK_ROWS = 8192


def _row_norms32(X: np.ndarray) -> np.ndarray:
    """(n,) float32 L2 norm of each row of the float32 ``X`` (n, d), 1 for all-zero rows:
    the divisors of :func:`pool_features`. One ``einsum`` over the whole array, summing in
    float64 through numpy's small cast buffer (no (n, d) float64 temporary); kept as one call
    so every row's sum is rounded the same way whichever array holds the rows."""
    norms = np.sqrt(np.einsum("ij,ij->i", X, X, dtype=np.float64))
    norms[norms == 0] = 1.0
    return norms.astype(np.float32)


def _fill(out: np.ndarray, parts) -> None:
    """Copy the rows of ``parts`` ((array, rows or None) pairs, in pool order) into the float32
    ``out``, :data:`BLOCK_ROWS` at a time; a memory map is read block by block and gives the
    pages of each block back once it is copied (see :func:`release_pages`), so the map never
    adds a second pool's bytes to the buffer's."""
    at = 0
    for X, rows in parts:
        mapping = shared_mapping(X)
        n = len(X) if rows is None else len(rows)
        for a in range(0, n, BLOCK_ROWS):
            b = min(a + BLOCK_ROWS, n)
            out[at + a:at + b] = X[a:b] if rows is None else X[rows[a:b]]
            if mapping is not None:
                lo, hi = (a, b) if rows is None else (int(rows[a:b].min()),
                                                      int(rows[a:b].max()) + 1)
                release_pages(mapping, X, lo, hi)
        at += n


def shared_mapping(X: np.ndarray):
    """The ``mmap.mmap`` behind ``X`` when it is a shared file mapping (a ``np.memmap`` opened
    "r", "r+" or "w+", or a view of one), else None (an ordinary array, a private "c" map)."""
    import mmap

    shared = False
    obj = X
    while obj is not None:
        if isinstance(obj, np.memmap) and getattr(obj, "mode", None) in ("r", "r+", "w+"):
            shared = True
        if isinstance(obj, mmap.mmap):
            return obj if shared else None
        obj = getattr(obj, "base", None)
    return None


def release_pages(mapping, X: np.ndarray, lo: int, hi: int) -> bool:
    """Drop from this process's resident memory the pages of the shared file mapping
    ``mapping`` (from :func:`shared_mapping`) that hold rows ``lo:hi`` of ``X`` (an array on
    it; the whole mapping when ``X``'s rows run backwards). Once rows are copied into the
    buffer a selector works on, the mapping would otherwise hold a second pool's bytes until the
    process ends. The file's data stay in the page cache (the kernel may reclaim them; a shared
    mapping's writes are in it already) and the next read maps them in again, so nothing
    changes for the array's users. Returns whether pages were given back (Linux and macOS;
    elsewhere nothing happens)."""
    import mmap

    advice = getattr(mmap, "MADV_DONTNEED", None)
    if advice is None or len(mapping) == 0 or hi <= lo:
        return False
    start, length = 0, len(mapping)
    if X.strides[0] > 0:
        view = np.frombuffer(mapping, dtype=np.uint8)  # the mapping's address, no copy
        base = view.ctypes.data
        del view  # (an exported buffer would keep the mapping from closing)
        first = X.ctypes.data - base + lo * X.strides[0]
        last = X.ctypes.data - base + hi * X.strides[0]
        start = max(0, first - first % mmap.PAGESIZE)
        length = min(len(mapping), last) - start
        if length <= 0:
            return False
    try:
        mapping.madvise(advice, start, length)
    except (OSError, ValueError):  # a closed or unusual mapping: keep the pages
        return False
    return True


def pool_features(parts, normalize: bool = True):
    """The pool ``[rows of part 1; rows of part 2; ...]`` (n, d) as float32, C-contiguous, rows
    scaled to unit L2 norm if ``normalize`` (all-zero rows stay 0), built in ONE buffer.

    ``parts`` are (array, rows) pairs: ``array`` (n_i, d) checked features, ``rows`` the row
    indices to take (None: all of them), so a pool can be gathered straight from a memory-mapped
    pool without an intermediate copy. Returns ``(X, restore)``: ``X`` is the single part itself
    (no copy) when it is one whole float32 C-contiguous array whose rows normalisation would not
    change (unit norm in float32 already, or ``normalize`` False), and ``restore`` is then None;
    otherwise ``X`` is a new buffer the caller owns and may overwrite (k-means centres it in
    place), and ``restore()`` rewrites it to the exact same values again.

    The values are bit for bit those of casting the concatenated pool to float32 and dividing it
    by its row norms in place (the norms are one ``einsum`` over the whole buffer).
    """
    norms = None
    if len(parts) == 1 and parts[0][1] is None:
        X = parts[0][0]
        if X.dtype == np.float32 and X.flags.c_contiguous:
            if not normalize:
                return X, None
            norms = _row_norms32(X)  # the buffer's too: it will hold these very rows
            if np.all(norms == 1):  # x / 1 == x: nothing to change
                return X, None
    n = sum(len(X) if rows is None else len(rows) for X, rows in parts)
    out = np.empty((n, parts[0][0].shape[1]), dtype=np.float32)
    _fill(out, parts)
    if normalize and norms is None:
        norms = _row_norms32(out)

    def divide():
        if norms is not None:
            for a in range(0, n, BLOCK_ROWS):
                out[a:a + BLOCK_ROWS] /= norms[a:a + BLOCK_ROWS, None]

    def restore():
        _fill(out, parts)
        divide()

    divide()
    return out, restore


def prepare_features(X, normalize: bool = True, name: str = "X") -> np.ndarray:
    """(n, d) float32 C-contiguous ``X``, rows scaled to unit L2 norm if ``normalize`` (all-zero
    rows stay 0). The authors of TypiClust and ProbCover ran both on L2-normalised
    self-supervised embeddings; their distance scales (delta around 0.5 to 0.8) assume it.

    ``X`` itself comes back (a view, not a copy: treat it as read-only) when it is float32,
    C-contiguous and its rows are unit-norm already, e.g. a memory-mapped pool of normalised
    embeddings; otherwise a new array (see :func:`pool_features`)."""
    X = check_features(X, name)
    return pool_features([(X, None)], normalize)[0]


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


def kmeans_labels(X: np.ndarray, n_clusters: int, random_state=None,
                  restore=None) -> np.ndarray:
    """(n,) k-means cluster index of each row of ``X`` (n, d).

    As the TypiClust authors' code: scikit-learn ``KMeans`` up to 50 clusters, else
    ``MiniBatchKMeans`` with batches of 5,000 (both with scikit-learn's default ``n_init``).
    With ``restore`` (the callable :func:`pool_features` returns with a buffer the caller owns),
    ``KMeans`` centres ``X`` in place instead of on a copy of its own (one pool's bytes less at
    the peak; the same arithmetic, so the same clusters) and ``restore()`` then rewrites ``X``.
    """
    from sklearn.cluster import KMeans, MiniBatchKMeans

    n_clusters = int(n_clusters)
    if not 1 <= n_clusters <= len(X):
        raise LabelwiseError(f"k-means needs 1 <= clusters <= {len(X)} rows, got {n_clusters}")
    from threadpoolctl import threadpool_limits  # a scikit-learn dependency

    seed = sklearn_seed(random_state)
    in_place = restore is not None and n_clusters <= 50
    if n_clusters <= 50:
        kmeans = _block_tolerance_kmeans() if in_place else KMeans
        km = kmeans(n_clusters=n_clusters, random_state=seed, copy_x=not in_place)
    else:
        km = MiniBatchKMeans(n_clusters=n_clusters, batch_size=5000, random_state=seed)
    # on small pools, starting (and on a busy machine, waiting for) OpenMP threads costs more
    # than the work: MiniBatchKMeans on 100 x 8 took 2 s with threads, 0.04 s without
    limits = 1 if X.size < 1_000_000 else None
    try:
        with threadpool_limits(limits=limits):
            return km.fit_predict(X).astype(np.int64)
    finally:
        if in_place:  # KMeans adds the mean back, but (x - m) + m may differ from x by an ulp
            restore()


def column_variances(X: np.ndarray) -> np.ndarray:
    """(d,) ``np.var(X, axis=0)`` of ``X`` (n, d), the same values bit for bit. For a
    C-contiguous float32 ``X`` with d >= 2 they are read :data:`BLOCK_ROWS` rows at a time,
    without the (n, d) centred copy ``np.var`` makes: numpy sums such an array down axis 0 row
    after row, and each block's sum carries the running one along. Any other ``X`` (a column,
    Fortran order, float64) goes to ``np.var``, which sums those in other orders."""
    if not (X.ndim == 2 and X.shape[1] >= 2 and len(X) and X.dtype == np.float32
            and X.flags.c_contiguous):
        return np.var(X, axis=0)
    n = len(X)

    def column_sums(rows_of):
        total = None
        for a in range(0, n, BLOCK_ROWS):
            block = rows_of(a, min(a + BLOCK_ROWS, n))
            if total is not None:
                block = np.concatenate([total[None], block])
            total = np.add.reduce(block, axis=0)
        return np.true_divide(total, np.intp(n), out=total, casting="unsafe")

    mean = column_sums(lambda a, b: X[a:b])
    return column_sums(lambda a, b: np.square(np.subtract(X[a:b], mean)))


_BLOCK_TOLERANCE_KMEANS = None


def _block_tolerance_kmeans():
    """scikit-learn's ``KMeans`` whose tolerance (``tol`` times the mean of the columns'
    variances) reads the variances from :func:`column_variances`: the same number, so the same
    iterations and clusters, without the centred copy of the pool ``np.var`` would make (one
    pool's bytes at the peak of a cold start). Built on first use (scikit-learn's clustering
    is not imported with labelwise) and reached as ``coldstart.BlockToleranceKMeans``, so it
    pickles like any estimator."""
    global _BLOCK_TOLERANCE_KMEANS
    if _BLOCK_TOLERANCE_KMEANS is None:
        from sklearn.cluster import KMeans

        class BlockToleranceKMeans(KMeans):
            def _check_params_vs_input(self, X, *args, **kwargs):
                tol = self.tol
                self.__dict__.pop("_tol", None)  # a refit computes it afresh
                self.tol = 0  # scikit-learn's tolerance of tol = 0 skips np.var
                try:
                    super()._check_params_vs_input(X, *args, **kwargs)
                finally:
                    self.tol = tol
                if "_tol" not in self.__dict__:  # another scikit-learn: its own tolerance
                    super()._check_params_vs_input(X, *args, **kwargs)
                    return
                # scikit-learn's expression, on the same variances
                self._tol = np.mean(column_variances(X)) * tol if tol else 0

        BlockToleranceKMeans.__module__ = __name__
        BlockToleranceKMeans.__qualname__ = "BlockToleranceKMeans"
        _BLOCK_TOLERANCE_KMEANS = BlockToleranceKMeans
    return _BLOCK_TOLERANCE_KMEANS


def __getattr__(name: str):
    if name == "BlockToleranceKMeans":
        return _block_tolerance_kmeans()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def pool_of(X_candidates, X_labeled) -> tuple[np.ndarray, np.ndarray]:
    """The whole pool from a selection context: ``[X_labeled; X_candidates]`` (m + n_c, d) and
    the labeled rows ``arange(m)``; a pick p of the pool is candidate position p - m."""
    parts, labeled = pool_parts(X_candidates, X_labeled)
    if len(parts) == 1:
        return parts[0][0], labeled
    return np.concatenate([X for X, _ in parts]), labeled


def pool_parts(X_candidates, X_labeled, candidate_rows=None) -> tuple[list, np.ndarray]:
    """:func:`pool_of` without the concatenation: the pool as :func:`pool_features` parts,
    ``[(X_labeled, None), (X_candidates, candidate_rows)]`` (the labeled part left out when
    empty), and the labeled rows ``arange(m)``. ``candidate_rows`` None takes every row of
    ``X_candidates``; otherwise the candidates are those rows of it."""
    X_candidates = check_features(X_candidates, "X_candidates")
    if candidate_rows is not None:
        candidate_rows = np.asarray(candidate_rows, dtype=np.int64)
        if candidate_rows.ndim != 1 or (len(candidate_rows) and (
                candidate_rows.min() < 0 or candidate_rows.max() >= len(X_candidates))):
            raise LabelwiseError(f"candidate_rows must be a 1-D array of rows of X_candidates "
                                 f"(0..{len(X_candidates) - 1})")
    cands = (X_candidates, candidate_rows)
    if X_labeled is None or len(X_labeled) == 0:
        return [cands], np.zeros(0, dtype=np.int64)
    X_labeled = check_features(X_labeled, "X_labeled")
    if X_labeled.shape[1] != X_candidates.shape[1]:
        raise LabelwiseError(f"X_labeled has {X_labeled.shape[1]} features but X_candidates "
                             f"{X_candidates.shape[1]}; use the same encoder for both")
    return [(X_labeled, None), cands], np.arange(len(X_labeled), dtype=np.int64)


def selection_parts(X_candidates, X_labeled, k: int, candidate_rows=None):
    """:func:`pool_parts` for a request of ``k`` picks, checked (:func:`check_selection`): the
    parts and the labeled rows ``arange(m)``; a pick p of the pool is candidate position
    p - m. What TypiClust's and ProbCover's selection-context entry points share."""
    parts, labeled = pool_parts(X_candidates, X_labeled, candidate_rows)
    n = sum(len(X) if rows is None else len(rows) for X, rows in parts)
    return parts, check_selection(n, k, labeled)
