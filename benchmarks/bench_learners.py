"""Fit time and accuracy of the torch learners, and the cost of their capabilities, on digits.

For each learner (mlp, ensemble, supcon, lossnet; logreg as the reference) it fits on ``--labels``
random labels of scikit-learn's digits (64 features, 10 classes) and reports, per learner: fit
seconds, accuracy on the rest, the capability call's seconds on the rest (MC dropout T=20 for mlp,
the members for ensemble, ``ema_outputs`` for mlp, ``predict_loss`` for lossnet) and "+FT"
(``finetune_pseudo_labels``): seconds and accuracy after. A first untimed fit warms torch up.
Times are wall seconds on this machine, relative to logreg's fit in the same run.

Run: ``python benchmarks/bench_learners.py [--labels 100] [--seed 0]``.
"""

from __future__ import annotations

import argparse
import time

import numpy as np


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--labels", type=int, default=100)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    from sklearn.datasets import load_digits

    from labelwise.learners import make_learner

    X, y = load_digits(return_X_y=True)
    rng = np.random.default_rng(args.seed)
    lab = rng.choice(len(X), args.labels, replace=False)
    rest = np.setdiff1d(np.arange(len(X)), lab)
    make_learner("mlp", 10, random_state=0, max_epochs=2).fit(X[lab], y[lab])  # warm-up

    def timed(fn):
        t0 = time.perf_counter()
        out = fn()
        return out, time.perf_counter() - t0

    base = None
    print(f"digits, {args.labels} labels, {len(rest)} scored; seconds (x logreg fit)")
    print(f"{'learner':10s} {'fit s':>12s} {'acc':>6s} {'capability':>24s} {'+FT s':>7s} "
          f"{'acc +FT':>8s}")
    for name in ["logreg", "mlp", "ensemble", "supcon", "lossnet"]:
        m = make_learner(name, 10, random_state=args.seed)
        _, fit_s = timed(lambda m=m: m.fit(X[lab], y[lab]))
        base = base or fit_s
        acc = (m.predict(X[rest]) == y[rest]).mean()
        cap = ""
        if name in ("mlp", "ensemble"):
            _, s = timed(lambda m=m: m.sample_proba(X[rest]))
            cap = f"samples {s:.2f}s"
        if name == "mlp":
            _, s = timed(lambda m=m: m.ema_outputs(X[rest]))
            cap += f", ema {s:.2f}s"
        if name == "lossnet":
            _, s = timed(lambda m=m: m.predict_loss(X[rest]))
            cap = f"predict_loss {s:.3f}s"
        ft_s, acc_ft = float("nan"), float("nan")
        if hasattr(m, "finetune_pseudo_labels"):
            _, ft_s = timed(lambda m=m: m.finetune_pseudo_labels(X[rest], X[lab], y[lab]))
            acc_ft = (m.predict(X[rest]) == y[rest]).mean()
        print(f"{name:10s} {fit_s:6.2f} ({fit_s / base:4.1f}x) {acc:6.3f} {cap:>24s} "
              f"{ft_s:7.2f} {acc_ft:8.3f}")


if __name__ == "__main__":
    main()
