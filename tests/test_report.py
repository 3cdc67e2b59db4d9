"""summary.md from a hand-made results table: labels saved and seeds that never reach random."""

import pandas as pd

from labelwise.experiments.report import summary_table, write_summary


def _curve(strategy, seed, accs):
    return [{"dataset": "toy", "learner": "logreg", "strategy": strategy, "seed": seed,
             "round": r, "n_labeled": 10 * (r + 1), "accuracy": a, "query_seconds": 0.1}
            for r, a in enumerate(accs)]


def test_labels_saved_by_hand_and_unreached_seeds_are_counted(tmp_path):
    rows = (_curve("random", 0, [0.5, 0.6, 0.8]) + _curve("random", 1, [0.5, 0.6, 0.8])
            + _curve("smart", 0, [0.5, 0.8, 0.9])   # reaches 0.8 at 20 labels: 30 / 20 = 1.5x
            + _curve("smart", 1, [0.5, 0.6, 0.7]))  # never reaches 0.8
    df = pd.DataFrame(rows)
    table = summary_table(df).set_index("strategy")
    assert table.loc["smart", "labels_saved"] == 1.5
    assert table.loc["smart", "reached"] == 1
    assert table.loc["smart", "final"] == 0.8  # mean of 0.9 and 0.7
    write_summary(df, tmp_path / "summary.md")
    text = (tmp_path / "summary.md").read_text()
    assert "| smart | 0.800 ± " in text
    assert "1.50x (reached in 1 of 2 seeds)" in text
