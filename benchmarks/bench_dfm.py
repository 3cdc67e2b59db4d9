"""DFM scores (Krishnan et al. 2021, eq. 3): labelwise's class-conditional PCA vs scikit-learn's.

labelwise's :func:`~labelwise.strategies.scores.dfm` fits each class's principal axes by an
eigendecomposition of the smaller Gram matrix; the alternative is ``sklearn.decomposition.PCA``
with ``n_components=0.97`` (the same "fewest components reaching 97% of the variance", at most
n_c - 1). Both score the same candidates; the script prints the largest score difference
(relative to the largest score) and the median time of each, with the ratio.

Data: labeled embeddings (m, 384) float32 in 10 classes (a 16-dimensional Gaussian per class
plus small isotropic noise, like encoder embeddings) and a pool of candidates (n, 384).

Run: ``python benchmarks/bench_dfm.py [--labeled 2000] [--pool 2000] [--repeats 5]``.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from labelwise.strategies.scores import dfm


def embeddings(n: int, d: int, k: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """(n, d) float32 points of ``k`` classes, each on its own 16 directions plus noise."""
    y = rng.integers(0, k, n)
    centres = rng.normal(size=(k, d)) * 2
    bases = rng.normal(size=(k, 16, d)) / np.sqrt(d)
    X = centres[y] + np.einsum("nj,njd->nd", rng.normal(size=(n, 16)) * 3, bases[y])
    return (X + 0.1 * rng.normal(size=(n, d))).astype(np.float32), y


def dfm_sklearn(h, pred_class, h_labeled, labeled_class, variance: float = 0.97,
                solver: str = "full") -> np.ndarray:
    """The same score with scikit-learn's PCA (``svd_solver=solver``) fitting each class's axes."""
    from sklearn.decomposition import PCA

    hl = np.asarray(h_labeled, dtype=np.float64)
    out = np.full(len(h), np.inf)
    for c in np.unique(pred_class):
        rows = np.flatnonzero(pred_class == c)
        ref = hl[labeled_class == c]
        if len(ref) == 0:
            continue
        mu, axes = ref.mean(axis=0), np.empty((0, hl.shape[1]))
        if len(ref) >= 2:
            pca = PCA(n_components=variance, svd_solver=solver).fit(ref)
            axes = pca.components_[:len(ref) - 1]
        diff = np.asarray(h[rows], dtype=np.float64) - mu
        proj = diff @ axes.T
        out[rows] = np.maximum(np.einsum("ij,ij->i", diff, diff)
                               - np.einsum("ij,ij->i", proj, proj), 0.0)
    return out


def timed(fn, repeats: int) -> tuple[float, np.ndarray]:
    times, out = [], None
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return float(np.median(times)), out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--labeled", type=int, default=2000)
    ap.add_argument("--pool", type=int, default=2000)
    ap.add_argument("--dim", type=int, default=384)
    ap.add_argument("--classes", type=int, default=10)
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    hl, yl = embeddings(args.labeled, args.dim, args.classes, rng)
    h, pred = embeddings(args.pool, args.dim, args.classes, rng)
    t_ours, s_ours = timed(lambda: dfm(h, pred, hl, yl), args.repeats)
    print(f"labeled {args.labeled} x {args.dim}, pool {args.pool}, {args.classes} classes, "
          f"median of {args.repeats}")
    print(f"  labelwise (Gram eigh)               {t_ours * 1e3:8.1f} ms")
    # "covariance_eigh" (scikit-learn >= 1.5) is its own Gram-matrix path
    for solver in ("full", "covariance_eigh"):
        try:
            t_skl, s_skl = timed(lambda s=solver: dfm_sklearn(h, pred, hl, yl, solver=s),
                                 args.repeats)
        except ValueError as exc:  # an older scikit-learn without that solver
            print(f"  scikit-learn PCA {solver}: not available ({exc})")
            continue
        diff = np.max(np.abs(s_ours - s_skl)) / np.max(np.abs(s_ours))
        print(f"  scikit-learn PCA {solver:<16}   {t_skl * 1e3:8.1f} ms   ratio "
              f"{t_skl / t_ours:.2f}x; max |score difference| / max score {diff:.1e}")


if __name__ == "__main__":
    main()
