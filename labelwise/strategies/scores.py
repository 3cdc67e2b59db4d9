"""Acquisition scores: pure functions of prediction arrays.

Each takes class probabilities ``p`` of shape (n, K) (rows sum to 1) and returns a score of shape
(n,). Unless a docstring says otherwise, a higher score means "pick first".
"""

from __future__ import annotations

import numpy as np

EPS = 1e-12


def least_confidence(p: np.ndarray) -> np.ndarray:
    """1 - max_c p_c (Pretrained Models Are Good Active Learners, 2021; Khosla et al. 2022 "CONF").
    Shape (n, K) -> (n,)."""
    return 1.0 - p.max(axis=1)


def margin(p: np.ndarray) -> np.ndarray:
    """p_(1) - p_(2), the gap between the two most likely classes (Khosla et al. 2022 "MARG",
    Aggarwal et al. 2022).

    Pick the SMALLEST. Shape (n, K) -> (n,).
    """
    top2 = np.partition(p, p.shape[1] - 2, axis=1)[:, -2:]
    return top2[:, 1] - top2[:, 0]


def entropy(p: np.ndarray) -> np.ndarray:
    """-sum_c p_c log p_c, natural log, p clipped at 1e-12 (Pretrained Models Are Good Active
    Learners, 2021; Krishnan et al. 2021). (n, K) -> (n,)."""
    pc = np.clip(p, EPS, 1.0)
    return -(p * np.log(pc)).sum(axis=1)


def _check_samples(samples: np.ndarray) -> np.ndarray:
    from labelwise.validation import LabelwiseError

    samples = np.asarray(samples)
    if samples.ndim != 3:
        raise LabelwiseError(
            f"stochastic predictions must have shape (T, n, K), got {samples.shape}")
    if samples.shape[0] < 2:
        raise LabelwiseError(
            f"stochastic predictions need T >= 2 samples, got T={samples.shape[0]}")
    return samples


def mean_proba(samples: np.ndarray) -> np.ndarray:
    """Mean over the T stochastic predictions: (T, n, K) -> (n, K), float32 or float64."""
    samples = _check_samples(samples)
    dtype = np.result_type(samples.dtype, np.float32)
    return samples.mean(axis=0, dtype=dtype)


def bald(samples: np.ndarray, block_rows: int = 32768) -> np.ndarray:
    """BALD mutual information I = H[mean_t p_t] - mean_t H[p_t] (Khosla et al. 2022; Krishnan et
    al. 2021; Gal et al. 2017).

    ``samples`` (T, n, K): T stochastic predictions (MC dropout or ensemble members). Natural log,
    p clipped at 1e-12 inside the log. One vectorised pass over blocks of rows, in the input's
    float precision (float32 stays float32), with no (T, n, K) temporaries. Returns (n,), >= 0 up
    to rounding; higher = pick first.
    """
    samples = _check_samples(samples)
    T, n, K = samples.shape
    dtype = np.result_type(samples.dtype, np.float32)
    out = np.empty(n, dtype=dtype)
    eps = dtype.type(EPS)
    ones = np.ones(K, dtype=dtype)  # sums over the short class axis as a product (4x faster)
    for r0 in range(0, n, block_rows):
        s = samples[:, r0:r0 + block_rows, :]
        rows = s.shape[1]
        logs = np.maximum(s, eps, dtype=dtype)
        np.log(logs, out=logs)
        logs *= s
        # sum over classes then mean over T: the expected entropy (with a minus sign)
        neg_exp_ent = (logs.reshape(-1, K) @ ones).reshape(T, rows).sum(axis=0) / T
        m = s.sum(axis=0, dtype=dtype)
        m /= T
        lm = np.maximum(m, eps)
        np.log(lm, out=lm)
        lm *= m
        ent_mean = -(lm @ ones)
        out[r0:r0 + block_rows] = ent_mean + neg_exp_ent
    return out


def variation_ratio(samples: np.ndarray) -> np.ndarray:
    """Variation ratio 1 - (votes for the modal class) / T ("Ensembles", An Empirical Study of Deep
    Active Learning, 2021; Beluch et al.).

    ``samples`` (T, n, K): the predictions of T ensemble members (or MC-dropout passes). Each member
    votes for its argmax class (ties to the lower class index). Returns (n,) in [0, 1 - 1/T];
    higher = pick first. The strategy breaks ties by the entropy of the mean prediction
    (:func:`entropy` of :func:`mean_proba`).
    """
    samples = _check_samples(samples)
    T, n, K = samples.shape
    counts = np.zeros((n, K), dtype=np.int32)
    rows = np.arange(n)
    for t in range(T):
        counts[rows, samples[t].argmax(axis=1)] += 1
    return 1.0 - counts.max(axis=1) / T


def alamp(p_prev: np.ndarray | None, p_cur: np.ndarray, eps: float = 1e-12) -> np.ndarray:
    """alamp (Aggarwal et al. 2022, eq. 3): (m_prev - m_cur) / (m_prev + m_cur + eps), m =
    :func:`margin`.

    ``p_prev`` (n, K) is the previous round's model on the current candidates, ``p_cur`` (n, K) this
    round's. Higher = a larger shift from certainty to uncertainty = pick first. In the first
    round (``p_prev`` None) the paper orders by margin: this returns ``-margin(p_cur)`` so that the
    largest score is the smallest margin. ``eps`` (not in the paper) guards 0/0.
    """
    m_cur = margin(p_cur)
    if p_prev is None:
        return -m_cur
    m_prev = margin(p_prev)
    return (m_prev - m_cur) / (m_prev + m_cur + eps)


def min_distance(h: np.ndarray, h_labeled: np.ndarray, block_rows: int = 4096) -> np.ndarray:
    """(n,) Euclidean distance of each row of ``h`` (n, d) to its nearest row of ``h_labeled``
    (m, d): the quantity k-center greedy (Core-set, Sener & Savarese 2018) maximises first;
    +inf for every row when nothing is labeled. Blocked, so no n x m matrix is held at once."""
    from sklearn.metrics import pairwise_distances_argmin_min

    if len(h_labeled) == 0:
        return np.full(len(h), np.inf)
    return np.concatenate([pairwise_distances_argmin_min(h[i:i + block_rows], h_labeled)[1]
                           for i in range(0, len(h), block_rows)])


def _unit_rows(Z: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(Z, axis=1, keepdims=True)
    return Z / np.maximum(norms, EPS)


def feature_similarity(
    z: np.ndarray,
    pred_class: np.ndarray,
    z_labeled: np.ndarray,
    labeled_class: np.ndarray,
    block_rows: int = 8192,
) -> np.ndarray:
    """SCAL / FeatureSim score (Krishnan et al. 2021, eq. 2): max cosine similarity to labeled items
    of the predicted class.

    s(x) = max over labeled l with class c(x) of cos(z_l, z_x), where c(x) = ``pred_class`` (n,),
    ``z`` (n, d) the candidates' features, ``z_labeled`` (m, d) and ``labeled_class`` (m,) the
    labeled ones. LOWER = pick first. A candidate whose predicted class has no labeled item gets
    -inf (nothing similar is known, so it comes first). Blocked: memory O(block_rows * m_c).
    """
    zl = _unit_rows(np.asarray(z_labeled, dtype=np.float32))
    out = np.full(len(z), -np.inf, dtype=np.float32)
    for c in np.unique(pred_class):
        rows = np.flatnonzero(pred_class == c)
        ref = zl[labeled_class == c]
        if len(ref) == 0:
            continue
        for r0 in range(0, len(rows), block_rows):
            rb = rows[r0:r0 + block_rows]
            out[rb] = (_unit_rows(np.asarray(z[rb], dtype=np.float32)) @ ref.T).max(axis=1)
    return out


def _principal_axes(A: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Variances (descending, (r,)) and unit principal axes ((r, d) rows) of centred rows A (m, d).

    An eigendecomposition of the smaller of A A^T (m x m) and A^T A (d x d): the same axes as
    an SVD of A, and much cheaper than LAPACK's SVD for a few labeled items per class.
    """
    m, d = A.shape
    if m <= d:
        w, U = np.linalg.eigh(A @ A.T)
        w, U = w[::-1], U[:, ::-1]
        keep = w > w[0] * 1e-12 if w[0] > 0 else np.zeros(len(w), dtype=bool)
        w, U = w[keep], U[:, keep]
        V = (A.T @ U / np.sqrt(w)).T
    else:
        w, V = np.linalg.eigh(A.T @ A)
        w, V = np.clip(w[::-1], 0.0, None), V[:, ::-1].T
    return w, V


def dfm(
    h: np.ndarray,
    pred_class: np.ndarray,
    h_labeled: np.ndarray,
    labeled_class: np.ndarray,
    variance: float = 0.97,
    block_rows: int = 16384,
) -> np.ndarray:
    """Deep Feature Modeling score (Krishnan et al. 2021, eq. 3): class-conditional PCA
    reconstruction error.

    For each class c, PCA (centred at the class mean) on the labeled embeddings of class c, keeping
    the fewest components whose explained variance reaches ``variance`` (at least 1, at most
    n_c - 1); a class with fewer than 2 labeled items uses its mean only (0 components). Score of a
    candidate = ||z - mu_c - W W^T (z - mu_c)||^2 with c its predicted class; a predicted class with
    no labeled item scores +inf. ``h`` (n, d), ``pred_class`` (n,), ``h_labeled`` (m, d),
    ``labeled_class`` (m,). Returns (n,), higher = pick first.

    The axes equal scikit-learn's ``PCA(n_components=variance)`` per class (a test checks the
    scores); the Gram-matrix eigendecomposition here is 2-6x faster on 2,000 x 384 labeled
    embeddings in 10 classes and 3-50x on 200 (``benchmarks/bench_dfm.py``).
    """
    hl = np.asarray(h_labeled, dtype=np.float64)
    out = np.full(len(h), np.inf)
    for c in np.unique(pred_class):
        rows = np.flatnonzero(pred_class == c)
        ref = hl[labeled_class == c]
        if len(ref) == 0:
            continue
        mu = ref.mean(axis=0)
        axes = np.empty((0, hl.shape[1]))
        if len(ref) >= 2:
            var, vt = _principal_axes(ref - mu)
            if var.sum() > 0:
                frac = np.cumsum(var) / var.sum()
                n_comp = int(np.searchsorted(frac, variance - 1e-12) + 1)
                n_comp = max(1, min(n_comp, len(ref) - 1, int((var > 0).sum())))
                axes = vt[:n_comp]
        for r0 in range(0, len(rows), block_rows):  # float64 only one block at a time
            rb = rows[r0:r0 + block_rows]
            diff = np.asarray(h[rb], dtype=np.float64) - mu
            resid = np.einsum("ij,ij->i", diff, diff)
            if len(axes):
                proj = diff @ axes.T
                resid -= np.einsum("ij,ij->i", proj, proj)
            out[rb] = np.maximum(resid, 0.0)
    return out


def badge_residual(p: np.ndarray) -> np.ndarray:
    """BADGE's per-class factor r = p - onehot(argmax p), (n, K) -> (n, K) (Ash et al., in Khosla et
    al. 2022).

    The gradient embedding of the last layer is g = r (x) h (an outer product, K*d values); its
    inner products factorise as <g_i, g_j> = <r_i, r_j> <h_i, h_j>, so it is never built.
    """
    r = np.array(p, dtype=np.float32, copy=True)
    r[np.arange(len(r)), r.argmax(axis=1)] -= 1.0
    return r


def lhd_embedding(outputs: dict) -> np.ndarray:
    """LHD state difference (Khosla et al. 2022, Algorithm 1): lh = |l_ema - l_main| * (h_ema -
    h_main).

    ``outputs`` holds ``proba_main``, ``proba_ema`` (n, K) and ``embed_main``, ``embed_ema`` (n, d)
    from the main and EMA models at the LHD snapshot. y_hat = argmax p_ema; l = cross-entropy
    against y_hat (p clipped at 1e-12). Returns (n, d) float32. Raises LabelwiseError when the EMA
    model's outputs equal the main model's (the EMA never moved away from the weights).
    """
    from labelwise.validation import LabelwiseError

    p_main = np.asarray(outputs["proba_main"])
    p_ema = np.asarray(outputs["proba_ema"])
    h_main = np.asarray(outputs["embed_main"], dtype=np.float32)
    h_ema = np.asarray(outputs["embed_ema"], dtype=np.float32)
    if np.array_equal(p_main, p_ema) and np.array_equal(h_main, h_ema):
        raise LabelwiseError(
            "LHD needs an EMA model that differs from the main model, but their outputs are "
            "identical (was the learner trained?)"
        )
    rows = np.arange(len(p_ema))
    y_hat = p_ema.argmax(axis=1)
    l_ema = -np.log(np.clip(p_ema[rows, y_hat], EPS, 1.0))
    l_main = -np.log(np.clip(p_main[rows, y_hat], EPS, 1.0))
    dl = np.abs(l_ema - l_main).astype(np.float32)
    return dl[:, None] * (h_ema - h_main)
