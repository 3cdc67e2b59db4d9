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
    Path(path).write_text("\n".join(lines))
    return Path(path)
