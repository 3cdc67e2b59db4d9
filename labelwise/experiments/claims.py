"""Claims tables: a paper's claim, what we measured (mean ± 95% interval over seeds), a paired
test across seeds, and holds / does not hold. Made from the results and picks tables alone.

Verdicts: "holds" = the measured difference has the claimed sign and a paired t-test across seeds
gives p < 0.05; "direction only" = the claimed sign but p >= 0.05 (too few seeds or too small an
effect); "does not hold" = the opposite sign; "not run" = the runs it needs are missing here.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from labelwise.metrics import LABELS_SAVED_READINGS, area_under_curve, labels_saved, mean_ci
from labelwise.validation import plural


@dataclass
class Claim:
    text: str
    figure: str
    measured: str
    p_value: float
    verdict: str
    #: a definition the report prints under the claims table (once, however many claims use it)
    note: str = ""


def _not_run(text, figure, why="runs missing") -> Claim:
    return Claim(text, figure, why, float("nan"), "not run")


def _per_seed(results: pd.DataFrame, setting: str, strategy: str, metric: str,
              how: str = "final") -> pd.Series:
    g = results[(results["setting"] == setting) & (results["strategy"] == strategy)]
    if g.empty or metric not in g or g[metric].isna().all():
        return pd.Series(dtype=float)
    out = {}
    for seed, run in g.groupby("seed"):
        run = run.sort_values("n_labeled")
        if how == "aubc":
            out[seed] = area_under_curve(run["n_labeled"].to_numpy(), run[metric].to_numpy())
        else:
            out[seed] = run[metric].dropna().iloc[-1] if run[metric].notna().any() else np.nan
    return pd.Series(out, dtype=float)


def _paired(diff: np.ndarray) -> float:
    from scipy import stats

    diff = diff[np.isfinite(diff)]
    if len(diff) < 2 or np.allclose(diff, diff[0]):
        return 0.0 if len(diff) >= 2 and diff[0] != 0 else float("nan")
    return float(stats.ttest_1samp(diff, 0.0).pvalue)


def _verdict(mean: float, p: float) -> str:
    if not np.isfinite(mean):
        return "not run"
    if mean <= 0:
        return "does not hold"
    return "holds" if np.isfinite(p) and p < 0.05 else "direction only"


def _fmt(m: float, h: float, d: int = 3) -> str:
    if not np.isfinite(m):
        return "n/a"
    return f"{m:+.{d}f}" + ("" if not np.isfinite(h) else f" ± {h:.{d}f}")


def compare(results, setting, a, b, metric, text, figure, how="final", margin=0.0,
            setting_b: str | None = None) -> Claim:
    """Claim: ``a`` > ``b`` on ``metric`` (final round, or area under the budget curve), paired
    by seed; with ``margin``, a > b - margin (e.g. "ECE within 3 points"); with ``setting_b``,
    ``b`` is taken from that setting (e.g. the same strategy with another learner)."""
    sa = _per_seed(results, setting, a, metric, how)
    sb = _per_seed(results, setting_b or setting, b, metric, how)
    seeds = sa.index.intersection(sb.index)
    if len(seeds) == 0:
        return _not_run(text, figure, f"needs {a} and {b} ({metric})")
    diff = (sa[seeds] - sb[seeds]).to_numpy() + margin
    m, h = mean_ci(diff)
    if setting_b:
        a, b = f"{a} ({setting})", f"{b} ({setting_b})"
    label = f"{how} {metric}: {a} − {b}" + (f" + {margin}" if margin else "")
    measured = (f"{label} = {_fmt(m, h)} (means {sa[seeds].mean():.3f} vs "
                f"{sb[seeds].mean():.3f}, {plural(len(seeds), 'seed')})")
    p = _paired(diff)
    return Claim(text, figure, measured, p, _verdict(m, p))


def labels_saved_claim(results, setting, a, b, text, figure, metric="accuracy") -> Claim:
    """Claim: ``a`` reaches ``b``'s final ``metric`` with fewer labels (labels saved > 1).

    Both readings of :data:`~labelwise.metrics.LABELS_SAVED_READINGS` per seed, and the
    full-budget one on the seed-mean curves too (the paper reads its curves averaged over
    seeds). The p-value and verdict use the full-budget reading (the paper's): a paired t-test
    of the log ratios > 0, a seed that never reaches the target counted at its upper bound;
    "holds" also needs every seed to reach it.
    """
    from labelwise.experiments.report import describe_labels_saved, labels_saved_definition

    sub = results[results.setting == setting]
    curves = {s: {seed: g.sort_values("n_labeled") for seed, g in sub[sub.strategy == s]
                  .groupby("seed")} for s in (a, b)}
    seeds = sorted(set(curves[a]) & set(curves[b]))
    if not seeds:
        return _not_run(text, figure)
    per_reading = {}
    for reading in LABELS_SAVED_READINGS:
        per_reading[reading] = [labels_saved(
            curves[b][seed].n_labeled.to_numpy(), curves[b][seed][metric].to_numpy(),
            curves[a][seed].n_labeled.to_numpy(), curves[a][seed][metric].to_numpy(), reading)
            for seed in seeds]
    ratios, reached = (np.array(x) for x in zip(*per_reading["full-budget"], strict=True))
    mean_curve = {s: sub[(sub.strategy == s) & sub.seed.isin(seeds)].groupby("n_labeled")[metric]
                  .mean() for s in (a, b)}
    on_mean, mean_reached = labels_saved(mean_curve[b].index.to_numpy(), mean_curve[b].to_numpy(),
                                         mean_curve[a].index.to_numpy(), mean_curve[a].to_numpy())
    words = {r: describe_labels_saved(*zip(*v, strict=True)) for r, v in per_reading.items()}
    measured = (f"labels saved ({metric}, {a} vs {b}'s final {metric}): full budget "
                f"{words['full-budget']}; first crossing {words['first-crossing']}; full budget "
                "on the seed-mean curves "
                + (f"{on_mean:.2f}x" if mean_reached else f"not reached (< {on_mean:.2f}x)"))
    logs = np.log(ratios)
    p = _paired(logs)
    verdict = _verdict(float(np.mean(logs)), p)
    if verdict == "holds" and not reached.all():
        verdict = "direction only"
    return Claim(text, figure, measured, p, verdict, note=labels_saved_definition(b, metric))


def oversampling_claim(picks, setting, strategy, groups, pool_share, text, figure) -> Claim:
    """Claim: ``strategy`` picks ``groups`` more often than their ``pool_share`` (oversampling > 0,
    Pretrained Models Are Good Active Learners, 2021, Fig. 4), per seed."""
    g = picks[(picks.setting == setting) & (picks.strategy == strategy)]
    if g.empty or "group" not in g:
        return _not_run(text, figure)
    over = g.groupby("seed")["group"].apply(lambda s: np.isin(s, groups).mean() / pool_share - 1)
    m, h = mean_ci(over.to_numpy())
    p = _paired(over.to_numpy())
    return Claim(text, figure, f"oversampling of groups {list(groups)} = {_fmt(m, h, 2)} "
                 f"(0 = as random; {plural(len(over), 'seed')})", p, _verdict(m, p))


def _pick_share_comparison(picks, setting, a, b, column, value, text, figure, describe) -> Claim:
    """Claim: a larger share of ``a``'s picks than of ``b``'s have ``column == value``, paired by
    seed; ``describe(share_a, share_b, mean_diff, half_width)`` words the measurement."""
    def share(s):
        g = picks[(picks.setting == setting) & (picks.strategy == s)]
        return g.groupby("seed")[column].apply(lambda x: float(np.mean(x == value)))
    sa, sb = share(a), share(b)
    seeds = sa.index.intersection(sb.index)
    if len(seeds) == 0:
        return _not_run(text, figure, f"needs {a} and {b}")
    diff = (sa[seeds] - sb[seeds]).to_numpy()
    m, h = mean_ci(diff)
    p = _paired(diff)
    return Claim(text, figure, describe(sa[seeds].mean(), sb[seeds].mean(), m, h), p,
                 _verdict(m, p))


def share_claim(picks, setting, a, b, label, text, figure) -> Claim:
    """Claim: ``a`` picks a larger share of class ``label`` than ``b``."""
    return _pick_share_comparison(
        picks, setting, a, b, "label", label, text, figure,
        lambda sa, sb, m, h: f"share of class {label} in picks: {a} {sa:.3f} vs {b} {sb:.3f} "
                             f"(diff {_fmt(m, h)})")


def clean_claim(picks, setting, a, b, text, figure) -> Claim:
    """Claim: ``a``'s picks are more often clean (group 0) than ``b``'s (% clean picks, Khosla et
    al. 2022)."""
    if "group" not in picks:
        return _not_run(text, figure)
    return _pick_share_comparison(
        picks, setting, a, b, "group", 0, text, figure,
        lambda sa, sb, m, h: f"% clean picks: {a} {100 * sa:.1f}% vs {b} {100 * sb:.1f}%")


def gain_difference(results, setting_a, setting_b, strat, base, metric, text, figure) -> Claim:
    """Claim: the gain (strat − base, final ``metric``) is larger in ``setting_a`` than in
    ``setting_b``, paired by seed."""
    ga = _per_seed(results, setting_a, strat, metric) - _per_seed(results, setting_a, base, metric)
    gb = _per_seed(results, setting_b, strat, metric) - _per_seed(results, setting_b, base, metric)
    seeds = ga.dropna().index.intersection(gb.dropna().index)
    if len(seeds) == 0:
        return _not_run(text, figure)
    diff = (ga[seeds] - gb[seeds]).to_numpy()
    m, h = mean_ci(diff)
    p = _paired(diff)
    return Claim(text, figure, f"gain {ga[seeds].mean():+.3f} vs {gb[seeds].mean():+.3f} "
                 f"(difference {_fmt(m, h)})", p, _verdict(m, p))


def dose_response_claim(results, prefix, strat, base, metric, text, figure) -> Claim:
    """Claim: the gain (strat − base) grows with the pool agreement (settings ``prefix<a>``);
    tested as gain(highest a) − gain(lowest a) > 0 paired by seed, Spearman rho reported."""
    from scipy import stats

    settings = sorted({s for s in results["setting"] if s.startswith(prefix)},
                      key=lambda s: float(s[len(prefix):]))
    if len(settings) < 2:
        return _not_run(text, figure, "needs at least two agreement levels")
    gains = {s: _per_seed(results, s, strat, metric) - _per_seed(results, s, base, metric)
             for s in settings}
    lo, hi = gains[settings[0]], gains[settings[-1]]
    seeds = lo.dropna().index.intersection(hi.dropna().index)
    if len(seeds) == 0:
        return _not_run(text, figure)
    diff = (hi[seeds] - lo[seeds]).to_numpy()
    m, h = mean_ci(diff)
    xs = [float(s[len(prefix):]) for s in settings]
    means = [gains[s].mean() for s in settings]
    rho = stats.spearmanr(xs, means).statistic if len(xs) > 2 else np.sign(means[-1] - means[0])
    curve = ", ".join(f"{x:g}: {g:+.3f}" for x, g in zip(xs, means, strict=True))
    return Claim(text, figure, f"gain by agreement {curve}; high − low {_fmt(m, h)}; "
                 f"Spearman {rho:+.2f}", _paired(diff), _verdict(m, _paired(diff)))


def query_time_claim(results, setting, strategies, figure) -> Claim:
    """Report: query time per round relative to entropy's (Krishnan et al. 2021, Table 1); a
    measurement, no direction claimed ("SCAL is cheap" holds when its ratio is among the lowest)."""
    g = results[(results.setting == setting) & (results["round"] < results["round"].max())]
    t = g.groupby("strategy")["query_seconds"].mean()
    text = "SCAL's query time is low relative to entropy (cheaper than BALD, Coreset)"
    if "entropy" not in t or "scal" not in t:
        return _not_run(text, figure, "needs entropy and scal")
    rel = {s: t[s] / t["entropy"] for s in strategies if s in t}
    measured = ", ".join(f"{s} {r:.2f}x" for s, r in rel.items())
    others = [r for s, r in rel.items() if s in ("bald", "coreset")]
    verdict = "holds" if others and rel["scal"] < min(others) else "does not hold"
    return Claim(text, figure, f"query time / entropy's: {measured}", float("nan"), verdict)


def _at_round(results, setting, strategy, metric, round_: int) -> pd.Series:
    """Per seed: ``metric`` at round ``round_`` of ``strategy``'s runs in ``setting``."""
    g = results[(results["setting"] == setting) & (results["strategy"] == strategy)
                & (results["round"] == round_)]
    if g.empty or metric not in g:
        return pd.Series(dtype=float)
    return g.groupby("seed")[metric].mean().dropna()


def compare_at_round(results, setting, a, b, metric, round_: int, text, figure,
                     setting_b: str | None = None) -> Claim:
    """Claim: ``a`` > ``b`` on ``metric`` at round ``round_`` (0 = the seed set alone; e.g. a
    budget of b labels per class in a cold-start grid), paired by seed; the measurement gives
    each side's mean ± 95% interval. With ``setting_b``, ``b`` is taken from that setting."""
    sa = _at_round(results, setting, a, metric, round_)
    sb = _at_round(results, setting_b or setting, b, metric, round_)
    seeds = sa.index.intersection(sb.index)
    if len(seeds) == 0:
        return _not_run(text, figure, f"needs {a} and {b} at round {round_}")
    g = results[(results["setting"] == setting) & (results["round"] == round_)]
    n = int(g["n_labeled"].median())
    if setting_b:
        a, b = f"{a} ({setting})", f"{b} ({setting_b})"
    diff = (sa[seeds] - sb[seeds]).to_numpy()
    m, h = mean_ci(diff)
    (ma, ha), (mb, hb) = mean_ci(sa[seeds].to_numpy()), mean_ci(sb[seeds].to_numpy())
    measured = (f"{metric} at {n} labels: {a} {_fmt(ma, ha).lstrip('+')} vs {b} "
                f"{_fmt(mb, hb).lstrip('+')}; difference {_fmt(m, h)} ({len(seeds)} seeds)")
    p = _paired(diff)
    return Claim(text, figure, measured, p, _verdict(m, p))


def stopping_claim(results, settings, criterion, text, figure, tolerance: float = 0.01,
                   metric: str = "accuracy") -> Claim:
    """Claim: ``criterion`` stops within the budget and little ``metric`` is lost by stopping
    there: over every run of ``settings``, the cost (final − at the stopping round, see
    :func:`labelwise.experiments.report.stopping_per_run`) is below ``tolerance``, tested as
    tolerance − cost > 0 over the runs in which it fired. A criterion that fires in fewer than
    half of the runs does not hold (it does not stop)."""
    from labelwise.experiments.report import stopping_per_run

    runs = stopping_per_run(results[results["setting"].isin(list(settings))], metric)
    if runs.empty or criterion not in set(runs["criterion"]):
        return _not_run(text, figure)
    runs = runs[runs["criterion"] == criterion]
    if not runs["computed"].any():
        return _not_run(text, figure, f"{criterion} not computed for these runs")
    fired = runs[runs["fired"]]
    k, n = len(fired), len(runs)
    if k == 0:
        return Claim(text, figure, f"never fired within the budget ({n} runs)", float("nan"),
                     "does not hold")
    cost, cost_h = mean_ci(fired["cost"].to_numpy())
    measured = (f"fired in {k}/{n} runs, at round {fired['round'].mean():.1f} "
                f"({fired['n_labeled'].mean():.0f} of {runs['n_final'].mean():.0f} labels); "
                f"{metric} still gained after it {_fmt(cost, cost_h)} (max "
                f"{fired['cost'].max():+.3f}; tolerance {tolerance})")
    if 2 * k < n:
        return Claim(text, figure, measured, float("nan"), "does not hold")
    margin = tolerance - fired["cost"].to_numpy()
    p = _paired(margin)
    return Claim(text, figure, measured, p, _verdict(float(np.mean(margin)), p))
