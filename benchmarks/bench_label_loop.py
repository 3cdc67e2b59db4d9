"""Time from the last label of a batch to the next batch being ready, for 10,000 and 100,000 items.

Pools of Gaussian clusters with 384-d float32 features (the size of MiniLM embeddings, already
cached: the project reads ``embeddings.npy``), 5 classes, 50 seed labels, batch size 10, the
default learner (logreg) and strategy (margin). Per pool size it reports, median over rounds:

- ``seen``: what the annotator waits: POST of the batch's last label + GET of the next item, over
  HTTP (FastAPI test client). The next batch was prepared ahead, so this is the whole wait.
- ``prepare``: the background work that must fit in the time the annotator spends on one batch:
  retrain on all labels + score the pool + pick the batch + commit (the cross-validated accuracy
  for the chart is computed after the commit and reported apart as ``cv s``).
  This is also the wait when nothing was prepared ahead (targets: < 1 s for 10,000 and < 5 s for
  100,000 on 2 cores).

Run: ``python benchmarks/bench_label_loop.py [--sizes 10000,100000] [--rounds 5]``.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np


def make_pool(n: int, d: int = 384, k: int = 5, seed: int = 0, spread: float = 1.0):
    """(n, d) float32 Gaussian clusters around ``k`` centers drawn with scale ``spread`` (0.1:
    overlapping classes, a slow logistic-regression fit), and their (n,) class names."""
    rng = np.random.default_rng(seed)
    centers = rng.normal(0, spread, (k, d)).astype(np.float32)
    y = rng.integers(0, k, n)
    X = centers[y] + rng.normal(0, 1.5, (n, d)).astype(np.float32)
    return X.astype(np.float32), np.array([f"c{c}" for c in y])


def bench(n: int, rounds: int, root: Path) -> dict:
    from fastapi.testclient import TestClient

    from labelwise.app.create import create_project
    from labelwise.app.server import create_app

    X, y = make_pool(n)
    classes = sorted(set(y.tolist()))
    seeds = np.random.default_rng(1).choice(n, 50, replace=False)
    labels = [None] * n
    for i in seeds:
        labels[i] = y[i]
    t0 = time.perf_counter()
    project = create_project(root / f"p{n}", [f"item{i}" for i in range(n)], X, classes,
                             labels=labels, batch_size=10, prepare=False)
    init_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    project.prepare_next_batch()  # round 1 (the first time loads the embeddings)
    first_s = time.perf_counter() - t0
    prepare, seen, cv_s = [], [], []
    with TestClient(create_app(project, start_worker=False)) as client:
        for _ in range(rounds + 1):
            t0 = time.perf_counter()
            out = project.prepare_next_batch()  # the batch after this one, prepared ahead
            ready = time.perf_counter() - t0
            # the batch is committed before the accuracy estimate for the chart is computed
            cv_s.append(out["cv_seconds"])
            prepare.append(ready - out["cv_seconds"])
            current = project.progress()["round"]
            while True:
                item = client.get("/api/next", params={"annotator": "a"}).json()["item"]
                if item["round"] != current:
                    raise RuntimeError("batch changed early")
                last = project.progress()["batch_done"] == project.progress()["batch_size"] - 1
                t0 = time.perf_counter()
                r = client.post("/api/label", json={"item": item["idx"], "label": y[item["idx"]],
                                                    "annotator": "a"})
                r.raise_for_status()
                if last:
                    nxt = client.get("/api/next", params={"annotator": "a"}).json()
                    seen.append(time.perf_counter() - t0)
                    assert nxt["item"]["round"] == current + 1
                    break
    cv = project.progress()["history"][-1]["cv_accuracy"]
    return {"n": n, "init_s": init_s, "first_prepare_s": first_s,
            "prepare_s": statistics.median(prepare[1:]), "prepare_max_s": max(prepare[1:]),
            "seen_s": statistics.median(seen), "cv_accuracy": cv,
            "cv_s": statistics.median(cv_s[1:]),
            "labels": project.progress()["n_labels"]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", default="10000,100000")
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args()
    targets = {10_000: 1.0, 100_000: 5.0}
    print(f"{'pool':>8} {'init s':>7} {'prepare s (median/max)':>23} {'seen by annotator s':>20}"
          f" {'target s':>8} {'ratio':>6} {'cv acc':>7} {'cv s':>6}")
    with tempfile.TemporaryDirectory() as tmp:
        for n in (int(s) for s in args.sizes.split(",")):
            r = bench(n, args.rounds, Path(tmp))
            target = targets.get(n, float("nan"))
            print(f"{n:>8} {r['init_s']:>7.2f} {r['prepare_s']:>12.3f} / {r['prepare_max_s']:<8.3f}"
                  f" {r['seen_s']:>20.4f} {target:>8.1f} {r['prepare_s'] / target:>6.2f}"
                  f" {r['cv_accuracy'] if r['cv_accuracy'] is not None else float('nan'):>7.3f}"
                  f" {r['cv_s']:>6.2f}")


if __name__ == "__main__":
    main()
