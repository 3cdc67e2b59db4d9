"""What the stopping monitor costs a simulated run: CPU seconds of whole runs of
``run_active_learning`` with the monitor off (a baseline patched in for this script), with the
default monitor (stop-set predictions and the picks' probabilities, no extra fit), and with the
5-fold cross-validated accuracy the accuracy plateau reads (``stopping_cv=True``: 5 more fits a
round), in the same process, one after the other, repeats interleaved.

Run: ``python benchmarks/bench_stopping.py [--data digits|mnist5k] [--learner logreg]
[--rounds 20] [--repeats 3]``. Prints CPU seconds per configuration (best of ``--repeats``) and
the ratio to the baseline; the goal for the default monitor is <= 1.1x (never above 1.3x). One
thread for BLAS/OpenMP, so that CPU seconds measure the work.
"""

from __future__ import annotations

import argparse
import os
import time

for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(var, "1")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", default="digits")
    ap.add_argument("--learner", default="logreg")
    ap.add_argument("--rounds", type=int, default=20)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()

    from labelwise import loop
    from labelwise.data import load_dataset

    ds = load_dataset(args.data)
    real_update = loop._Stopper.update

    def once(cv: bool) -> float:
        t = time.process_time()
        loop.run_active_learning(ds.X_train, ds.y_train, ds.X_test, ds.y_test,
                                 strategy="margin", learner=args.learner, seed_size=20,
                                 batch_size=10, rounds=args.rounds, random_state=0,
                                 stopping_cv=cv)
        return time.process_time() - t

    def off() -> float:
        loop._Stopper.update = lambda self, picks: ({}, 0.0)  # the baseline: no monitor at all
        try:
            return once(False)
        finally:
            loop._Stopper.update = real_update

    configs = {"no stopping (baseline)": off, "default monitor": lambda: once(False),
               "monitor + 5-fold CV accuracy": lambda: once(True)}
    best = dict.fromkeys(configs, float("inf"))
    for _ in range(args.repeats):  # interleaved, so a noisy neighbour hits every configuration
        for name, fn in configs.items():
            best[name] = min(best[name], fn())
    base = best["no stopping (baseline)"]
    print(f"{args.data} ({len(ds.y_train)} pool), {args.learner}, margin, 20 + "
          f"{args.rounds} x 10 labels; CPU seconds per run, best of {args.repeats}")
    for name, sec in best.items():
        print(f"  {name:<30} {sec:7.2f} s   {sec / base:5.2f}x")
    ratio = best["default monitor"] / base
    verdict = "within the goal" if ratio <= 1.1 else ("over the goal" if ratio <= 1.3
                                                      else "OVER THE LIMIT")
    print(f"default / no stopping = {ratio:.3f}x ({verdict}: <= 1.1x, never above 1.3x)")


if __name__ == "__main__":
    main()
