"""Cluster-Margin's claim (Citovsky et al. 2021): with large batches it matches or beats margin and
BADGE at a fraction of BADGE's query cost.

A setting closer to the paper's than raw pixels: a large pool of pretrained-encoder features
(default: the whole Fashion-MNIST train split, 60,000 images, EfficientNet-Lite0 features), a
logistic regression, a seed set, then a few rounds of large batches, so that k_m is a small share
of the pool. Each (strategy, seed) is one run of the project's simulation
(:func:`labelwise.experiments.simulate.run_one`); Cluster-Margin runs once per k_m / k ratio
(the registry's ``cluster_margin``, plus ``cluster_margin_km<ratio>`` for each ``--km-ratios``,
registered in this process). With ``--jobs N`` the grid goes to the project's grid runner
(:func:`labelwise.experiments.simulate.run_grid`, N spawned workers; ``--store DIR`` keeps
finished runs, so a rerun resumes).

Printed per strategy: final accuracy (mean ± sd over seeds), the area under the learning curve
(accuracy averaged over the labeled-set sizes, trapezoids, normalised to [0, 1]), query seconds of
all rounds (the clustering included), the one-time clustering measured on its own (the same
call the strategy makes, on the same pool), the query time without it, the query time per round
with the clustering amortised over the rounds, and query / BADGE (clustering included). Then one
verdict line: the claim holds when a Cluster-Margin row is within ``--tolerance`` of the better of
margin and BADGE in final accuracy AND in area under the curve, at less query time than BADGE
(clustering included).

``--dev`` runs the same grid on the development set (MNIST-5k pixels, another data set and another
kind of feature), on which the default k_m / k ratio was chosen; the reported setting is never
used to choose anything.

Usage: ``python benchmarks/bench_cluster_margin.py [--dev] [--seeds 3] [--rounds 4]
[--batch 2000] [--seed-size 1000] [--jobs 1] [--store DIR] [--km-ratios 1.25,10]
[--strategies random,margin,badge,cluster_margin]``
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

SETTINGS = {
    # the reported setting
    "report": {"dataset": "fashion-mnist-full", "encoder": "efficientnet-lite0"},
    # where the default k_m / k ratio was chosen
    "dev": {"dataset": "mnist5k", "encoder": None},
}


def ratio_name(ratio: float) -> str:
    return f"cluster_margin_km{ratio:g}"


def register_variants(ratios: list[float]) -> list[str]:
    """One registered strategy per k_m / k ratio: the built-in one with another selector."""
    from labelwise.strategies import registry
    from labelwise.strategies.cluster_margin import cluster_margin_selector

    base = registry.get_strategy("cluster_margin")
    names = []
    for r in ratios:
        name = ratio_name(r)
        registry.STRATEGIES[name] = dataclasses.replace(
            base, name=name, select=registry._none_for_zero(cluster_margin_selector(km_ratio=r)))
        names.append(name)
    return names


def aulc(n_labeled: np.ndarray, acc: np.ndarray) -> float:
    """Area under the learning curve, normalised by the span of labeled-set sizes."""
    order = np.argsort(n_labeled)
    x, y = np.asarray(n_labeled, float)[order], np.asarray(acc, float)[order]
    return float(((y[1:] + y[:-1]) / 2 * np.diff(x)).sum() / (x[-1] - x[0]))


def clustering_seconds(X_pool: np.ndarray) -> float:
    """The one-time clustering exactly as the strategy runs it (default settings), timed."""
    from labelwise.strategies.cluster_margin import pool_clusters

    t = time.perf_counter()
    pool_clusters({}, X_pool)
    return time.perf_counter() - t


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--dev", action="store_true", help="run on the development set instead")
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--rounds", type=int, default=4, help="query rounds (fits: rounds + 1)")
    ap.add_argument("--batch", type=int, default=2000)
    ap.add_argument("--seed-size", type=int, default=1000)
    ap.add_argument("--km-ratios", default="",
                    help="also run Cluster-Margin with these k_m / k ratios (needs --jobs 1)")
    ap.add_argument("--strategies", default="random,margin,badge,cluster_margin")
    ap.add_argument("--jobs", type=int, default=1,
                    help="worker processes (more than 1: no --km-ratios, registry strategies)")
    ap.add_argument("--store", default=None, help="folder to save finished runs (resumable)")
    ap.add_argument("--tolerance", type=float, default=0.005,
                    help="accuracy and AULC within this of the better of margin and BADGE")
    args = ap.parse_args(argv)

    from labelwise.experiments.simulate import RunSpec, _cached_dataset, run_one
    from labelwise.strategies.cluster_margin import KM_RATIO

    setting = SETTINGS["dev" if args.dev else "report"]
    ratios = [float(r) for r in args.km_ratios.split(",") if r]
    if ratios and args.jobs != 1:
        ap.error("--km-ratios registers strategies in this process only: use --jobs 1")
    strategies = [s for s in args.strategies.split(",") if s] + register_variants(ratios)
    t0 = time.perf_counter()
    ds = _cached_dataset(setting["dataset"], (), setting["encoder"])
    load_s = time.perf_counter() - t0
    n = len(ds.y_train)
    print(f"Cluster-Margin claim (Citovsky et al. 2021): {setting['dataset']} "
          f"({'development set' if args.dev else 'reported setting'}), "
          f"{setting['encoder'] or 'raw'} features {ds.X_train.shape[1]}-d, pool {n:,}, test "
          f"{len(ds.y_test):,}, logreg, seed set {args.seed_size:,}, {args.rounds} rounds of "
          f"{args.batch:,} ({args.batch / n:.1%} of the pool), {args.seeds} seeds; "
          f"k_m = ratio x batch, ratios {', '.join(f'{r:g}' for r in [KM_RATIO, *ratios])}: "
          f"{', '.join(f'{r * args.batch:,.0f}' for r in [KM_RATIO, *ratios])} "
          f"({', '.join(f'{r * args.batch / n:.0%}' for r in [KM_RATIO, *ratios])} of the pool); "
          f"data loaded/encoded in {load_s:.0f} s; load average {os.getloadavg()[0]:.1f}",
          flush=True)

    specs = [RunSpec(setting["dataset"], s, "logreg", seed, seed_size=args.seed_size,
                     batch_size=args.batch, rounds=args.rounds, encoder=setting["encoder"])
             for seed in range(args.seeds) for s in strategies]  # seed-major
    runs = {s: [] for s in strategies}
    if args.jobs == 1:  # in this process: the k_m variants registered above exist only here
        for spec in specs:
            t = time.perf_counter()
            rows = run_one(spec)["results"]
            runs[spec.strategy].append(rows)
            print(f"  seed {spec.seed} {spec.strategy:<24} final accuracy "
                  f"{rows[-1]['accuracy']:.3f}  query "
                  f"{sum(r['query_seconds'] for r in rows):6.1f} s  run "
                  f"{time.perf_counter() - t:5.0f} s", flush=True)
    else:  # the project's grid runner: spawned workers, runs saved as they finish (resumable)
        from labelwise.experiments.simulate import run_grid

        results, _ = run_grid(specs, n_jobs=args.jobs, progress=False, store=args.store)
        for (s, _seed), g in results.groupby(["strategy", "seed"], sort=False):
            runs[s].append(g.sort_values("round").to_dict("records"))
    # the one-time clustering on its own, after the runs (same pool, default settings)
    clus = clustering_seconds(ds.X_train)

    def stats(s):
        acc = [r[-1]["accuracy"] for r in runs[s]]
        area = [aulc(np.array([x["n_labeled"] for x in r]), np.array([x["accuracy"] for x in r]))
                for r in runs[s]]
        # query seconds of each query round (the last round only evaluates)
        q = np.array([[x["query_seconds"] for x in r[:args.rounds]] for r in runs[s]])
        # the first query pays the clustering: in-run estimate = first minus the later rounds'
        # mean, and the query time without it = that mean x rounds
        later = q[:, 1:].mean(axis=1) if args.rounds > 1 else q[:, 0]
        return (np.mean(acc), np.std(acc), np.mean(area), np.std(area), q.sum(axis=1).mean(),
                float(np.mean(q[:, 0] - later)), float(np.mean(later * args.rounds)))

    table = {s: stats(s) for s in strategies}
    badge_q = table["badge"][4] if "badge" in table else float("nan")
    print(f"\none-time clustering (HAC on a {min(n, 4000):,}-row sample + nearest-sample "
          f"assignment of {n:,} rows), timed on its own after the runs: {clus:.1f} s; load "
          f"average now {os.getloadavg()[0]:.1f}")
    print(f"{'strategy':<24}{'final accuracy':>17}{'AULC':>16}{'query s':>9}{'clust.':>8}"
          f"{'w/o clust.':>11}{'per round':>10}{'/ BADGE':>9}")
    for s, (m, sd, a, asd, q, first_extra, wo) in table.items():
        cm = s.startswith("cluster_margin")
        print(f"{s:<24}{m:>10.3f} ± {sd:.3f}{a:>9.3f} ± {asd:.3f}{q:>9.1f}"
              f"{(f'{first_extra:.1f}' if cm else '-'):>8}{(wo if cm else q):>11.1f}"
              f"{q / args.rounds:>10.2f}{q / badge_q:>9.2f}")
    print("query s: all query rounds, the clustering included (mean over seeds); clust.: the "
          "first query's excess over the later rounds' mean (the clustering, measured in the "
          "run); w/o clust.: the later rounds' mean x rounds; per round: query s / rounds (the "
          "clustering amortised); / BADGE: query s over BADGE's")
    if "margin" in table and "badge" in table:
        best_acc = max(table["margin"][0], table["badge"][0])
        best_area = max(table["margin"][2], table["badge"][2])
        held = [s for s in table if s.startswith("cluster_margin")
                and table[s][0] >= best_acc - args.tolerance
                and table[s][2] >= best_area - args.tolerance and table[s][4] < badge_q]
        print(f"claim (a Cluster-Margin row within {args.tolerance} of the better of margin and "
              f"BADGE in final accuracy and AULC, at less query time than BADGE, clustering "
              f"included): {'claim holds' if held else 'claim does not hold'}"
              + (f" ({', '.join(held)})" if held else ""))


if __name__ == "__main__":
    main()
