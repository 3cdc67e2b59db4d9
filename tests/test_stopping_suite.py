"""The stopping suite: how a stop is judged, worked out by hand, and one small run."""

import numpy as np
import pandas as pd
import pytest

from labelwise.experiments import stopping_suite as S


def _run(acc, stops, pool=100):
    """One run's rows: accuracy per round, 10 labels a round from 20; ``stops`` = {criterion:
    first round it says stop}."""
    rows = []
    for r, a in enumerate(acc):
        row = {"dataset": "toy", "seed": 0, "round": r, "n_labeled": 20 + 10 * r,
               "accuracy": a, "pool": pool}
        for c in S.JUDGED:
            row[f"{c}_stop"] = c in stops and r >= stops[c]
        rows.append(row)
    return pd.DataFrame(rows)


def test_a_stop_is_judged_against_the_99_percent_point_and_the_cost_optimum():
    acc = [0.5, 0.8, 0.9, 0.95, 0.96, 0.96, 0.97, 0.97]
    j = {r["criterion"]: r for r in S.judge_run(
        _run(acc, {"recommended": 5, "stabilizing_predictions": 1}))}
    rec = j["recommended"]
    # final 0.97: 99% of it is 0.9603; first reached at round 6 (0.97) -> 80 labels
    assert rec["n_99"] == 80 and rec["n_final"] == 90
    # stops at round 5: 70 labels, 10 before the 99% point, 1 point below the final accuracy
    assert rec["n_stop"] == 70 and rec["late"] == -10
    assert rec["loss"] == pytest.approx(0.01) and rec["ok"]
    # cost = labels + 100 x error: 70, 50, 50, 55, 64, 74, 83, 93 -> the first optimum is
    # round 1 (30 labels); stopping at round 5 costs 74, 48% more
    assert rec["n_cost_optimum"] == 30
    assert rec["cost_excess"] == pytest.approx((74 - 50) / 50)
    early = j["stabilizing_predictions"]  # round 1: 17 points below the final model
    assert early["loss"] == pytest.approx(0.17) and not early["ok"]
    never = j["overall_uncertainty"]
    assert not never["fired"] and not never["ok"] and np.isnan(never["n_stop"])


def test_late_stops_miss_the_goal():
    acc = [0.9] * 20  # 99% point at round 0 (20 labels)
    j = {r["criterion"]: r for r in S.judge_run(_run(acc, {"recommended": 16}))}
    assert j["recommended"]["late"] == 160 and not j["recommended"]["ok"]  # > 150 labels
    j = {r["criterion"]: r for r in S.judge_run(_run(acc, {"recommended": 15}))}
    assert j["recommended"]["late"] == 150 and j["recommended"]["ok"]


def test_a_set_holds_when_half_its_runs_meet_the_goal():
    acc = [0.5, 0.9, 0.9, 0.9]
    runs = pd.concat([_run(acc, {"recommended": 2}),
                      _run(acc, {}).assign(seed=1), _run(acc, {}).assign(seed=2)])
    ps = S.per_set(S.judge(runs)).set_index("criterion").loc["recommended"]
    assert (ps["runs"], ps["fired"], ps["ok"], ps["holds"]) == (3, 1, 1, False)
    runs = runs[runs["seed"] < 2]
    ps = S.per_set(S.judge(runs)).set_index("criterion").loc["recommended"]
    assert (ps["runs"], ps["ok"], ps["holds"]) == (2, 1, True)


def test_tuning_and_report_sets_are_apart():
    tuning = {s.name for s in S.TUNING_SETS}
    report = {s.name for s in S.REPORT_SETS}
    assert not tuning & report and len(report) >= 8
    # nor do the report sets reuse a tuning set's data under another name
    assert not {r.removesuffix("-imbalanced") for r in report} & tuning


def test_a_small_run_writes_rows_and_a_report(tmp_path):
    spec = next(s for s in S.REPORT_SETS if s.name == "iris")
    results = S.run_set(spec, seed=0, quick=True)
    assert results["n_labeled"].iloc[-1] == spec.quick_budget
    assert {"recommended_value", "recommended_stop", "recommended_reason",
            "stabilizing_predictions_kappa"} <= set(results.columns)
    stops = S.judge(results)
    assert set(stops["criterion"]) == set(S.JUDGED)
    text = S.report_markdown(results, stops, 1.0, 1, quick=True)
    assert "| iris | 3, tabular |" in text and "## Claims (report sets only)" in text
    S.plot_stops(results, stops, tmp_path / "p.png")
    assert (tmp_path / "p.png").stat().st_size > 1000
