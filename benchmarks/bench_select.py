"""Query time and peak memory of every strategy, and the fast exact selectors vs their plain loops.

Everything is synthetic and fed to the strategies as arrays (a stub learner and a
SelectionContext whose model outputs are precomputed), so the numbers are scoring + selection
only (the papers' "query time"):

1. every strategy on a pool of 100,000 x 384 float32 (a 50-component mixture of 16-dimensional
   Gaussians plus small isotropic noise, like encoder embeddings; ``--data isotropic`` for
   full-dimensional noise, the worst case for the pruning in k-means++), 1,000 labeled,
   K = 10, picking 1,000: seconds, ratio to entropy, and
   tracemalloc peak as a multiple of the pool's features;
2. k-center greedy and k-means++ seeding, fast vs plain (same picks checked), at n = 20,000 /
   100,000 / 1,000,000 (``--sizes`` to choose others, ``--skip-1m`` to leave 1,000,000 out),
   d = 384, b = 1,000;
3. BALD and variation ratio on (T = 10, 1,000,000, 10) float32;
4. scikit-activeml / small-text on the same arrays where importable (skipped cleanly if not).

Run: ``python benchmarks/bench_select.py [--skip-1m] [--sizes 20000,100000] [--n 100000]
[--only table,selectors,bald]``.
"""

from __future__ import annotations

import argparse
import time
import tracemalloc

import numpy as np

from labelwise.strategies import STRATEGIES, SelectionContext
from labelwise.strategies import kmeanspp as KPP
from labelwise.strategies import selectors as S
from labelwise.strategies.scores import bald, entropy, variation_ratio

DATA = {"kind": "lowdim"}


def mixture(n: int, d: int, n_comp: int = 50, seed: int = 0) -> np.ndarray:
    """(n, d) float32 points from a mixture of ``n_comp`` components.

    ``lowdim`` (default, like encoder embeddings): each component varies along its own 16
    directions plus isotropic noise of standard deviation 0.1; ``isotropic`` (the worst case for
    pruning): unit-variance Gaussian noise in all d directions around centres of scale 1.5.
    """
    rng = np.random.default_rng(seed)
    comp = rng.integers(n_comp, size=n)
    if DATA["kind"] == "isotropic":
        centres = rng.normal(size=(n_comp, d)).astype(np.float32) * 1.5
        X = rng.standard_normal((n, d), dtype=np.float32)
        X += centres[comp]
        return X
    centres = rng.normal(size=(n_comp, d)).astype(np.float32)
    bases = rng.normal(size=(n_comp, 16, d)).astype(np.float32) / 4.0
    X = rng.standard_normal((n, d), dtype=np.float32)
    X *= 0.1
    X += centres[comp]
    for c in range(n_comp):
        rows = np.flatnonzero(comp == c)
        X[rows] += rng.standard_normal((len(rows), 16), dtype=np.float32) @ bases[c]
    return X


def softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=1, keepdims=True)
    np.exp(z, out=z)
    z /= z.sum(axis=1, keepdims=True)
    return z


class StubLearner:
    def __init__(self, K: int):
        self.classes_ = np.arange(K)

    def encode(self, y):
        return np.asarray(y)


def synthetic_outputs(X: np.ndarray, XL: np.ndarray, K: int = 10, T: int = 10, seed: int = 0):
    """Model outputs a trained network might give: probabilities, T samples, EMA outputs, loss."""
    rng = np.random.default_rng(seed)
    W = rng.normal(size=(X.shape[1], K)).astype(np.float32) / np.sqrt(X.shape[1]) * 3
    logits = X @ W
    p = softmax(logits.copy())
    prev = softmax(logits + rng.normal(size=logits.shape).astype(np.float32))
    samples = np.stack([softmax(logits + rng.normal(size=logits.shape).astype(np.float32))
                        for _ in range(T)])
    hd = 128
    V = rng.normal(size=(X.shape[1], hd)).astype(np.float32) / np.sqrt(X.shape[1])
    h = np.tanh(X @ V)
    ema = dict(proba_main=p, embed_main=h, proba_ema=softmax(logits * 0.9),
               embed_ema=h * 0.95 + 0.01)
    yl = (XL @ W).argmax(axis=1)
    return dict(proba=p, previous_proba=prev, samples=samples, ema_outputs=ema,
                predicted_loss=-np.log(p.max(axis=1)), labeled_class_idx=yl)


def make_ctx(X, XL, out, seed=0) -> SelectionContext:
    ctx = SelectionContext(StubLearner(out["proba"].shape[1]), X, XL, out["labeled_class_idx"],
                           previous_learner=None, random_state=seed)
    for key, value in out.items():
        setattr(ctx, key, value)
    ctx.embedding = X
    ctx.labeled_embedding = XL
    return ctx


def strategy_table(n: int, d: int = 384, m: int = 1000, k: int = 1000) -> None:
    print(f"\n== every strategy: pool {n:,} x {d} float32, {m:,} labeled, picking {k:,} ==")
    X = mixture(n + m, d)
    XL, X = X[:m], X[m:]
    out = synthetic_outputs(X, XL)
    pool_mb = X.nbytes / 2**20
    print(f"pool features: {pool_mb:.0f} MiB")
    rows = []
    names = [s for s in STRATEGIES if not s.endswith("+ft")]
    for name in names:
        strat = STRATEGIES[name]
        t0 = time.perf_counter()
        picks = strat.select(make_ctx(X, XL, out), k)
        secs = time.perf_counter() - t0
        assert len(np.unique(picks)) == k
        tracemalloc.start()
        strat.select(make_ctx(X, XL, out), k)
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        rows.append((name, secs, peak / 2**20))
        print(f"  {name:18s} {secs:8.3f} s   peak {peak / 2**20:7.1f} MiB", flush=True)
    ent = dict((r[0], r[1]) for r in rows)["entropy"]
    print(f"\n{'strategy':18s} {'seconds':>9s} {'x entropy':>10s} {'peak MiB':>9s} "
          f"{'peak/pool':>9s}")
    for name, secs, peak in rows:
        print(f"{name:18s} {secs:9.3f} {secs / ent:10.1f} {peak:9.1f} {peak / pool_mb:9.2f}")


def selectors_vs_plain(sizes, d: int = 384, k: int = 1000, plain_max: int | None = None) -> None:
    print(f"\n== fast vs plain selectors: d = {d}, b = {k:,}, no labeled set ==")
    print("(the fast k-means++ builds its clusters on a second core while its first picks run)")
    print(f"{'selector':10s} {'n':>10s} {'fast s':>8s} {'plain s':>8s} {'speed-up':>8s} same")
    for n in sizes:
        X = mixture(n, d, seed=1)
        for label, fast, plain in [
            ("kcenter", S.kcenter_greedy, S.kcenter_greedy_plain),
            ("kmeans++", KPP.kmeanspp_seeding, KPP.kmeanspp_seeding_plain),
        ]:
            extra = (None,) if label == "kcenter" else ()
            t0 = time.perf_counter()
            a = fast(X, k, *extra, np.random.default_rng(0))
            tf = time.perf_counter() - t0
            if plain_max is None or n <= plain_max:
                t0 = time.perf_counter()
                b = plain(X, k, *extra, np.random.default_rng(0))
                tp = time.perf_counter() - t0
                same = "yes" if (a == b).all() else _parting(X, a, b, label)
                print(f"{label:10s} {n:10,d} {tf:8.2f} {tp:8.2f} {tp / tf:8.1f} {same}",
                      flush=True)
            else:
                print(f"{label:10s} {n:10,d} {tf:8.2f} {'-':>8s} {'-':>8s} -", flush=True)


def _parting(X: np.ndarray, a: np.ndarray, b: np.ndarray, label: str) -> str:
    """Where fast picks ``a`` and plain picks ``b`` part; for k-center, also how far apart the two
    candidates' true (float64) distances to the earlier picks are (a rounding tie is ~1e-7)."""
    j = int(np.argmax(a != b))
    if label != "kcenter" or j == 0:
        return f"from pick {j}"
    ref = X[a[:j]].astype(np.float64)
    da, db = (((ref - X[i].astype(np.float64)) ** 2).sum(1).min() for i in (a[j], b[j]))
    return f"from pick {j} (tie: distances {abs(da - db) / max(da, db):.0e} apart)"


def bald_timing(n: int = 1_000_000, T: int = 10, K: int = 10) -> None:
    print(f"\n== BALD / variation ratio on ({T}, {n:,}, {K}) float32 ==")
    rng = np.random.default_rng(0)
    s = rng.random((T, n, K), dtype=np.float32)
    s /= s.sum(axis=2, keepdims=True)
    t0 = time.perf_counter()
    bald(s)
    tb = time.perf_counter() - t0
    t0 = time.perf_counter()
    naive_mean = s.mean(0)
    (-(naive_mean * np.log(np.clip(naive_mean, 1e-12, 1))).sum(1)
     + (s * np.log(np.clip(s, 1e-12, 1))).sum(2).mean(0))
    tn = time.perf_counter() - t0
    t0 = time.perf_counter()
    variation_ratio(s)
    tv = time.perf_counter() - t0
    print(f"bald {tb:.2f} s (plain numpy expression {tn:.2f} s); variation ratio {tv:.2f} s")


def _time(fn, *args, **kwargs):
    t0 = time.perf_counter()
    out = fn(*args, **kwargs)
    return time.perf_counter() - t0, out


def other_libraries(n: int = 20000, d: int = 384, k: int = 100) -> None:
    """The same computation in scikit-activeml and small-text, where installed (optional)."""
    print("\n== other libraries on the same arrays ==")
    X = mixture(n, d, seed=2)
    labeled, unl = np.arange(100), np.arange(100, n)
    t_lw, lw_picks = _time(S.kcenter_greedy, X[unl], k, X[labeled])
    rng = np.random.default_rng(0)
    P = rng.dirichlet(np.ones(10), size=100_000)
    t_ent, _ = _time(entropy, P)
    try:
        from skactiveml.pool import uncertainty_scores
        from skactiveml.pool._core_set import k_greedy_center
    except ImportError:
        print("scikit-activeml: not installed (skipped)")
    else:
        y = np.full(n, np.nan)
        y[labeled] = 0
        t_sk, sk_picks = _time(k_greedy_center, X, y, batch_size=k, random_state=0)
        sk_picks = np.asarray(sk_picks[0] if isinstance(sk_picks, tuple) else sk_picks)
        same = np.array_equal(sk_picks, unl[lw_picks])
        print(f"scikit-activeml k_greedy_center {t_sk:.2f} s, labelwise kcenter_greedy "
              f"{t_lw:.2f} s (n = {n:,}, b = {k}): labelwise {t_sk / t_lw:.1f}x faster; "
              f"same picks: {same}")
        t_sk, _ = _time(uncertainty_scores, P, method="entropy")
        print(f"scikit-activeml entropy scores {t_sk:.3f} s, labelwise {t_ent:.3f} s "
              f"(n = 100,000, K = 10): labelwise {t_sk / t_ent:.1f}x faster")
    try:
        from small_text.query_strategies.coresets import greedy_coreset
    except ImportError:
        print("small-text: not installed (skipped)")
        return
    t_st, _ = _time(greedy_coreset, X, unl, labeled, k, normalized=False)
    print(f"small-text greedy_coreset {t_st:.2f} s, labelwise kcenter_greedy {t_lw:.2f} s "
          f"(n = {n:,}, b = {k}): labelwise {t_st / t_lw:.1f}x faster")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=100_000, help="pool size of the strategy table")
    ap.add_argument("--skip-1m", action="store_true", help="leave n = 1,000,000 out")
    ap.add_argument("--sizes", default="20000,100000,1000000",
                    help="comma-separated pool sizes of the fast vs plain selectors")
    ap.add_argument("--plain-max", type=int, default=None,
                    help="run the plain selectors only up to this n")
    ap.add_argument("--data", choices=["lowdim", "isotropic"], default="lowdim",
                    help="synthetic pool: low intrinsic dimension (default) or isotropic noise")
    ap.add_argument("--threads", type=int, default=1,
                    help="BLAS threads for the whole run (the fast selectors' per-pick loops "
                         "always use 1)")
    ap.add_argument("--only", default="table,selectors,bald,others",
                    help="comma-separated parts to run")
    args = ap.parse_args()
    parts = set(args.only.split(","))
    DATA["kind"] = args.data
    print(f"synthetic data: {args.data}; BLAS threads: {args.threads}")
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=args.threads, user_api="blas")
    if "table" in parts:
        strategy_table(args.n)
    if "selectors" in parts:
        sizes = [int(v) for v in args.sizes.split(",")]
        sizes = [v for v in sizes if not (args.skip_1m and v >= 1_000_000)]
        selectors_vs_plain(sizes, plain_max=args.plain_max)
    if "bald" in parts:
        bald_timing()
    if "others" in parts:
        other_libraries()


if __name__ == "__main__":
    main()
