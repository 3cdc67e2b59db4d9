"""Plots and summaries made from the results table alone (so a run can be re-plotted).

The table has one row per (strategy, seed, round) with at least ``strategy``, ``seed``,
``n_labeled`` and the metric columns.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from labelwise.metrics import (
    LABELS_SAVED_READINGS,
    area_under_curve,
    geometric_mean_ci,
    labels_saved,
    mean_ci,
)
from labelwise.stopping import CRITERIA, RECOMMENDED, first_stop_round, value_column
from labelwise.validation import plural


def curve_band(results: pd.DataFrame, metric: str = "accuracy") -> pd.DataFrame:
    """Mean and 95% interval over seeds of ``metric`` at each (strategy, n_labeled)."""
    rows = []
    for (strategy, n), grp in results.groupby(["strategy", "n_labeled"], sort=False):
        m, h = mean_ci(grp[metric].to_numpy())
        rows.append({"strategy": strategy, "n_labeled": n, "mean": m,
                     "low": m - (0 if np.isnan(h) else h), "high": m + (0 if np.isnan(h) else h)})
    return pd.DataFrame(rows)


def strategy_styles(strategies) -> dict[str, dict]:
    """Line style per strategy name: one colour per base strategy (in order of appearance, tab20
    beyond 10), and its "+ft" variant dashed in the same colour, so 13 curves stay readable."""
    import matplotlib

    bases = list(dict.fromkeys(s.removesuffix("+ft") for s in strategies))
    cmap = matplotlib.colormaps["tab10" if len(bases) <= 10 else "tab20"]
    return {s: {"color": cmap(bases.index(s.removesuffix("+ft"))),
                "linestyle": "--" if s.endswith("+ft") else "-"} for s in strategies}


def plot_learning_curves(results: pd.DataFrame, path: str | Path, metric: str = "accuracy",
                         title: str | None = None) -> Path:
    """Save ``metric`` vs labels, mean line and 95% band over seeds, one line per strategy."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    band = curve_band(results, metric)
    fig, ax = plt.subplots(figsize=(7, 4.5), dpi=120)
    styles = strategy_styles(band["strategy"].unique())
    for strategy, grp in band.groupby("strategy", sort=False):
        grp = grp.sort_values("n_labeled")
        ax.plot(grp["n_labeled"], grp["mean"], label=strategy, lw=1.8, **styles[strategy])
        ax.fill_between(grp["n_labeled"], grp["low"], grp["high"],
                        color=styles[strategy]["color"], alpha=0.15, lw=0)
    n_seeds = results["seed"].nunique()
    dataset = results["dataset"].iloc[0] if "dataset" in results else ""
    ax.set_xlabel("labeled examples")
    ax.set_ylabel(metric.replace("_", " "))
    ax.set_title(title or f"{dataset}: {metric} (mean and 95% interval over "
                          f"{plural(n_seeds, 'seed')})")
    ax.grid(alpha=0.3)
    ax.legend(frameon=False)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return Path(path)


#: panels per row of a suite's figures (more settings wrap onto further rows)
PANELS_PER_ROW = 4


def panels(plt, n: int):
    """(figure, list of n axes): one 4.2 x 3.6 in panel per setting, PANELS_PER_ROW to a row;
    the unused panels of the last row are hidden."""
    cols = min(n, PANELS_PER_ROW)
    rows = -(-n // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 3.6 * rows), dpi=100,
                             squeeze=False)
    axes = list(axes.flat)
    for ax in axes[n:]:
        ax.set_visible(False)
    return fig, axes[:n]


def plot_seed_sets(results: pd.DataFrame, path: Path, metric: str, title: str) -> Path | None:
    """``metric`` vs labels on a log scale (mean and 95% interval over seeds), one panel per
    data set and one line per (seed set, strategy): solid where the strategy is the seed set's
    own selector (a cold start all the way), dashed where another strategy continues from it.
    Only data sets whose runs start from more than one seed-set kind get a panel (elsewhere the
    plot would repeat the learning curves); None when there is none."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if "seed_set" not in results:
        return None
    kinds_per = results.groupby("dataset", sort=False)["seed_set"].nunique()
    datasets = [d for d, n in kinds_per.items() if n >= 2]
    if not datasets:
        return None
    results = results[results["dataset"].isin(datasets)]
    kinds = list(dict.fromkeys(results["seed_set"]))
    colors = {k: matplotlib.colormaps["tab10"](i) for i, k in enumerate(kinds)}
    fig, axes = panels(plt, len(datasets))
    for ax, d in zip(axes, datasets, strict=True):
        sub = results[results["dataset"] == d]
        for (kind, strategy), g in sub.groupby(["seed_set", "strategy"], sort=False):
            band = curve_band(g, metric).sort_values("n_labeled")
            own = strategy == kind
            label = kind if own else f"{strategy} after a {kind} seed set"
            ax.plot(band["n_labeled"], band["mean"], label=label, lw=1.5, color=colors[kind],
                    linestyle="-" if own else "--", marker="o" if own else None, ms=3)
            ax.fill_between(band["n_labeled"], band["low"], band["high"], color=colors[kind],
                            alpha=0.1, lw=0)
        ax.set_title(min(sub["setting"].unique(), key=len), fontsize=9)
        ax.set_xscale("log")  # the low budgets, where seed sets differ, get room
        ax.set_xlabel("labeled examples (log scale)")
        ax.set_ylabel(metric.replace("_", " "))
        ax.grid(alpha=0.3)
        ax.legend(fontsize=6, frameon=False)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def labels_saved_definition(baseline: str = "random", metric: str = "accuracy") -> str:
    """The definition of labels saved printed under every table or claim that shows it."""
    return (f"*Labels saved* = how many times fewer labels the strategy needs than {baseline} to "
            f"reach {baseline}'s final {metric} T (its {metric} at the full budget B), per seed, "
            "from linearly interpolated learning curves; n_s = the first label count at which "
            "the strategy's curve reaches T. *Full budget* (the paper's reading) = "
            f"{LABELS_SAVED_READINGS['full-budget']}. *First crossing* = "
            f"{LABELS_SAVED_READINGS['first-crossing']}. Where {baseline}'s curve plateaus early, "
            f"the full-budget reading exceeds 1 even for {baseline} against itself (B / n_r) "
            "while first crossing gives 1: read the two together. Over seeds: the geometric "
            "mean and the 95% Student-t interval of the log ratios, exponentiated (a "
            "multiplicative interval, never below 0). A strategy that never reaches T needs "
            "more labels than its budget: its ratio is only an upper bound, shown as \"not "
            "reached (< bound)\", and a mean that counts such seeds at their bound is itself "
            "an upper bound (≤).")


def describe_labels_saved(ratios, reached) -> str:
    """Words for per-seed labels-saved ratios (s,) with their reached flags (s,) bool: the
    geometric mean and its interval, an upper bound when some seeds never reach the target, or
    "not reached" when none does."""
    ratios = np.asarray(ratios, dtype=float)
    reached = np.asarray(reached, dtype=bool)
    ok = np.isfinite(ratios)
    ratios, reached = ratios[ok], reached[ok]
    n, k = len(ratios), int(reached.sum())
    if n == 0:
        return "n/a"
    seeds = f"{n} seed{'s' if n > 1 else ''}"
    if k == 0:
        return f"not reached (< {ratios.max():.2f}x) in {'any of ' if n > 1 else ''}{seeds}"
    g, lo, hi = geometric_mean_ci(ratios)
    if k < n:
        return f"≤ {g:.2f}x (reached in {k} of {seeds}; the others count at their bound)"
    if n == 1:
        return f"{g:.2f}x (1 seed)"
    return f"{g:.2f}x (95% interval {lo:.2f}x to {hi:.2f}x, {seeds})"


def per_seed_summary(results: pd.DataFrame, metric: str = "accuracy",
                     baseline: str = "random") -> pd.DataFrame:
    """Final metric, area under the budget curve and labels saved vs ``baseline`` (both
    readings of :data:`~labelwise.metrics.LABELS_SAVED_READINGS`, and whether the strategy
    reaches the target at all) per run."""
    rows = []
    base = {seed: g.sort_values("n_labeled")
            for seed, g in results[results["strategy"] == baseline].groupby("seed")}
    for (strategy, seed), g in results.groupby(["strategy", "seed"], sort=False):
        g = g.sort_values("n_labeled")
        n, v = g["n_labeled"].to_numpy(), g[metric].to_numpy()
        row = {"strategy": strategy, "seed": seed, "final": v[-1],
               "aubc": area_under_curve(n, v), "reached": False,
               "query_seconds": g["query_seconds"].sum() if "query_seconds" in g else np.nan}
        for reading in LABELS_SAVED_READINGS:
            row[f"saved_{reading}"] = np.nan
            if seed in base:
                b = base[seed]
                row[f"saved_{reading}"], row["reached"] = labels_saved(
                    b["n_labeled"].to_numpy(), b[metric].to_numpy(), n, v, reading)
        rows.append(row)
    return pd.DataFrame(rows)


def summary_table(results: pd.DataFrame, metric: str = "accuracy",
                  baseline: str = "random") -> pd.DataFrame:
    """Per strategy: mean and 95% half-width over seeds of the final metric, AUBC and query time;
    labels saved in words (:func:`describe_labels_saved`) for each reading."""
    per_seed = per_seed_summary(results, metric, baseline)
    rows = []
    for strategy, g in per_seed.groupby("strategy", sort=False):
        row = {"strategy": strategy, "seeds": len(g), "reached": int(g["reached"].sum())}
        for col in ("final", "aubc", "query_seconds"):
            row[col], row[col + "_ci"] = mean_ci(g[col].to_numpy())
        for reading in LABELS_SAVED_READINGS:
            row[f"saved_{reading}"] = describe_labels_saved(g[f"saved_{reading}"], g["reached"])
        rows.append(row)
    return pd.DataFrame(rows)


def _fmt(mean: float, half: float, digits: int = 3) -> str:
    if np.isnan(mean):
        return "n/a"
    if np.isnan(half):
        return f"{mean:.{digits}f}"
    return f"{mean:.{digits}f} ± {half:.{digits}f}"


def write_summary(results: pd.DataFrame, path: str | Path, metric: str = "accuracy",
                  baseline: str = "random") -> Path:
    """Write summary.md: final metric, AUBC (mean ± 95% interval) and labels saved vs random
    (both readings, geometric mean and interval), with the definition of labels saved."""
    table = summary_table(results, metric, baseline)
    n_first = int(results["n_labeled"].min())
    n_last = int(results["n_labeled"].max())
    dataset = results["dataset"].iloc[0] if "dataset" in results else ""
    learner = results["learner"].iloc[0] if "learner" in results else ""
    lines = [
        f"# Active learning on {dataset} ({learner})",
        "",
        f"{plural(table['seeds'].max(), 'seed')}, {n_first} to {plural(n_last, 'label')}. "
        "Mean ± 95% interval (Student t) over seeds; labels saved as defined below the table.",
        "",
        f"| strategy | final {metric} | area under the budget curve | labels saved vs "
        f"{baseline}, full budget | labels saved, first crossing | query time (s, total) |",
        "|---|---|---|---|---|---|",
    ]
    for _, r in table.iterrows():
        lines.append(
            f"| {r['strategy']} | {_fmt(r['final'], r['final_ci'])} | "
            f"{_fmt(r['aubc'], r['aubc_ci'])} | {r['saved_full-budget']} | "
            f"{r['saved_first-crossing']} | "
            f"{_fmt(r['query_seconds'], r['query_seconds_ci'], 2)} |"
        )
    lines += [
        "",
        labels_saved_definition(baseline, metric) + " Above 1 means fewer labels.",
        "",
        f"*Area under the budget curve* is the mean {metric} over the label range.",
        "",
        "![learning curves](curves.png)",
        "",
    ]
    if has_stopping(results):
        lines += ["## When to stop", "", stopping_markdown(results, ("strategy",), metric), "",
                  stopping_definition(metric), ""]
    Path(path).write_text("\n".join(lines))
    return Path(path)


# ---------------------------------------------------------------- stopping criteria
#: the columns that name one run in a results table (those present are used)
RUN_KEYS = ("setting", "strategy", "learner", "seed")
STOPPING_NAMES = {"stabilizing_predictions": "stabilizing predictions",
                  "overall_uncertainty": "overall uncertainty",
                  "max_confidence": "max confidence", "accuracy_plateau": "accuracy plateau",
                  RECOMMENDED: "recommended"}


def has_stopping(results: pd.DataFrame) -> bool:
    """Whether the table carries the stopping monitor's columns (``<criterion>_stop``)."""
    return any(f"{c}_stop" in results for c in CRITERIA)


def stopping_per_run(results: pd.DataFrame, metric: str = "accuracy") -> pd.DataFrame:
    """One row per run and criterion: whether the criterion was computed at all, the first
    round it says stop (NaN when it never does within the budget), the labels and ``metric``
    there, the final ``metric`` and labels, and the cost of stopping there = final − at stop
    (what the remaining labels still gained)."""
    keys = [k for k in RUN_KEYS if k in results]
    rows = []
    for key, run in results.groupby(keys, sort=False):
        run = run.sort_values("round")
        records = run.to_dict("records")
        final, n_final = run[metric].iloc[-1], run["n_labeled"].iloc[-1]
        for c in (*CRITERIA, RECOMMENDED):
            if f"{c}_stop" not in run:
                continue
            i = first_stop_round(records, c)
            at = records[i] if i is not None else None
            rows.append({**dict(zip(keys, key, strict=True)), "criterion": c,
                         "computed": bool(run[value_column(c)].notna().any()),
                         "fired": at is not None,
                         "round": np.nan if at is None else at["round"],
                         "n_labeled": np.nan if at is None else at["n_labeled"],
                         "at_stop": np.nan if at is None else at[metric],
                         "final": final, "n_final": n_final,
                         "cost": np.nan if at is None else final - at[metric]})
    return pd.DataFrame(rows)


def stopping_summary(results: pd.DataFrame, by=("strategy",),
                     metric: str = "accuracy") -> pd.DataFrame:
    """Per group of ``by`` (e.g. strategy; () pools every run) and criterion: runs, runs in
    which it fired, and over those the mean round, labels, final labels and cost (mean and 95%
    half-width over runs; see :func:`stopping_per_run`)."""
    per_run = stopping_per_run(results, metric)
    out = []
    for key, g in per_run.groupby([*by, "criterion"], sort=False):
        key = key if isinstance(key, tuple) else (key,)
        fired = g[g["fired"]]
        cost, cost_ci = mean_ci(fired["cost"].to_numpy())
        out.append({**dict(zip([*by, "criterion"], key, strict=True)), "runs": len(g),
                    "computed": bool(g["computed"].any()), "fired": len(fired),
                    "round": fired["round"].mean(), "n_labeled": fired["n_labeled"].mean(),
                    "n_final": g["n_final"].mean(), "cost": cost, "cost_ci": cost_ci,
                    "max_cost": fired["cost"].max()})
    return pd.DataFrame(out)


def _stopping_cell(r) -> str:
    if not r["computed"]:
        return "no value"
    if r["fired"] == 0:
        return f"never (0/{r['runs']})"
    cost = f"{r['cost']:+.3f}" + ("" if np.isnan(r["cost_ci"]) else f" ± {r['cost_ci']:.3f}")
    return (f"round {r['round']:.1f} ({r['n_labeled']:.0f} of {r['n_final']:.0f} labels): "
            f"{cost} ({r['fired']}/{r['runs']})")


def stopping_markdown(results: pd.DataFrame, by=("strategy",), metric: str = "accuracy") -> str:
    """A markdown table: one row per group of ``by``, one column per criterion, each cell
    "round r (n of N labels): cost ± 95% half-width (fired/runs)" (:func:`stopping_summary`)."""
    summary = stopping_summary(results, by, metric)
    crits = [c for c in (*CRITERIA, RECOMMENDED) if c in set(summary["criterion"])]
    head = "| " + " | ".join([*by, *(STOPPING_NAMES[c] for c in crits)]) + " |"
    lines = [head, "|" + "---|" * (len(by) + len(crits))]
    cells = {tuple(r[b] for b in by) + (r["criterion"],): _stopping_cell(r)
             for _, r in summary.iterrows()}
    for key in dict.fromkeys(tuple(r[b] for b in by) for _, r in summary.iterrows()):
        lines.append("| " + " | ".join([*map(str, key),
                                        *(cells.get(key + (c,), "") for c in crits)]) + " |")
    return "\n".join(lines)


def stopping_definition(metric: str = "accuracy") -> str:
    """What the stopping table shows, printed under it."""
    from labelwise import stopping as S

    return (f"Each cell: the first round at which the criterion says stop, mean over the runs "
            f"in which it fired (its labels, of the final budget), and the cost of stopping "
            f"there: final {metric} − {metric} at that round, i.e. what the remaining labels "
            f"still gained (mean ± 95% interval over those runs; (k/n) = fired in k of n runs, "
            f"never = not within the budget). Criteria: *stabilizing predictions* (Bloodgood & "
            f"Vijay-Shanker 2009) = mean Cohen's kappa of the last {S.KAPPA_WINDOW} pairs of "
            f"successive models on a stop set of {S.STOP_SET_SIZE} pool items (the whole pool "
            f"when smaller) drawn once per run, stop when > {S.KAPPA_THRESHOLD}; "
            f"*overall uncertainty* (Zhu, Wang & "
            f"Hovy 2008) = mean entropy over the stop-set items still unlabeled (a sample of the "
            f"unlabeled pool), stop when < {S.OVERALL_UNCERTAINTY_THRESHOLD}; *max confidence* "
            f"(same paper) = the largest entropy among the next batch's picks, stop when < "
            f"{S.MAX_CONFIDENCE_THRESHOLD}; *accuracy plateau* = the 5-fold cross-validated "
            f"accuracy on the labels (the labeling app's estimate) has not risen by more than "
            f"{S.PLATEAU_EPS} over its best before the last {S.PLATEAU_WINDOW} rounds; "
            f"*recommended* (docs/stopping.md) = the accuracy gain of the last {S.GAIN_LABELS} "
            f"labels as the current model estimates it on the stop set, stop when < "
            f"{S.GAIN_THRESHOLD}. *No value* = "
            "the criterion had no value in any run: fewer rounds than its window, or (accuracy "
            "plateau) no cross-validated accuracy, which is computed only when asked for "
            "(stopping_cv: 5 extra fits a round).")
