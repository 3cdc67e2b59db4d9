"""The command line end to end with a tiny budget, and its one-line errors."""

import sys

import pandas as pd

from labelwise.cli import main


def test_run_writes_every_output(tmp_path, capsys):
    out = tmp_path / "run"
    code = main(["run", "--dataset", "digits", "--strategies", "random,margin,coreset",
                 "--seeds", "2", "--rounds", "2", "--batch-size", "5", "--out", str(out),
                 "--jobs", "1"])
    assert code == 0
    for name in ("results.csv", "results.parquet", "picks.csv", "curves.png", "summary.md"):
        assert (out / name).stat().st_size > 0, name
    results = pd.read_csv(out / "results.csv")
    needed = {"dataset", "strategy", "learner", "seed", "round", "n_labeled", "accuracy",
              "macro_f1", "query_seconds", "train_seconds"}
    assert needed <= set(results.columns)
    assert len(results) == 3 * 2 * 3  # strategies x seeds x (rounds + 1)
    assert results["n_labeled"].max() == 30
    picks = pd.read_csv(out / "picks.csv")
    assert len(picks) == 3 * 2 * 2 * 5
    assert not picks.duplicated(["strategy", "seed", "pool_index"]).any()
    summary = (out / "summary.md").read_text()
    assert "| margin |" in summary and "labels saved" in summary
    assert "| margin |" in capsys.readouterr().out


def test_parallel_workers_give_the_same_table(tmp_path):
    args = ["run", "--dataset", "digits", "--strategies", "entropy", "--seeds", "2",
            "--rounds", "1"]
    assert main(args + ["--out", str(tmp_path / "a"), "--jobs", "1"]) == 0
    assert main(args + ["--out", str(tmp_path / "b"), "--jobs", "2"]) == 0
    a = pd.read_csv(tmp_path / "a" / "picks.csv")
    b = pd.read_csv(tmp_path / "b" / "picks.csv")
    pd.testing.assert_frame_equal(a, b)


def test_listings(capsys):
    assert main(["strategies"]) == 0
    out = capsys.readouterr().out
    assert "least_confidence" in out and "coreset" in out
    assert main(["datasets"]) == 0
    assert "mnist5k" in capsys.readouterr().out
    assert main(["learners"]) == 0
    lines = {ln.split()[0]: ln for ln in capsys.readouterr().out.splitlines()}
    assert lines["mlp"].endswith('[needs: pip install "labelwise[torch]"]')
    assert "needs" not in lines["logreg"]


def test_unknown_names_are_one_line_errors(capsys, tmp_path):
    assert main(["run", "--strategies", "margin,nope", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: unknown strategy 'nope'") and "margin" in err
    assert err.count("\n") == 1
    assert main(["run", "--dataset", "cifar10", "--out", str(tmp_path)]) == 2
    assert "unknown dataset 'cifar10'" in capsys.readouterr().err
    assert main(["run", "--dataset", "digits", "--learner", "xgb", "--out", str(tmp_path)]) == 2
    assert "unknown learner 'xgb'" in capsys.readouterr().err


def test_usage_errors_and_missing_extras_are_messages_not_tracebacks(capsys, monkeypatch,
                                                                      tmp_path):
    assert main(["run", "--no-such-option"]) == 2
    assert "No such option" in capsys.readouterr().err
    # the labeling server without its optional dependencies installed
    monkeypatch.delitem(sys.modules, "labelwise.app.server", raising=False)
    monkeypatch.setitem(sys.modules, "uvicorn", None)
    monkeypatch.setitem(sys.modules, "fastapi", None)
    assert main(["label", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: this needs the optional package") and "labelwise[app]" in err


def test_a_logreg_run_imports_no_torch(tmp_path):
    """The core install has no torch: `import labelwise` and a logreg run must not need it."""
    import subprocess
    from pathlib import Path

    code = (
        "import sys, labelwise\n"
        "assert 'torch' not in sys.modules\n"
        "from labelwise.cli import main\n"
        "code = main(['run', '--dataset', 'digits', '--strategies', 'random,margin,coreset',\n"
        "             '--seeds', '1', '--rounds', '1', '--batch-size', '5', '--jobs', '1',\n"
        f"             '--out', {str(tmp_path / 'run')!r}])\n"
        "print('exit', code, 'torch' in sys.modules)\n"
    )
    root = Path(__file__).resolve().parents[1]
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=root,
                         timeout=300)
    assert out.stdout.strip().splitlines()[-1] == "exit 0 False", out.stderr[-2000:]


def test_learner_params_are_parsed_as_literals_or_text():
    from labelwise.cli import parse_learner_params

    assert parse_learner_params(["C=0.5", "class_weight=balanced", "C_grid=[1, 10]",
                                 "max_iter = 50", "name='a=b'", "x=None"]) == {
        "C": 0.5, "class_weight": "balanced", "C_grid": (1, 10), "max_iter": 50,
        "name": "a=b", "x": None}


def test_learner_param_reaches_the_learner(tmp_path):
    args = ["run", "--dataset", "digits", "--strategies", "random", "--seeds", "1",
            "--rounds", "0", "--jobs", "1"]
    assert main(args + ["--out", str(tmp_path / "a")]) == 0
    assert main(args + ["--out", str(tmp_path / "b"), "--learner-param", "C=1e-5",
                        "--learner-param", "max_iter=50"]) == 0
    plain = pd.read_csv(tmp_path / "a" / "results.csv")["accuracy"].iloc[0]
    weak = pd.read_csv(tmp_path / "b" / "results.csv")["accuracy"].iloc[0]
    assert plain > 0.6 and weak < plain - 0.1  # C=1e-5 shrinks the weights to almost nothing
    config = (tmp_path / "b" / "config.json").read_text()
    assert '"C",\n      1e-05' in config and '"max_iter",\n      50' in config


def test_bad_learner_params_are_one_line_errors(capsys, tmp_path):
    base = ["run", "--dataset", "digits", "--seeds", "1", "--rounds", "1", "--out", str(tmp_path)]
    assert main(base + ["--learner-param", "foo"]) == 2
    err = capsys.readouterr().err
    assert err == "error: --learner-param takes KEY=VALUE (e.g. C=0.5), got 'foo'\n"
    assert main(base + ["--learner-param", "depth=3"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: bad parameters for learner 'logreg':") and "depth" in err
    assert err.count("\n") == 1
    assert not any(tmp_path.iterdir())  # nothing was written
