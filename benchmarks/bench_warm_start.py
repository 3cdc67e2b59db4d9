"""What warm start saves: the engine's fit with and without ``warm_start``, round after round.

A pool of ``--rows`` float32 items in ``--dim`` = 384 dimensions, ``--classes`` overlapping
Gaussian classes (centres drawn with scale 0.1, noise of scale 1.5: the slow logistic-regression
fits of ``bench_label_loop.py``), logreg (L-BFGS, C = 1). Both engines see the same labels: a
random seed set of ``--labels`` items, then each round the cold engine's ``--batch`` margin
picks are labeled in both. Per round: each engine's fit CPU seconds (``time.process_time``, all
threads, the best of ``--repeat`` fits of the same labels from the same start: on the shared
machine one fit's time varies by +-50 %), its L-BFGS iterations (exact), and how many of the
warm engine's picks the cold one made too (warm start moves the optimum only within the
solver's tolerance; the picks are not promised equal). The first round has no model to start
from: both fit from scratch.

Run: ``python benchmarks/bench_warm_start.py [--rows 20000] [--labels 1000] [--rounds 3]``.
"""

from __future__ import annotations

import argparse
import time

import numpy as np


def make_pool(n: int, d: int, k: int, seed: int = 0):
    """(n, d) float32 features of ``k`` overlapping Gaussian classes and their (n,) labels."""
    rng = np.random.default_rng(seed)
    centers = rng.normal(0, 0.1, (k, d)).astype(np.float32)
    y = rng.integers(0, k, n)
    X = centers[y] + rng.normal(0, 1.5, (n, d)).astype(np.float32)
    return X, y


def best_fit(engine, repeat: int):
    """The engine's next model (what ``fit`` trains: a clone of its template on the labeled rows
    in pool order, from last round's model when ``warm_start``) and the best CPU time of
    ``repeat`` such fits."""
    order = np.argsort(engine.labeled_idx, kind="stable")
    X_l, y_l = engine.X_pool[engine.labeled_idx[order]], engine.labels[order]
    best = np.inf
    for _ in range(repeat):
        t0 = time.process_time()
        if engine.warm_start and engine.model is not None:
            model = engine.template.clone().warm_fit(X_l, y_l, engine.model)
        else:
            model = engine.template.clone().fit(X_l, y_l)
        best = min(best, time.process_time() - t0)
    return model, best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=20_000)
    ap.add_argument("--dim", type=int, default=384)
    ap.add_argument("--classes", type=int, default=5)
    ap.add_argument("--labels", type=int, default=1000, help="labels before the first round")
    ap.add_argument("--batch", type=int, default=100, help="labels added per round")
    ap.add_argument("--rounds", type=int, default=3, help="rounds after the first fit")
    ap.add_argument("--repeat", type=int, default=3, help="CPU time: best of this many fits")
    args = ap.parse_args()

    from labelwise import ActiveLearner

    X, y = make_pool(args.rows, args.dim, args.classes)
    seed = np.random.default_rng(1).choice(args.rows, args.labels, replace=False)
    engines = {warm: ActiveLearner(X, "logreg", "margin", classes=args.classes,
                                   random_state=0, warm_start=warm) for warm in (False, True)}
    for engine in engines.values():
        engine.teach(seed, y[seed])
    print(f"{args.rows:,} x {args.dim} float32, {args.classes} overlapping classes; logreg, "
          f"margin, {args.batch} labels per round")
    print(f"{'labels':>7} {'cold fit s':>10} {'iters':>6} {'warm fit s':>10} {'iters':>6} "
          f"{'warm/cold':>9} {'same picks':>10}")
    totals = {False: 0.0, True: 0.0}
    iterations = {False: 0, True: 0}
    for r in range(args.rounds + 1):
        row, picks = {}, {}
        for warm, engine in engines.items():
            model, row[warm] = best_fit(engine, args.repeat)
            engine.previous_model, engine.model = engine.model, model  # what fit() does
            picks[warm] = engine.query(args.batch, random_state=r)
            if r:  # the first round fits both from scratch: not counted
                totals[warm] += row[warm]
        same = len(np.intersect1d(picks[False], picks[True])) / args.batch
        iters = {w: int(e.model.estimator_.n_iter_[0]) for w, e in engines.items()}
        for warm in engines:
            iterations[warm] += iters[warm] if r else 0
        print(f"{engines[False].n_labeled:>7} {row[False]:>10.2f} {iters[False]:>6} "
              f"{row[True]:>10.2f} {iters[True]:>6} {row[True] / row[False]:>8.2f}x "
              f"{same:>9.0%}" + ("   (no model to start from yet)" if r == 0 else ""))
        for engine in engines.values():
            engine.teach(picks[False], y[picks[False]])
    if args.rounds:
        print(f"rounds 2..{args.rounds + 1}: warm start fits in "
              f"{totals[True] / totals[False]:.2f}x the cold fits' CPU time "
              f"({totals[True]:.1f} s vs {totals[False]:.1f} s) and "
              f"{iterations[True] / iterations[False]:.2f}x their L-BFGS iterations "
              f"({iterations[True]} vs {iterations[False]})")


if __name__ == "__main__":
    main()
