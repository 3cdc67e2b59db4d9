"""What one active-learning round costs: the engine against the plain scikit-learn round and a
modAL-style loop, in the same run, as ratios.

Each contender does the same round on a synthetic pool of float32 features (10 overlapping
classes in ``--dim`` = 384 dimensions, labels from a planted linear model with noise), 1,000
labeled items, margin sampling, k = 1,000, logistic regression (L-BFGS, C = 1, 500 iterations):

* ``plain``: ``LogisticRegression.fit`` on the labeled rows, ``predict_proba`` on the unlabeled
  rows (``X[unlabeled]``, as a user writes it), margin, top k (``argpartition``);
* ``modal``: modAL's ``ActiveLearner`` with ``margin_sampling`` (its ``fit`` and its ``query`` on
  ``X[unlabeled]``), when modAL is installed (``pip install modAL-python``); otherwise the same
  loop written inline (the table says which);
* ``engine``: :class:`labelwise.ActiveLearner` (``fit``, ``query``, ``step`` = fit + query).

For each: ``fit``, ``query`` and ``step`` CPU seconds (``time.process_time``, all threads; the
best of ``--repeat`` runs, without tracemalloc) and peak memory (tracemalloc's peak above what was
allocated before the call: what the call itself allocates, numpy's arrays included), and the
engine's ratios to ``plain`` and ``modal``. The pool of ``--mmap-from`` rows or more (default:
1,000,000) is written to a .npy in a temporary folder and memory-mapped, and the table gives the
engine's query peak as a share of the pool's bytes (target: <= 25 %). Targets at 100,000 rows:
engine query and step <= 1.0x plain in CPU and peak (never above 1.3x).

Run: ``python benchmarks/bench_round.py [--rows 100000,1000000] [--repeat 2]
[--modal-max-rows 100000]`` (modAL at 1,000,000 rows holds a float64 copy of the pool: 4.6 GB;
it runs only up to ``--modal-max-rows``). Works against any checkout of labelwise on
``PYTHONPATH``, so the same command measures the code before and after a change.
"""

from __future__ import annotations

import argparse
import gc
import tempfile
import time
import tracemalloc
import warnings
from pathlib import Path

import numpy as np

K_CLASSES = 10


def make_pool(n: int, d: int, path: Path | None, seed: int = 0):
    """(n, d) float32 features and (n,) labels; written to ``path`` (.npy) and memory-mapped
    when given, built in blocks so that no float64 copy is ever made."""
    rng = np.random.default_rng(seed)
    W = rng.normal(size=(d, K_CLASSES)).astype(np.float32) / np.sqrt(d)
    if path is not None:
        X = np.lib.format.open_memmap(path, mode="w+", dtype=np.float32, shape=(n, d))
    else:
        X = np.empty((n, d), dtype=np.float32)
    y = np.empty(n, dtype=np.int64)
    for i in range(0, n, 50_000):
        j = min(n, i + 50_000)
        X[i:j] = rng.standard_normal((j - i, d), dtype=np.float32)
        noise = rng.gumbel(size=(j - i, K_CLASSES)).astype(np.float32)
        y[i:j] = (3.0 * (X[i:j] @ W) + noise).argmax(axis=1)
    if path is not None:
        X.flush()
        del X
        X = np.load(path, mmap_mode="r")
    return X, y


def measure(fn, repeat: int):
    """(best CPU seconds over ``repeat`` runs, tracemalloc peak bytes of one more run)."""
    best = np.inf
    for _ in range(repeat):
        gc.collect()
        t0 = time.process_time()
        fn()
        best = min(best, time.process_time() - t0)
    gc.collect()
    tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0]
    fn()
    peak = tracemalloc.get_traced_memory()[1] - base
    tracemalloc.stop()
    return best, peak


def fit_logreg(X, y, labeled):
    """The plain round's fit: scikit-learn's logistic regression on the labeled rows."""
    from sklearn.linear_model import LogisticRegression

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return LogisticRegression(C=1.0, max_iter=500).fit(X[labeled], y[labeled])


def unlabeled_rows(n, labeled):
    mask = np.ones(n, dtype=bool)
    mask[labeled] = False
    return np.flatnonzero(mask)


def plain_round(X, y, labeled, k):
    """The user's own scikit-learn round: fit, predict_proba on X[unlabeled], margin, top k."""
    state = {}

    def fit():
        state["clf"] = fit_logreg(X, y, labeled)

    def query():
        unlabeled = unlabeled_rows(len(X), labeled)
        p = state["clf"].predict_proba(X[unlabeled])
        top2 = np.partition(p, p.shape[1] - 2, axis=1)[:, -2:]
        margin = top2[:, 1] - top2[:, 0]
        return unlabeled[np.argpartition(margin, k)[:k]]

    def step():
        fit()
        return query()

    return fit, query, step


def modal_round(X, y, labeled, k):
    """modAL's ActiveLearner with margin sampling (or the same loop inline without modAL)."""
    from sklearn.linear_model import LogisticRegression

    try:
        from modAL.models import ActiveLearner as ModalLearner
        from modAL.uncertainty import margin_sampling
    except ImportError:
        return None, "inline"
    state = {}

    def fit():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            state["al"] = ModalLearner(LogisticRegression(C=1.0, max_iter=500), margin_sampling,
                                       X_training=X[labeled], y_training=y[labeled])

    def query():
        unlabeled = unlabeled_rows(len(X), labeled)
        idx, _ = state["al"].query(X[unlabeled], n_instances=k)
        return unlabeled[idx]

    def step():
        fit()
        return query()

    return (fit, query, step), "modAL"


def inline_modal_round(X, y, labeled, k):
    """modAL's loop written out (without modAL installed): the plain round's fit, then margin
    over the whole unlabeled copy and a full argsort (modAL's ``multi_argmax``)."""
    from labelwise.strategies.scores import margin as margin_score

    holder = {}

    def fit_():
        holder["clf"] = fit_logreg(X, y, labeled)

    def query():
        unlabeled = unlabeled_rows(len(X), labeled)
        m = margin_score(holder["clf"].predict_proba(X[unlabeled]))
        return unlabeled[np.argsort(m)[:k]]

    def step():
        fit_()
        return query()

    return fit_, query, step


def engine_round(X, y, labeled, k):
    from labelwise import ActiveLearner

    engine = ActiveLearner(X, "logreg", "margin", classes=K_CLASSES, random_state=0,
                           labeled_idx=labeled, labels=y[labeled])
    engine.fit()  # so that query alone has a model to read

    def fit():
        engine.fit()

    def query():
        return engine.query(k, random_state=0)

    def step():
        return engine.step(k, random_state=0)

    return fit, query, step


def run_size(n: int, args, tmp: Path) -> None:
    mmap = n >= args.mmap_from
    X, y = make_pool(n, args.dim, tmp / f"pool_{n}.npy" if mmap else None)
    pool_bytes = n * args.dim * 4
    labeled = np.sort(np.random.default_rng(1).choice(n, args.labels, replace=False))
    rounds = {"plain": plain_round(X, y, labeled, args.k)}
    modal_kind = "skipped (rows > --modal-max-rows)"
    if n <= args.modal_max_rows:
        fns, modal_kind = modal_round(X, y, labeled, args.k)
        rounds["modal"] = fns if fns is not None else inline_modal_round(X, y, labeled, args.k)
    rounds["engine"] = engine_round(X, y, labeled, args.k)
    print(f"\n== {n:,} x {args.dim} float32 ({pool_bytes / 2**20:,.0f} MiB"
          f"{', memory-mapped .npy' if mmap else ''}), {args.labels:,} labels, k = {args.k:,}; "
          f"modal = {modal_kind}")
    res = {}
    for name, (fit, query, step) in rounds.items():
        res[name] = {op: measure(fn, args.repeat) for op, fn in
                     (("fit", fit), ("query", query), ("step", step))}
    print(f"{'':8} {'fit s':>7} {'query s':>8} {'step s':>7} {'fit MiB':>8} {'query MiB':>10} "
          f"{'step MiB':>9}")
    for name, r in res.items():
        print(f"{name:8} {r['fit'][0]:7.2f} {r['query'][0]:8.2f} {r['step'][0]:7.2f} "
              f"{r['fit'][1] / 2**20:8.1f} {r['query'][1] / 2**20:10.1f} "
              f"{r['step'][1] / 2**20:9.1f}")
    eng = res["engine"]
    for base in [b for b in ("plain", "modal") if b in res]:
        ratios = "  ".join(
            f"{op} {eng[op][0] / max(res[base][op][0], 1e-9):.2f}x CPU "
            f"{eng[op][1] / max(res[base][op][1], 1):.2f}x peak" for op in ("query", "step"))
        print(f"engine / {base}: {ratios}")
    print(f"engine query peak: {eng['query'][1] / pool_bytes:.1%} of the pool's bytes "
          "(target <= 25%)")
    del X, rounds
    gc.collect()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", default="100000,1000000", help="comma-separated pool sizes")
    ap.add_argument("--dim", type=int, default=384)
    ap.add_argument("--labels", type=int, default=1000)
    ap.add_argument("--k", type=int, default=1000)
    ap.add_argument("--repeat", type=int, default=2, help="CPU time: best of this many runs")
    ap.add_argument("--mmap-from", type=int, default=1_000_000,
                    help="memory-map pools of at least this many rows")
    ap.add_argument("--modal-max-rows", type=int, default=100_000)
    args = ap.parse_args()
    import labelwise

    print(f"labelwise from {Path(labelwise.__file__).parent}")
    with tempfile.TemporaryDirectory() as tmp:
        for n in (int(r) for r in args.rows.split(",")):
            run_size(n, args, Path(tmp))


if __name__ == "__main__":
    main()
