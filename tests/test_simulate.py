"""simulate (what `labelwise run` calls): seed-set kinds and the stopping columns of the results."""

import numpy as np
import pandas as pd
import pytest

from labelwise.cli import main
from labelwise.experiments.simulate import RunSpec, _pseudo_label_columns, run_one
from labelwise.loop import initial_labeled_set
from labelwise.stopping import CRITERIA, RECOMMENDED, value_column


def test_run_with_a_typiclust_seed_set_writes_stopping_columns(tmp_path, capsys, digits):
    out = tmp_path / "run"
    code = main(["run", "--dataset", "digits", "--strategies", "random,margin", "--seeds", "1",
                 "--seed-set", "typiclust", "--seed-size", "10", "--rounds", "4",
                 "--batch-size", "10", "--out", str(out), "--jobs", "1"])
    assert code == 0, capsys.readouterr().err
    results = pd.read_csv(out / "results.csv")
    assert set(results["seed_set"]) == {"typiclust"}
    for c in (*CRITERIA, RECOMMENDED):
        assert {value_column(c), f"{c}_threshold", f"{c}_stop"} <= set(results.columns)
        assert results[f"{c}_stop"].dtype == bool
    assert (results["stopping_seconds"] > 0).all()
    # both strategies start from the same TypiClust seed set, picked without the labels
    seed = initial_labeled_set(digits.y_train, 10, 10, "typiclust", 0, X=digits.X_train)
    picks = pd.read_csv(out / "picks.csv")
    assert not set(picks["pool_index"]) & set(seed.tolist())
    first = results[results["round"] == 0].set_index("strategy")["accuracy"]
    assert first["random"] == first["margin"]  # the same seed set, the same first model
    summary = (out / "summary.md").read_text().split("## When to stop")[1]
    assert "| strategy | stabilizing predictions | overall uncertainty | max confidence | " \
           "accuracy plateau | recommended |" in summary
    assert "| margin |" in summary


def test_an_unknown_seed_set_is_a_one_line_error(tmp_path, capsys):
    code = main(["run", "--dataset", "digits", "--seed-set", "kmeans", "--out",
                 str(tmp_path / "x")])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1
    assert "typiclust, probcover" in err
    assert not (tmp_path / "x").exists()


def test_run_one_rows_say_how_the_seed_set_was_drawn():
    spec = RunSpec("digits", "margin", "logreg", seed=1, seed_size=10, batch_size=5, rounds=1,
                   seed_set="probcover", stopping_cv=False)
    rows = run_one(spec)["results"]
    assert [r["seed_set"] for r in rows] == ["probcover", "probcover"]
    # no cross-validated accuracy asked for: the plateau has no value
    assert all(np.isnan(r["accuracy_plateau_gain"]) for r in rows)
    assert np.isfinite(rows[0]["overall_uncertainty_mean_entropy"])


@pytest.mark.parametrize("seed_set", ["typiclust", "probcover"])
def test_cold_start_seed_sets_refuse_raw_items(seed_set):
    from labelwise.experiments.simulate import _check_seed_set
    from labelwise.validation import LabelwiseError

    with pytest.raises(LabelwiseError, match="raw items"):
        _check_seed_set(seed_set, "items")
    _check_seed_set(seed_set, None)


def test_ft_rounds_record_what_the_fine_tuning_did():
    assert _pseudo_label_columns(None) == {}
    cols = _pseudo_label_columns({"n_confident": 12, "skipped": False})
    assert cols == {"ft_pseudo_labels": 12.0, "ft_skipped": False}
    assert _pseudo_label_columns({"n_pseudo_labels": 3, "skipped": True})["ft_skipped"]
