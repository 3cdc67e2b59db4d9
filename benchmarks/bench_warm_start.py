"""What warm start saves: the engine's fit with and without ``warm_start``, round after round.

``--learner logreg`` (the default): a pool of ``--rows`` float32 items in ``--dim`` = 384
dimensions, ``--classes`` overlapping Gaussian classes (centres drawn with scale 0.1, noise of
scale 1.5: the slow logistic-regression fits of ``bench_label_loop.py``), logreg (L-BFGS, C = 1).
Both engines see the same labels: a random seed set of ``--labels`` items, then each round the cold
engine's ``--batch`` margin picks are labeled in both. Per round: each engine's fit CPU seconds
(``time.process_time``, all threads, the best of ``--repeat`` fits of the same labels from the same
start: on the shared machine one fit's time varies by +-50 %), its L-BFGS iterations (exact), and
how many of the warm engine's picks the cold one made too (warm start moves the optimum only within
the solver's tolerance; the picks are not promised equal). The first round has no model to start
from: both fit from scratch.

``--learner mlp`` (or ``ensemble``): scikit-learn's
digits (1,797 x 64, scaled to [0, 1]; the first 1,297 the pool, the last 500 the test set), a
random seed set of ``--labels`` items, ``--batch`` margin picks of the cold engine per round
labeled in every engine. Three engines: fresh fits (the papers' per-round reset), warm fits with
the usual schedule, and warm fits capped at ``--warm-epochs`` (the learner's ``warm_epochs``).
Per round: each fit's CPU seconds (one fit each: torch fits are seeded, so only the clock
varies), its epochs and test accuracy.

Run: ``python benchmarks/bench_warm_start.py [--rows 20000] [--labels 1000] [--rounds 3]``, or
``python benchmarks/bench_warm_start.py --learner mlp [--labels 100] [--batch 50] [--rounds 6]``.
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


def torch_rounds(args) -> None:
    """Fresh vs warm (usual schedule) vs warm (``--warm-epochs``) fits of a torch learner on
    digits, round after round (module docstring)."""
    from sklearn.datasets import load_digits

    from labelwise import ActiveLearner

    X, y = load_digits(return_X_y=True)
    X = (X / 16.0).astype(np.float32)
    pool, test = slice(0, 1297), slice(1297, None)
    Xp, yp = X[pool], y[pool]
    seed = np.random.default_rng(1).choice(len(Xp), args.labels, replace=False)
    extra = {"n_members": 3} if args.learner == "ensemble" else {}
    kinds = {"fresh": dict(warm_start=False, params={}),
             "warm": dict(warm_start=True, params={}),
             f"warm{args.warm_epochs}": dict(warm_start=True,
                                             params={"warm_epochs": args.warm_epochs})}
    engines = {k: ActiveLearner(Xp, args.learner, "margin", classes=10, random_state=0,
                                learner_params=v["params"] | extra, warm_start=v["warm_start"])
               for k, v in kinds.items()}
    for engine in engines.values():
        engine.teach(seed, yp[seed])
    print(f"digits: pool {len(Xp)}, test {len(y[test])}; {args.learner}, margin, {args.batch} "
          "labels per round; CPU s / epochs / test accuracy per fit")
    print(f"{'labels':>7} " + " ".join(f"{k:>22}" for k in engines))
    totals = {k: [0.0, 0, 0.0] for k in engines}  # CPU s, epochs, accuracy (rounds 2..)
    for r in range(args.rounds + 1):
        cells = []
        for name, engine in engines.items():
            t0 = time.process_time()
            engine.fit()
            cpu = time.process_time() - t0
            log = getattr(engine.model, "train_log_", None) or engine.model.train_logs_[0]
            acc = float((engine.model.predict(X[test]) == y[test]).mean())
            cells.append(f"{cpu:>8.2f} {log['epochs']:>4} {acc:>7.1%}")
            if r:
                totals[name] = [totals[name][0] + cpu, totals[name][1] + log["epochs"],
                                totals[name][2] + acc]
        print(f"{engines['fresh'].n_labeled:>7} " + " ".join(cells)
              + ("   (no model to start from yet)" if r == 0 else ""))
        picks = engines["fresh"].query(args.batch, random_state=r)
        for engine in engines.values():
            engine.teach(picks, yp[picks])
    if args.rounds:
        cold = totals["fresh"]
        for name, (cpu, epochs, acc) in totals.items():
            print(f"rounds 2..{args.rounds + 1}, {name}: {cpu:.1f} CPU s ({cpu / cold[0]:.2f}x "
                  f"fresh), {epochs} epochs, mean test accuracy {acc / args.rounds:.1%} "
                  f"({100 * (acc - cold[2]) / args.rounds:+.1f} points vs fresh)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--learner", default="logreg", help="logreg, mlp, ensemble")
    ap.add_argument("--rows", type=int, default=20_000)
    ap.add_argument("--dim", type=int, default=384)
    ap.add_argument("--classes", type=int, default=5)
    ap.add_argument("--labels", type=int, default=None, help="labels before the first round "
                    "(default: 1000 for logreg, 100 for a torch learner)")
    ap.add_argument("--batch", type=int, default=None, help="labels added per round "
                    "(default: 100 for logreg, 50 for a torch learner)")
    ap.add_argument("--rounds", type=int, default=None, help="rounds after the first fit "
                    "(default: 3 for logreg, 6 for a torch learner)")
    ap.add_argument("--repeat", type=int, default=3, help="logreg CPU time: best of this many "
                    "fits")
    ap.add_argument("--warm-epochs", type=int, default=50, help="torch: the shorter warm "
                    "schedule's epoch cap")
    args = ap.parse_args()
    torch_learner = args.learner != "logreg"
    for name, logreg_default, torch_default in [("labels", 1000, 100), ("batch", 100, 50),
                                                 ("rounds", 3, 6)]:
        if getattr(args, name) is None:
            setattr(args, name, torch_default if torch_learner else logreg_default)
    if torch_learner:
        return torch_rounds(args)

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
