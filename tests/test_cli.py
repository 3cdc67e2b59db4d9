"""The command line end to end with a tiny budget, and its one-line errors."""

import os
import sys

import pandas as pd
import pytest

from labelwise.cli import _check_port, main


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


def _one_line_error(capsys) -> str:
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: "), err
    return err.strip()


@pytest.mark.parametrize("args, message", [
    (["run", "--jobs", "0"], "--jobs must be an integer >= 1, got 0"),
    (["run", "--jobs", "-3"], "--jobs must be an integer >= 1, got -3"),
    (["run", "--seeds", "0"], "--seeds must be an integer >= 1, got 0"),
    (["run", "--seed-size", "0"], "--seed-size must be an integer >= 1, got 0"),
    (["run", "--batch-size", "-1"], "--batch-size must be an integer >= 1, got -1"),
    (["run", "--rounds", "-1"], "--rounds must be an integer >= 0, got -1"),
    (["run", "--pool-subsample", "0"], "--pool-subsample must be an integer >= 1, got 0"),
    (["bench", "low-budget", "--jobs", "0"], "--jobs must be an integer >= 1, got 0"),
    (["bench", "low-budget", "--seeds", "-2"], "--seeds must be an integer >= 1, got -2"),
    (["label", "p", "--port", "70000"], "--port must be 1-65535, got 70000"),
    (["label", "p", "--port", "0"], "--port must be 1-65535, got 0"),
    (["init", "p", "--data", "d", "--batch-size", "0"],
     "--batch-size must be an integer >= 1, got 0"),
    (["init", "p", "--data", "d", "--labels-per-item", "0"],
     "--labels-per-item must be an integer >= 1, got 0"),
    (["init", "p", "--data", "d", "--seed", "-1"], "--seed must be an integer >= 0, got -1"),
])
def test_numeric_options_out_of_range_are_one_line_errors(args, message, capsys, tmp_path,
                                                          monkeypatch):
    monkeypatch.chdir(tmp_path)  # nothing may be written, not even a default runs/ folder
    assert main(args) == 2
    assert _one_line_error(capsys) == f"error: {message}"
    assert list(tmp_path.iterdir()) == []


def test_label_on_a_port_in_use_names_it(capsys, tmp_path):
    import socket

    pytest.importorskip("fastapi")
    pytest.importorskip("uvicorn")
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        assert main(["label", str(tmp_path), "--port", str(port)]) == 2
        assert _one_line_error(capsys) == (f"error: port {port} on 127.0.0.1 is in use: "
                                           "pass --port N")
    _check_port("127.0.0.1", port)  # closed again: free, no error


def test_init_onto_a_file_is_a_one_line_error(capsys, tmp_path):
    taken = tmp_path / "notes.txt"
    taken.write_text("not a project")
    data = tmp_path / "texts.csv"
    data.write_text("text\nhello\nworld\n")
    for target in (taken, taken / "project"):
        assert main(["init", str(target), "--data", str(data)]) == 2
        assert _one_line_error(capsys) == (f"error: {taken} is a file, not a folder: choose "
                                           "another path for the project")
    assert taken.read_text() == "not a project"


def test_counts_of_one_are_singular(tmp_path, capsys):
    out = tmp_path / "one"
    assert main(["run", "--dataset", "digits", "--strategies", "random", "--seeds", "1",
                 "--rounds", "0", "--out", str(out), "--jobs", "1"]) == 0
    printed = capsys.readouterr().out
    assert f"1 row written to {out}/" in printed
    assert "1 seed, 20 to 20 labels." in printed and "1 seeds" not in printed


def test_a_run_on_a_folder_in_use_stops_at_once(tmp_path, capsys):
    from labelwise.experiments.executors import lock_folder

    with lock_folder(tmp_path):
        assert main(["run", "--dataset", "digits", "--strategies", "random", "--seeds", "1",
                     "--rounds", "0", "--out", str(tmp_path), "--jobs", "1"]) == 2
    assert _one_line_error(capsys) == (
        f"error: {tmp_path} is in use by another labelwise run (pid {os.getpid()}): "
        "wait for it to finish or pass another --out")
    assert not (tmp_path / "results.csv").exists()
