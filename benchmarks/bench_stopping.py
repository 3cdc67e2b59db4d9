"""What the stopping monitor costs a simulated run: CPU seconds of whole runs of
``run_active_learning`` with the monitor off (a baseline patched in for this script), with it on
but without the cross-validated accuracy (stop-set predictions, picks' probabilities), and with
the 5-fold cross-validated accuracy that the accuracy plateau reads (5 more fits a round), in the
same process, one after the other.

Run: ``python benchmarks/bench_stopping.py [--data digits|mnist5k] [--learner logreg]
[--rounds 10] [--repeats 2]``. Prints CPU seconds per configuration (best of ``--repeats``) and
the ratio to the baseline. One thread for BLAS/OpenMP, so that CPU seconds measure the work.
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
    ap.add_argument("--rounds", type=int, default=10)
    ap.add_argument("--repeats", type=int, default=2)
    args = ap.parse_args()

    from labelwise import loop
    from labelwise.data import load_dataset

    ds = load_dataset(args.data)
    real_update = loop._Stopper.update

    def run(cv: bool) -> float:
        best = float("inf")
        for _ in range(args.repeats):
            t = time.process_time()
            loop.run_active_learning(ds.X_train, ds.y_train, ds.X_test, ds.y_test,
                                     strategy="margin", learner=args.learner, seed_size=20,
                                     batch_size=10, rounds=args.rounds, random_state=0,
                                     stopping_cv=cv)
            best = min(best, time.process_time() - t)
        return best

    loop._Stopper.update = lambda self, picks: ({}, 0.0)  # the baseline: no monitor at all
    try:
        base = run(False)
    finally:
        loop._Stopper.update = real_update
    rows = [("monitor off (baseline)", base), ("monitor, no CV", run(False)),
            ("monitor + 5-fold CV accuracy", run(True))]
    print(f"{args.data} ({len(ds.y_train)} pool), {args.learner}, margin, 20 + "
          f"{args.rounds} x 10 labels; CPU seconds per run, best of {args.repeats}")
    for name, sec in rows:
        print(f"  {name:<30} {sec:7.2f} s   {sec / base:5.2f}x")


if __name__ == "__main__":
    main()
