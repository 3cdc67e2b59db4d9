"""Executors: local vs Ray give identical tables; an interrupted grid resumes from the store."""

import json

import pandas as pd
import pytest

from labelwise.experiments import executors
from labelwise.experiments.simulate import RunSpec, run_grid, run_one
from labelwise.validation import LabelwiseError

TIMING = ["query_seconds", "train_seconds"]

SPECS = [RunSpec("gaussians", s, "logreg", seed, seed_size=4, batch_size=4, rounds=2,
                 dataset_params=(("n", 400), ("n_test", 200)))
         for s in ("random", "margin") for seed in range(2)]

CALLS: list = []


def counting_run(spec):
    CALLS.append(spec)
    if spec.rounds == 99:
        raise KeyboardInterrupt  # an interruption in the middle of the grid
    return run_one(spec)


def _strip(df: pd.DataFrame) -> pd.DataFrame:
    return df.drop(columns=TIMING).reset_index(drop=True)


def test_spec_key_is_stable_and_distinct():
    assert executors.spec_key(SPECS[0]) == executors.spec_key(
        RunSpec("gaussians", "random", "logreg", 0, seed_size=4, batch_size=4, rounds=2,
                dataset_params=(("n", 400), ("n_test", 200))))
    assert len({executors.spec_key(s) for s in SPECS}) == len(SPECS)


def test_interrupted_grid_resumes(tmp_path):
    CALLS.clear()
    broken = SPECS + [RunSpec("gaussians", "random", "logreg", 0, rounds=99)]
    with pytest.raises(KeyboardInterrupt):
        executors.execute(broken, counting_run, n_jobs=1, store=tmp_path, progress=False)
    # runs go seed-major: random 0, margin 0, then the broken seed-0 run stops the grid
    assert CALLS == [SPECS[0], SPECS[2], broken[-1]]
    assert len(list((tmp_path / "runs").glob("*.json"))) == 2  # the two finished runs
    # a half-written file from the killed run must not count as finished
    (tmp_path / "runs" / f"{executors.spec_key(SPECS[1])}.json").write_text("{trunc")
    CALLS.clear()
    out = executors.execute(SPECS, counting_run, n_jobs=1, store=tmp_path, progress=False)
    assert CALLS == [SPECS[1], SPECS[3]]  # only the unfinished runs ran again
    fresh = executors.execute(SPECS, run_one, n_jobs=1, progress=False)
    for a, b in zip(out, fresh, strict=True):
        pd.testing.assert_frame_equal(_strip(pd.DataFrame(a["results"])),
                                      _strip(pd.DataFrame(b["results"])))
    saved = json.loads(next((tmp_path / "runs").glob("*.json")).read_text())
    assert set(saved) == {"spec", "output"}


def test_unknown_executor():
    with pytest.raises(LabelwiseError, match="local, ray"):
        executors.execute(SPECS, run_one, executor="dask")


def test_local_processes_and_ray_give_identical_tables(tmp_path):
    pytest.importorskip("ray")
    serial, serial_picks = run_grid(SPECS, n_jobs=1, progress=False)
    local, local_picks = run_grid(SPECS, n_jobs=2, progress=False)
    # one Ray CPU: starting Ray and its worker dominates this test's time
    ray_res, ray_picks = run_grid(SPECS, executor="ray", n_jobs=1, progress=False,
                                  store=tmp_path)
    pd.testing.assert_frame_equal(_strip(serial), _strip(local))
    pd.testing.assert_frame_equal(_strip(local), _strip(ray_res))
    pd.testing.assert_frame_equal(local_picks, ray_picks)
    pd.testing.assert_frame_equal(serial_picks, ray_picks)
    assert len(list((tmp_path / "runs").glob("*.json"))) == len(SPECS)
