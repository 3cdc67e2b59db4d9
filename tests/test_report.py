"""summary.md from a hand-made results table: labels saved (both readings, geometric mean over
seeds) and seeds that never reach random."""

import numpy as np
import pandas as pd
import pytest

from labelwise.experiments.report import (
    describe_labels_saved,
    per_seed_summary,
    summary_table,
    write_summary,
)


def _curve(strategy, seed, accs):
    return [{"dataset": "toy", "learner": "logreg", "strategy": strategy, "seed": seed,
             "round": r, "n_labeled": 10 * (r + 1), "accuracy": a, "query_seconds": 0.1}
            for r, a in enumerate(accs)]


def test_labels_saved_by_hand_and_unreached_seeds_are_counted(tmp_path):
    rows = (_curve("random", 0, [0.5, 0.6, 0.8]) + _curve("random", 1, [0.5, 0.6, 0.8])
            + _curve("smart", 0, [0.5, 0.8, 0.9])   # reaches 0.8 at 20 labels: 30 / 20 = 1.5x
            + _curve("smart", 1, [0.5, 0.6, 0.7]))  # never reaches 0.8: < 30 / 30
    df = pd.DataFrame(rows)
    per_seed = per_seed_summary(df).set_index(["strategy", "seed"])
    assert per_seed.loc[("smart", 0), "saved_full-budget"] == pytest.approx(1.5)
    assert per_seed.loc[("smart", 1), "saved_full-budget"] == 1.0
    assert not per_seed.loc[("smart", 1), "reached"]
    table = summary_table(df).set_index("strategy")
    assert table.loc["smart", "reached"] == 1
    assert table.loc["smart", "final"] == 0.8  # mean of 0.9 and 0.7
    # geometric mean of 1.5 and the bound 1.0 = sqrt(1.5) = 1.22, an upper bound
    assert table.loc["smart", "saved_full-budget"] == (
        "≤ 1.22x (reached in 1 of 2 seeds; the others count at their bound)")
    write_summary(df, tmp_path / "summary.md")
    text = (tmp_path / "summary.md").read_text()
    assert "| smart | 0.800 ± " in text
    assert "≤ 1.22x (reached in 1 of 2 seeds" in text
    assert "*Full budget* (the paper's reading) = B / n_s" in text  # the definition is printed


def test_readings_differ_where_random_touches_its_final_accuracy_early():
    rows = []
    # random's final 0.8 is first touched at 20 labels on both seeds; its budget is 40
    for seed, smart in ((0, [0.5, 0.6, 0.8, 0.9]), (1, [0.5, 0.6, 0.7, 0.8])):
        rows += _curve("random", seed, [0.5, 0.8, 0.7, 0.8]) + _curve("smart", seed, smart)
    table = summary_table(pd.DataFrame(rows)).set_index("strategy")
    # full budget: 40 / 30 and 40 / 40: geometric mean sqrt(4/3) = 1.155; first crossing:
    # 20 / 30 and 20 / 40: sqrt(1/3) = 0.577; t(0.975, 1) = 12.706 on the log ratios
    half = 12.706 * np.std(np.log([4 / 3, 1.0]), ddof=1) / np.sqrt(2)
    assert table.loc["smart", "saved_full-budget"] == (
        f"1.15x (95% interval {np.sqrt(4 / 3) * np.exp(-half):.2f}x to "
        f"{np.sqrt(4 / 3) * np.exp(half):.2f}x, 2 seeds)")
    assert table.loc["smart", "saved_first-crossing"].startswith("0.58x (95% interval 0.")
    # random against itself: full budget 40 / 20 = 2x, first crossing exactly 1x
    assert table.loc["random", "saved_full-budget"].startswith("2.00x")
    assert table.loc["random", "saved_first-crossing"].startswith("1.00x")


def test_describe_labels_saved_never_reached():
    assert describe_labels_saved([1.0, 1.0], [False, False]) == (
        "not reached (< 1.00x) in any of 2 seeds")
    assert describe_labels_saved([0.5], [False]) == "not reached (< 0.50x) in 1 seed"
    assert describe_labels_saved([2.0], [True]) == "2.00x (1 seed)"
    assert describe_labels_saved([], []) == "n/a"


def _stopping_run(strategy, seed, accs, kappa_stop, plateau_value=None):
    """A run whose stabilizing-predictions verdicts are ``kappa_stop`` (one per round)."""
    rows = _curve(strategy, seed, accs)
    for row, stop in zip(rows, kappa_stop, strict=True):
        row.update({"stabilizing_predictions_kappa": 1.0 if stop else 0.5,
                    "stabilizing_predictions_stop": stop,
                    "accuracy_plateau_gain": plateau_value, "accuracy_plateau_stop": False})
    return rows


def test_stopping_round_labels_and_cost_by_hand(tmp_path):
    from labelwise.experiments.report import stopping_per_run, stopping_summary

    rows = (_stopping_run("margin", 0, [0.5, 0.7, 0.8, 0.9], [False, True, True, False])
            + _stopping_run("margin", 1, [0.5, 0.6, 0.8, 0.8], [False, False, True, True])
            + _stopping_run("random", 0, [0.5, 0.6, 0.7, 0.8], [False] * 4))
    df = pd.DataFrame(rows)
    per_run = stopping_per_run(df).set_index(["strategy", "seed", "criterion"])
    first = per_run.loc[("margin", 0, "stabilizing_predictions")]
    # the first round that says stop (round 1, 20 labels), whatever comes after it
    assert first["round"] == 1 and first["n_labeled"] == 20
    assert first["cost"] == pytest.approx(0.9 - 0.7)
    assert per_run.loc[("margin", 1, "stabilizing_predictions"), "cost"] == pytest.approx(0.0)
    assert not per_run.loc[("random", 0, "stabilizing_predictions"), "fired"]
    assert not per_run.loc[("random", 0, "accuracy_plateau"), "computed"]
    summary = stopping_summary(df).set_index(["strategy", "criterion"])
    sp = summary.loc[("margin", "stabilizing_predictions")]
    assert (sp["runs"], sp["fired"]) == (2, 2)
    assert sp["round"] == 1.5 and sp["n_labeled"] == 25 and sp["cost"] == pytest.approx(0.1)
    # t(0.975, 1) * std(0.2, 0.0) / sqrt(2) = 12.706 * 0.1414 / 1.414 = 1.2706
    assert sp["cost_ci"] == pytest.approx(1.2706, abs=1e-3)
    assert summary.loc[("random", "stabilizing_predictions"), "fired"] == 0
    pooled = stopping_summary(df, by=()).set_index("criterion")
    assert pooled.loc["stabilizing_predictions", "runs"] == 3
    assert pooled.loc["stabilizing_predictions", "fired"] == 2

    write_summary(df, tmp_path / "summary.md")
    text = (tmp_path / "summary.md").read_text().split("## When to stop")[1]
    assert "| margin | round 1.5 (25 of 40 labels): +0.100 ± 1.271 (2/2) | no value |" in text
    assert "| random | never (0/1) | no value |" in text
    assert "Bloodgood & Vijay-Shanker 2009" in text


def test_no_stopping_section_without_the_columns(tmp_path):
    write_summary(pd.DataFrame(_curve("random", 0, [0.5, 0.6])), tmp_path / "summary.md")
    assert "When to stop" not in (tmp_path / "summary.md").read_text()


def test_seed_set_plot_only_for_several_kinds(tmp_path):
    from labelwise.experiments.report import plot_seed_sets

    rows = []
    for kind, strategy in (("random", "random"), ("typiclust", "typiclust"),
                           ("typiclust", "margin")):
        for seed in (0, 1):
            rows += [{**r, "seed_set": kind, "setting": f"toy {strategy}"}
                     for r in _curve(strategy, seed, [0.5, 0.6])]
    df = pd.DataFrame(rows)
    assert plot_seed_sets(df, tmp_path / "s.png", "accuracy", "t") == tmp_path / "s.png"
    assert (tmp_path / "s.png").stat().st_size > 0
    one_kind = df[df.seed_set == "typiclust"]
    assert plot_seed_sets(one_kind, tmp_path / "n.png", "accuracy", "t") is None
    # two data sets, each started from one kind of seed set only: nothing to compare
    per_data = df[df.seed_set != "typiclust"].copy()
    other = df[df.seed_set == "typiclust"].assign(dataset="other")
    assert plot_seed_sets(pd.concat([per_data, other]), tmp_path / "d.png", "accuracy",
                          "t") is None
