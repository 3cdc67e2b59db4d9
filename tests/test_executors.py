"""Executors: local vs Ray give identical tables; an interrupted grid resumes from the store."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from labelwise.experiments import executors
from labelwise.experiments.simulate import RunSpec, run_grid, run_one
from labelwise.experiments.suites import run_suite
from labelwise.validation import LabelwiseError

TIMING = ["query_seconds", "train_seconds", "stopping_seconds"]

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


def _start(code: str, stdout=subprocess.PIPE) -> subprocess.Popen:
    """A Python child of this test running ``code`` with this checkout's package."""
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    return subprocess.Popen([sys.executable, "-c", code], env=env, stdout=stdout,
                            stderr=subprocess.DEVNULL, text=True)


def test_a_folder_holds_one_grid_at_a_time(tmp_path):
    holder = _start("import time\n"
                    "from labelwise.experiments.executors import lock_folder\n"
                    f"with lock_folder({str(tmp_path)!r}):\n"
                    "    print('held', flush=True)\n"
                    "    time.sleep(600)\n")
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(LabelwiseError) as e:
            with executors.lock_folder(tmp_path):
                pass
        assert str(e.value) == (f"{tmp_path} is in use by another labelwise run "
                                f"(pid {holder.pid}): wait for it to finish or pass another --out")
        with pytest.raises(LabelwiseError, match="in use"):  # bench checks before any work
            run_suite("low-budget", seeds=1, quick=True, out=tmp_path, progress=False)
    finally:
        holder.kill()  # kill -9: the system drops the lock with the process
        holder.wait()
    assert (tmp_path / executors.LOCK_NAME).exists()  # left by the killed holder
    with executors.lock_folder(tmp_path):
        assert (tmp_path / executors.LOCK_NAME).read_text() == f"{os.getpid()}\n"
    assert not (tmp_path / executors.LOCK_NAME).exists()  # removed when the run ends


def _children(pid: int) -> list[int]:
    """Live (not zombie) processes whose parent is ``pid``, from /proc."""
    out = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # ended meanwhile
        if int(fields[1]) == pid and fields[0] != "Z":
            out.append(int(stat.parent.name))
    return out


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"  # a zombie has ended; only its exit status waits to be collected


@pytest.mark.slow  # 13-31 s on the shared 2-core machine: three Python start-ups
@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads /proc (Linux)")
def test_workers_end_when_the_grid_is_killed(tmp_path):
    """kill -9 of `labelwise run` must not leave its worker processes running."""
    import numpy as np

    rng = np.random.default_rng(0)
    np.savez(tmp_path / "toy.npz", X=rng.normal(size=(300, 4)), y=np.arange(300) % 2)
    out = tmp_path / "out"
    grid = _start("from labelwise.cli import main\n"
                  f"main(['run', '--dataset', {str(tmp_path / 'toy.npz')!r}, '--strategies', "
                  f"'random', '--seeds', '200', '--rounds', '20', '--batch-size', '5', "
                  f"'--jobs', '2', '--out', {str(out)!r}])\n", stdout=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        # a stored run: the workers are up and past their initializer, runs remain
        while not list((out / "runs").glob("*.json")):
            assert grid.poll() is None and time.monotonic() < deadline, "the grid did not start"
            time.sleep(0.1)
        workers = [p for p in _children(grid.pid)
                   if "--multiprocessing-fork" in Path(f"/proc/{p}/cmdline").read_text()]
        assert len(workers) >= 2 and all(map(_alive, workers))
    finally:
        grid.kill()
        grid.wait()
    deadline = time.monotonic() + 5
    while any(map(_alive, workers)) and time.monotonic() < deadline:
        time.sleep(0.05)
    left = [p for p in workers if _alive(p)]
    for p in left:  # don't leave them behind when the test fails
        os.kill(p, signal.SIGKILL)
    assert not left, f"workers {left} outlived their killed parent"
