"""``labelwise bench stopping``: does each stopping criterion, and the recommended stop, say
"stop" at the right time, on data sets of several kinds?

Every run is margin sampling with logistic regression (the project's default pair), 10 labels a
round, with the default :class:`~labelwise.stopping.StoppingMonitor` (no cross-validated
accuracy, so the accuracy plateau is left out). Per run and criterion it records the labels at
the first "stop", the labels at the first round reaching 99% of the final test accuracy, the
accuracy lost by stopping there (final − at the stop) and the cost measure after Pullar-Strecker,
Dost, Frank & Wicker (2022): ``cost(t) = labels(t) + N · (1 − accuracy(t))``, the labels bought
plus the errors the model would make labeling the rest of a pool of N items (one error costs as
much as one label), reported as the excess of the stop's cost over the cost-optimal round.

The data sets are split in two: :data:`TUNING_SETS` were the only ones looked at while the
recommended stop's rule and threshold were chosen; the claims are judged on
:data:`REPORT_SETS` only (docs/stopping.md says how).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd

from labelwise.experiments.report import STOPPING_NAMES as NAMES
from labelwise.io import atomic_write
from labelwise.stopping import RECOMMENDED, first_stop_round

#: the criteria the suite judges (the accuracy plateau needs the cross-validated accuracy,
#: which the default monitor does not compute)
JUDGED = ("stabilizing_predictions", "overall_uncertainty", "max_confidence", RECOMMENDED)
#: the goal: the stop fires, at most this many labels after the 99% point ...
LATE_LABELS = 150
#: ... and at most this much accuracy below the final model
MAX_LOSS = 0.01
#: on at least this share of the report sets
GOAL_SHARE = 0.8


@dataclass(frozen=True)
class StopSet:
    """One data set of the suite: ``kind`` (tabular, image pixels, text embeddings,
    synthetic), its label ``budget`` and the loader's key."""

    name: str
    kind: str
    budget: int
    quick_budget: int = 0


TUNING_SETS = (StopSet("digits", "image pixels", 500), StopSet("breast_cancer", "tabular", 250),
               StopSet("synth-6", "synthetic", 500),
               StopSet("synth-4-imbalanced", "synthetic, 3% minority", 500))
REPORT_SETS = (StopSet("iris", "tabular", 100, 80), StopSet("wine", "tabular", 120, 100),
               StopSet("mnist5k", "image pixels", 1000),
               StopSet("fashion-mnist", "image pixels", 1000),
               StopSet("bbc-news", "text embeddings", 300),
               StopSet("bbc-news-imbalanced", "text embeddings, 5% minority", 300),
               StopSet("synth-26", "synthetic", 1500),
               StopSet("synth-2-imbalanced", "synthetic, 7% minority", 400, 150))
QUICK_SETS = ("iris", "wine", "synth-2-imbalanced")


def _synthetic(n, k, seed, weights=None, d=20, sep=1.0):
    from sklearn.datasets import make_classification

    return make_classification(n_samples=n, n_features=d, n_informative=min(d, 12),
                               n_redundant=2, n_classes=k, n_clusters_per_class=1,
                               weights=weights, class_sep=sep, flip_y=0.01, random_state=seed)


def _split(X, y, seed=0):
    """A stratified 75/25 split, standardised on the pool."""
    from sklearn.model_selection import train_test_split
    from sklearn.preprocessing import StandardScaler

    a, b, ya, yb = train_test_split(X, y, test_size=0.25, stratify=y, random_state=seed)
    s = StandardScaler().fit(a)
    return (s.transform(a).astype(np.float32), ya.astype(np.int64),
            s.transform(b).astype(np.float32), yb.astype(np.int64))


def _imbalanced(X, y, cls: int, share: float, seed: int = 0):
    """Keep only enough rows of class ``cls`` for it to be ``share`` of the data."""
    rng = np.random.default_rng(seed)
    rest = np.flatnonzero(y != cls)
    keep = int(round(share * len(rest) / (1 - share)))
    rows = np.sort(np.r_[rest, rng.choice(np.flatnonzero(y == cls), keep, replace=False)])
    return X[rows], y[rows]


@lru_cache(maxsize=2)
def load_stop_set(name: str):
    """(X_pool, y_pool, X_test, y_test) of a suite data set, float32 features, int labels."""
    from sklearn import datasets as D

    if name in ("iris", "wine", "breast_cancer"):
        return _split(*getattr(D, f"load_{name}")(return_X_y=True))
    if name == "synth-6":
        return _split(*_synthetic(3000, 6, seed=1))
    if name == "synth-4-imbalanced":
        return _split(*_synthetic(3000, 4, seed=2, weights=[0.7, 0.2, 0.07, 0.03]))
    if name == "synth-26":
        return _split(*_synthetic(6000, 26, seed=3, d=30, sep=1.5))
    if name == "synth-2-imbalanced":
        return _split(*_synthetic(4000, 2, seed=4, weights=[0.93, 0.07]))
    from labelwise.data import load_dataset

    base = name.removesuffix("-imbalanced")
    ds = load_dataset(base)
    Xp, yp, Xt, yt = ds.X_train, ds.y_train, ds.X_test, ds.y_test
    if name.endswith("-imbalanced"):  # the first class made a 5% minority, pool and test
        Xp, yp = _imbalanced(Xp, yp, 0, 0.05, seed=0)
        Xt, yt = _imbalanced(Xt, yt, 0, 0.05, seed=1)
    return (np.asarray(Xp, np.float32), np.asarray(yp, np.int64),
            np.asarray(Xt, np.float32), np.asarray(yt, np.int64))


def run_set(spec: StopSet, seed: int, quick: bool = False) -> pd.DataFrame:
    """One run: a row per round with labels, test accuracy and the monitor's flat row."""
    from labelwise.loop import run_active_learning

    Xp, yp, Xt, yt = load_stop_set(spec.name)
    k = int(max(yp.max(), yt.max())) + 1
    budget = spec.quick_budget if quick and spec.quick_budget else spec.budget
    recs = run_active_learning(Xp, yp, Xt, yt, strategy="margin", learner="logreg",
                               seed_size=max(20, 2 * k), batch_size=10, budget=budget,
                               random_state=seed)
    return pd.DataFrame([{"dataset": spec.name, "kind": spec.kind, "classes": k,
                          "pool": len(yp), "seed": seed, "round": r.round,
                          "n_labeled": r.n_labeled, "accuracy": r.metrics["accuracy"],
                          "stopping_seconds": r.stopping_seconds, **r.stopping} for r in recs])


# ---------------------------------------------------------------- judging the stops
def judge_run(run: pd.DataFrame) -> list[dict]:
    """Per criterion of one run (rows sorted by round): labels at its first stop, at the 99%
    point and at the cost optimum, accuracy lost, cost excess, and whether the goal holds."""
    run = run.sort_values("round")
    n, acc = run["n_labeled"].to_numpy(), run["accuracy"].to_numpy()
    final = acc[-1]
    i99 = int(np.argmax(acc >= 0.99 * final))
    cost = n + int(run["pool"].iloc[0]) * (1 - acc)
    best = int(np.argmin(cost))
    records = run.to_dict("records")
    out = []
    for c in JUDGED:
        i = first_stop_round(records, c)
        row = {"dataset": run["dataset"].iloc[0], "seed": int(run["seed"].iloc[0]),
               "criterion": c, "n_99": int(n[i99]), "n_final": int(n[-1]),
               "final": float(final), "n_cost_optimum": int(n[best]), "fired": i is not None}
        if i is None:
            row.update(n_stop=np.nan, late=np.nan, loss=np.nan, cost_excess=np.nan, ok=False)
        else:
            late, loss = int(n[i] - n[i99]), float(final - acc[i])
            row.update(n_stop=int(n[i]), late=late, loss=loss,
                       cost_excess=float((cost[i] - cost[best]) / cost[best]),
                       ok=bool(late <= LATE_LABELS and loss <= MAX_LOSS + 1e-9))
        out.append(row)
    return out


def judge(results: pd.DataFrame) -> pd.DataFrame:
    """:func:`judge_run` over every (dataset, seed) of ``results``."""
    rows = []
    for _, run in results.groupby(["dataset", "seed"], sort=False):
        rows += judge_run(run)
    return pd.DataFrame(rows)


def per_set(stops: pd.DataFrame) -> pd.DataFrame:
    """Per data set and criterion: runs, runs fired, runs meeting the goal, and the medians
    over fired runs of labels at the stop, labels after the 99% point, accuracy lost and cost
    excess; ``holds`` = the goal was met in at least half the set's runs."""
    out = []
    for (ds, c), g in stops.groupby(["dataset", "criterion"], sort=False):
        f = g[g["fired"]]
        out.append({"dataset": ds, "criterion": c, "runs": len(g), "fired": len(f),
                    "ok": int(g["ok"].sum()), "holds": bool(g["ok"].sum() * 2 >= len(g)),
                    "n_99": g["n_99"].median(), "n_final": g["n_final"].median(),
                    "n_cost_optimum": g["n_cost_optimum"].median(),
                    "n_stop": f["n_stop"].median(), "late": f["late"].median(),
                    "loss": f["loss"].median(), "cost_excess": f["cost_excess"].median()})
    return pd.DataFrame(out)


# ---------------------------------------------------------------- running and reporting
def run_stopping_suite(out: str | Path | None = None, seeds: int = 1, quick: bool = False,
                       progress: bool = True) -> Path:
    """Run the suite and write ``results.csv`` (a row per run and round), ``stops.csv`` (a row
    per run and criterion), ``stopping.png`` and ``report.md`` into ``out`` (default
    ``runs/bench-stopping[-quick]``; each finished run is kept in ``out/runs/`` and not
    redone); returns the folder. ``quick``: three small sets, one
    seed, smaller budgets (seconds)."""
    from labelwise.validation import check_positive_int

    seeds = 1 if quick else check_positive_int(seeds, "seeds")
    out = Path(out or Path("runs") / f"bench-stopping{'-quick' if quick else ''}")
    out.mkdir(parents=True, exist_ok=True)
    sets = [s for s in (*TUNING_SETS, *REPORT_SETS) if not quick or s.name in QUICK_SETS]
    from threadpoolctl import threadpool_limits

    t0 = time.perf_counter()
    frames, reused = [], 0
    (out / "runs").mkdir(exist_ok=True)
    for spec in sets:
        for seed in range(seeds):
            done = out / "runs" / f"{spec.name}-{seed}.csv"  # finished runs are not redone
            if done.exists():
                frames.append(pd.read_csv(done, keep_default_na=False, na_values=[""]))
                reused += 1
                continue
            t = time.perf_counter()
            with threadpool_limits(1):  # one BLAS thread: on busy cores more threads only fight
                frames.append(run_set(spec, seed, quick))
            with atomic_write(done, newline="") as f:
                frames[-1].to_csv(f, index=False)
            if progress:
                print(f"  {spec.name} seed {seed}: {len(frames[-1])} rounds, "
                      f"{time.perf_counter() - t:.1f} s", flush=True)
    results = pd.concat(frames, ignore_index=True)
    stops = judge(results)
    seconds = time.perf_counter() - t0
    results.to_csv(out / "results.csv", index=False)
    stops.to_csv(out / "stops.csv", index=False)
    plot_stops(results, stops, out / "stopping.png")
    (out / "report.md").write_text(report_markdown(results, stops, seconds, seeds, quick,
                                                   reused))
    return out


def _cell(r) -> str:
    if r["fired"] == 0:
        return f"never (0/{r['runs']})"
    return (f"{r['n_stop']:.0f} ({r['late']:+.0f}), {100 * r['loss']:+.1f} pt, cost "
            f"{100 * r['cost_excess']:+.0f}%, {'**ok**' if r['holds'] else 'no'} "
            f"({r['ok']}/{r['runs']})")


def _table(stops: pd.DataFrame, sets) -> list[str]:
    ps = per_set(stops).set_index(["dataset", "criterion"])
    head = ["| data set | classes, kind | labels at 99% of final (of budget) | cost optimum "
            "| " + " | ".join(NAMES[c] for c in JUDGED) + " |",
            "|---|---|---|---|" + "---|" * len(JUDGED)]
    rows = []
    for s, k in sets:
        if (s.name, RECOMMENDED) not in ps.index:
            continue
        r0 = ps.loc[(s.name, RECOMMENDED)]
        rows.append(f"| {s.name} | {k}, {s.kind} | {r0['n_99']:.0f} (of {r0['n_final']:.0f}) | "
                    f"{r0['n_cost_optimum']:.0f} | "
                    + " | ".join(_cell(ps.loc[(s.name, c)]) for c in JUDGED) + " |")
    return head + rows


def _share(stops: pd.DataFrame, names, criterion: str) -> tuple[int, int]:
    ps = per_set(stops[stops["dataset"].isin(names)])
    g = ps[ps["criterion"] == criterion]
    return int(g["holds"].sum()), len(g)


def report_markdown(results: pd.DataFrame, stops: pd.DataFrame, seconds: float, seeds: int,
                    quick: bool, reused: int = 0) -> str:
    """The report: claims table on the report sets, per-set tables, how to read them."""
    classes = results.groupby("dataset")["classes"].first().to_dict()
    have = set(results["dataset"])
    report = [(s, classes[s.name]) for s in REPORT_SETS if s.name in have]
    tuning = [(s, classes[s.name]) for s in TUNING_SETS if s.name in have]
    names = [s.name for s, _ in report] or sorted(have)
    lines = [f"# Stopping criteria across data sets{' (quick)' if quick else ''}", "",
             f"`labelwise bench stopping{' --quick' if quick else ''}`: margin + logreg, 10 "
             f"labels a round, {seeds} seed(s) per data set, the default stopping monitor "
             f"(1,000-item stop set, no cross-validated accuracy); {len(results)} rounds, "
             f"{seconds / 60:.1f} min in this invocation"
             + (f" ({reused} runs reused from an earlier one)" if reused else "") + ".", "",
             "## Claims (report sets only)", "",
             "| claim | goal | measured | holds |", "|---|---|---|---|"]
    for c in JUDGED:
        ok, n = _share(stops, names, c)
        runs = stops[stops["dataset"].isin(names) & (stops["criterion"] == c)]
        goal = f">= {GOAL_SHARE:.0%} of sets"
        lines.append(f"| {NAMES[c]} fires, <= {LATE_LABELS} labels after the 99% point and "
                     f"<= {100 * MAX_LOSS:.0f} point below the final accuracy | {goal} | "
                     f"{ok}/{n} sets ({int(runs['ok'].sum())}/{len(runs)} runs) | "
                     f"{'yes' if n and ok >= GOAL_SHARE * n else 'no'} |")
    lines += ["", "A set counts when the goal holds in at least half its runs; the runs in "
              "brackets count every run on its own.", "",
              "## Report sets (never looked at while the recommended rule was chosen)", "",
              *_table(stops, report), ""]
    if tuning:
        lines += ["## Tuning sets (the rule and its threshold were chosen on these)", "",
                  *_table(stops, tuning), ""]
    lines += ["## How to read the tables", "",
              "Each criterion's cell: median labels at its first stop (labels after the first "
              "round reaching 99% of the final test accuracy, + = later), median accuracy lost "
              "by stopping there (final − at the stop, in points), whether the goal holds on "
              "the set, and in how many runs. *never*: it did not fire within the budget. "
              "*Cost optimum*: the labels at which the cost measure after Pullar-Strecker, "
              "Dost, Frank & Wicker (2022) is lowest, cost = labels + N × error rate (N = the "
              "pool; an error costs one label); `stops.csv` holds each stop's cost excess over "
              "that optimum. The accuracy plateau needs the 5-fold cross-validated accuracy, "
              "which the default monitor does not compute, so it is not judged here. *cost*: the "
              "median excess of the stop's cost over the optimum's.", "",
              "![accuracy and stops](stopping.png)", ""]
    return "\n".join(lines)


def plot_stops(results: pd.DataFrame, stops: pd.DataFrame, path: Path) -> None:
    """One panel per data set (seed 0): test accuracy over labels, the 99% point and each
    criterion's stop."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sets = list(dict.fromkeys(results["dataset"]))
    cols = min(4, len(sets))
    rows = -(-len(sets) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.6 * cols, 2.8 * rows), squeeze=False)
    colors = {"stabilizing_predictions": "tab:blue", "overall_uncertainty": "tab:orange",
              "max_confidence": "tab:purple", RECOMMENDED: "tab:red"}
    for ax, ds in zip(axes.ravel(), sets, strict=False):
        run = results[(results["dataset"] == ds) & (results["seed"] == 0)]
        ax.plot(run["n_labeled"], run["accuracy"], color="black", lw=1)
        st = stops[(stops["dataset"] == ds) & (stops["seed"] == 0)].set_index("criterion")
        ax.axvline(st["n_99"].iloc[0], color="grey", ls=":", label="99% of final")
        for c in JUDGED:
            if st.loc[c, "fired"]:
                ax.axvline(st.loc[c, "n_stop"], color=colors[c], lw=2 if c == RECOMMENDED
                           else 1, ls="-" if c == RECOMMENDED else "--", label=NAMES[c])
        ax.set_title(ds, fontsize=9)
        ax.tick_params(labelsize=7)
    for ax in axes.ravel()[len(sets):]:
        ax.axis("off")
    legend = {}  # every criterion that fired somewhere, once
    for ax in axes.ravel():
        for h, label in zip(*ax.get_legend_handles_labels(), strict=True):
            legend.setdefault(label, h)
    fig.legend(legend.values(), legend.keys(), loc="lower center", ncol=5, fontsize=8)
    fig.supxlabel("labels", y=0.06, fontsize=9)
    fig.supylabel("test accuracy", fontsize=9)
    fig.tight_layout(rect=(0, 0.08, 1, 1))
    fig.savefig(path, dpi=110)
    plt.close(fig)


__all__ = ["REPORT_SETS", "TUNING_SETS", "judge", "judge_run", "per_set",
           "run_stopping_suite"]
