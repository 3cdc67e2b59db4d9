"""Plots and summaries made from the results table alone (so a run can be re-plotted).

The table has one row per (strategy, seed, round) with at least ``strategy``, ``seed``,
``n_labeled`` and the metric columns.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from labelwise.metrics import area_under_curve, labels_saved, mean_ci
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


def per_seed_summary(results: pd.DataFrame, metric: str = "accuracy",
                     baseline: str = "random") -> pd.DataFrame:
    """Final metric, area under the budget curve and labels saved vs ``baseline`` per run."""
    rows = []
    base = {seed: g.sort_values("n_labeled")
            for seed, g in results[results["strategy"] == baseline].groupby("seed")}
    for (strategy, seed), g in results.groupby(["strategy", "seed"], sort=False):
        g = g.sort_values("n_labeled")
        n, v = g["n_labeled"].to_numpy(), g[metric].to_numpy()
        saved = float("nan")
        if seed in base:
            b = base[seed]
            saved = labels_saved(b["n_labeled"].to_numpy(), b[metric].to_numpy(), n, v)
        rows.append({"strategy": strategy, "seed": seed, "final": v[-1],
                     "aubc": area_under_curve(n, v), "labels_saved": saved,
                     "query_seconds": g["query_seconds"].sum() if "query_seconds" in g else np.nan})
    return pd.DataFrame(rows)


def summary_table(results: pd.DataFrame, metric: str = "accuracy",
                  baseline: str = "random") -> pd.DataFrame:
    """Per strategy: mean and 95% half-width over seeds of each per-run summary."""
    per_seed = per_seed_summary(results, metric, baseline)
    rows = []
    for strategy, g in per_seed.groupby("strategy", sort=False):
        row = {"strategy": strategy, "seeds": len(g),
               "reached": int(np.isfinite(g["labels_saved"]).sum())}
        for col in ("final", "aubc", "labels_saved", "query_seconds"):
            row[col], row[col + "_ci"] = mean_ci(g[col].to_numpy())
        rows.append(row)
    return pd.DataFrame(rows)


def _fmt(mean: float, half: float, digits: int = 3) -> str:
    if np.isnan(mean):
        return "not reached"
    if np.isnan(half):
        return f"{mean:.{digits}f}"
    return f"{mean:.{digits}f} ± {half:.{digits}f}"


def write_summary(results: pd.DataFrame, path: str | Path, metric: str = "accuracy",
                  baseline: str = "random") -> Path:
    """Write summary.md: final metric, AUBC and labels saved vs random, mean ± 95% interval."""
    table = summary_table(results, metric, baseline)
    n_first = int(results["n_labeled"].min())
    n_last = int(results["n_labeled"].max())
    dataset = results["dataset"].iloc[0] if "dataset" in results else ""
    learner = results["learner"].iloc[0] if "learner" in results else ""
    lines = [
        f"# Active learning on {dataset} ({learner})",
        "",
        f"{plural(table['seeds'].max(), 'seed')}, {n_first} to {plural(n_last, 'label')}. "
        "Mean ± 95% interval (Student t) over seeds.",
        "",
        f"| strategy | final {metric} | area under the budget curve | labels saved vs "
        f"{baseline} | query time (s, total) |",
        "|---|---|---|---|---|",
    ]
    for _, r in table.iterrows():
        saved = _fmt(r["labels_saved"], r["labels_saved_ci"], 2)
        if saved != "not reached":
            saved += "x"
            if r["reached"] < r["seeds"]:  # the mean is over the seeds that reached it
                saved += f" (reached in {r['reached']} of {r['seeds']} seeds)"
        lines.append(
            f"| {r['strategy']} | {_fmt(r['final'], r['final_ci'])} | "
            f"{_fmt(r['aubc'], r['aubc_ci'])} | {saved} | "
            f"{_fmt(r['query_seconds'], r['query_seconds_ci'], 2)} |"
        )
    lines += [
        "",
        f"*Labels saved* = labels {baseline} needs to reach its own final {metric} divided by the "
        "labels the strategy needs to reach it (linearly interpolated curves, paper 000); above 1 "
        "means fewer labels. *Area under the budget curve* is the mean "
        f"{metric} over the label range.",
        "",
        "![learning curves](curves.png)",
        "",
    ]
    Path(path).write_text("\n".join(lines))
    return Path(path)
