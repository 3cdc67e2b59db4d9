"""A suite's report: ``report.md`` with the claims table (:mod:`labelwise.experiments.claims`),
the final-accuracy table and the plots of each setting, written from the results and picks tables.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from labelwise.papers import cite_many
from labelwise.validation import plural


def plot_composition(picks: pd.DataFrame, path: Path, column: str, title: str) -> Path | None:
    """Stacked bars: share of each ``column`` value (group or label) among each strategy's picks,
    one panel per setting."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from labelwise.experiments.report import panels

    if picks.empty or column not in picks or picks[column].isna().all():
        return None
    settings = list(dict.fromkeys(picks["setting"]))
    fig, axes = panels(plt, len(settings))
    for ax, s in zip(axes, settings, strict=True):
        g = picks[picks.setting == s]
        tab = pd.crosstab(g["strategy"], g[column], normalize="index")
        tab = tab.reindex(list(dict.fromkeys(g["strategy"])))
        tab.plot(kind="bar", stacked=True, ax=ax, legend=ax is axes[0], width=0.8)
        ax.set_title(s, fontsize=9)
        ax.set_xlabel("")
        ax.set_ylabel(f"share of picks by {column}")
        ax.tick_params(axis="x", labelsize=7, rotation=60)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def plot_settings(results: pd.DataFrame, path: Path, metric: str, title: str) -> Path | None:
    """Learning curves of ``metric`` (mean and 95% interval over seeds), one panel per setting."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from labelwise.experiments.report import curve_band, panels, strategy_styles

    if metric not in results or results[metric].isna().all():
        return None
    # only the settings that have the metric (e.g. minority AP exists on the imbalanced task)
    settings = list(dict.fromkeys(results.loc[results[metric].notna(), "setting"]))
    fig, axes = panels(plt, len(settings))
    styles = strategy_styles(results["strategy"].unique())
    for ax, s in zip(axes, settings, strict=True):
        band = curve_band(results[(results.setting == s) & results[metric].notna()], metric)
        for strategy, g in band.groupby("strategy", sort=False):
            g = g.sort_values("n_labeled")
            ax.plot(g["n_labeled"], g["mean"], label=strategy, lw=1.5, **styles[strategy])
            ax.fill_between(g["n_labeled"], g["low"], g["high"],
                            color=styles[strategy]["color"], alpha=0.1, lw=0)
        ax.set_title(s, fontsize=9)
        ax.set_xlabel("labeled examples")
        ax.set_ylabel(metric.replace("_", " "))
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=7, frameon=False)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def write_suite_report(suite, results, picks, out: Path, skipped: dict, seconds: float,
                       quick: bool, seeds: int, executor: str, missing: int = 0) -> Path:
    """Plots (PNG) and report.md with the claims table, from the tables alone; ``missing`` runs
    of the grid that had not finished make it a partial report."""
    plots = []
    for metric, label in (("accuracy", "learning curves"),
                          ("worst_group_accuracy", "worst-group accuracy"),
                          ("minority_ap", "minority AP"), ("ece", "calibration (ECE, 15 bins)"),
                          ("sampling_bias", "sampling bias of the labeled set"),
                          ("imbalance_ratio", "imbalance ratio of the labeled set")):
        p = plot_settings(results, out / f"{metric}.png", metric,
                          f"{suite.name}: {label}, mean and 95% interval over "
                          f"{plural(seeds, 'seed')}")
        if p is not None:
            plots.append((label, p.name))
    from labelwise.experiments.report import plot_seed_sets

    p = plot_seed_sets(results, out / "seed_sets.png", "accuracy",
                       f"{suite.name}: accuracy by seed set, mean and 95% interval over {seeds} "
                       "seeds")
    if p is not None:
        plots.append(("accuracy by seed set", p.name))
    column = "group" if "group" in picks and picks["group"].notna().any() else "label"
    p = plot_composition(picks, out / "composition.png", column,
                         f"{suite.name}: composition of picks by {column}")
    if p is not None:
        plots.append((f"composition of picks by {column}", p.name))
    claims = suite.claims(results, picks)
    lines = [f"# Benchmark `{suite.name}` ({cite_many(suite.paper)}){' — quick' if quick else ''}",
             "", suite.description + ".", "", f"Data: {suite.data}.", "",
             f"{plural(results.groupby(['setting', 'strategy', 'seed']).ngroups, 'run')}, "
             f"{plural(seeds, 'seed')}, "
             f"executor {executor}, "
             + (f"{seconds / 60:.1f} min of grid time (runs resumed from `runs/` count as 0)."
                if np.isfinite(seconds) else "report written from the finished runs."),
             "", _seed_set_line(suite, quick, seeds), ""]
    if missing:
        lines += [f"**Partial**: {plural(missing, 'run')} of the grid had not finished; the "
                  "claims use the finished runs only (paired over the seeds both sides have).", ""]
    lines += ["## Claims", "",
             "| claim (paper, figure) | measured (mean ± 95% interval over seeds) | paired p | "
             "verdict |", "|---|---|---|---|"]
    for c in claims:
        p = "" if not np.isfinite(c.p_value) else f"{c.p_value:.3g}"
        lines.append(f"| {c.text} ({c.figure}) | {c.measured} | {p} | **{c.verdict}** |")
    lines += ["", "Verdicts: *holds* = claimed direction and paired t-test over seeds p < 0.05; "
              "*direction only* = claimed direction, not significant; *does not hold* = opposite "
              "direction; *not run* = the runs it needs could not run here.", ""]
    for note in dict.fromkeys(c.note for c in claims if c.note):
        lines += [note, ""]
    if skipped:
        lines += ["## Not run here", ""]
        lines += [f"- {k}: {v}" for k, v in sorted(skipped.items())]
        lines.append("")
    lines += ["## Final round, mean over seeds", "", _final_table(results), ""]
    from labelwise.experiments.report import (
        has_stopping,
        stopping_definition,
        stopping_markdown,
    )

    if has_stopping(results):
        lines += ["## When to stop", "", stopping_markdown(results, ("setting", "strategy")), "",
                  stopping_definition(), ""]
    lines += ["## Plots", ""] + [f"![{label}]({name})" for label, name in plots] + [""]
    path = out / "report.md"
    path.write_text("\n".join(lines))
    return path


def _seed_set_line(suite, quick: bool, seeds: int) -> str:
    """How the grid draws its seed sets (per setting where they differ) and the paper's reading."""
    kinds: dict[str, dict[str, None]] = {}
    for sp in suite.specs(quick, seeds):  # a setting may compare several kinds (cold start)
        kinds.setdefault(sp.tag, {})[f"{sp.seed_set}, {sp.seed_size} labels"] = None
    kinds = {tag: " / ".join(k) for tag, k in kinds.items()}
    drawn = (next(iter(kinds.values())) if len(set(kinds.values())) == 1
             else "; ".join(f"{tag}: {k}" for tag, k in kinds.items()))
    return f"Seed sets: {drawn}." + (f" Why: {suite.seed_set}." if suite.seed_set else "")


def _final_table(results: pd.DataFrame) -> str:
    cols = [c for c in ("accuracy", "worst_group_accuracy", "minority_ap", "ece", "brier",
                        "sampling_bias", "imbalance_ratio", "clean_fraction_labeled", "ood_auroc",
                        "query_seconds") if c in results and results[c].notna().any()]
    last = results.loc[results.groupby(["setting", "strategy", "seed"])["round"].idxmax()]
    qs = results.groupby(["setting", "strategy"])["query_seconds"].mean()
    tab = last.groupby(["setting", "strategy"], sort=False)[cols].mean()
    if "query_seconds" in tab:
        tab["query_seconds"] = qs.reindex(tab.index)  # per-round mean, the last round has none
    # time per run (Khosla et al. 2022): training + querying, all rounds
    if "train_seconds" in results:
        per_run = results.assign(t=results["train_seconds"].fillna(0)
                                 + results["query_seconds"].fillna(0)
                                 ).groupby(["setting", "strategy", "seed"])["t"].sum()
        tab["run_seconds"] = per_run.groupby(["setting", "strategy"]).mean().reindex(tab.index)
        cols = cols + ["run_seconds"]
    head = "| setting | strategy | " + " | ".join(cols) + " |"
    rows = [head, "|" + "---|" * (len(cols) + 2)]
    for (s, st), r in tab.iterrows():
        rows.append(f"| {s} | {st} | " + " | ".join(f"{r[c]:.3f}" for c in cols) + " |")
    return "\n".join(rows)
