"""Run a grid of simulated active-learning runs and write the tidy results.

``simulate()`` is what ``labelwise run`` calls: every (strategy, seed) pair is one independent run
of :func:`labelwise.loop.run_active_learning`; runs go to worker processes, and the results are one
row per (strategy, seed, round).
"""

from __future__ import annotations

import os
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import asdict, dataclass
from functools import lru_cache
from pathlib import Path

import pandas as pd

from labelwise.validation import LabelwiseError

DEFAULT_STRATEGIES = ("random", "least_confidence", "margin", "entropy", "coreset")


@dataclass(frozen=True)
class RunSpec:
    """One simulated run: everything needed to reproduce it."""

    dataset: str
    strategy: str
    learner: str
    seed: int
    seed_size: int = 20
    batch_size: int = 10
    rounds: int = 20
    pool_subsample: int | None = None
    seed_set: str = "balanced"


@lru_cache(maxsize=4)
def _cached_dataset(name: str):
    from labelwise.data import load_dataset

    return load_dataset(name)


def run_one(spec: RunSpec) -> tuple[list[dict], list[dict]]:
    """Execute one run; returns (result rows, pick rows) as lists of dicts."""
    from labelwise.loop import run_active_learning

    ds = _cached_dataset(spec.dataset)
    records = run_active_learning(
        ds.X_train, ds.y_train, ds.X_test, ds.y_test,
        strategy=spec.strategy, learner=spec.learner, seed_size=spec.seed_size,
        seed_set=spec.seed_set, batch_size=spec.batch_size, rounds=spec.rounds,
        pool_subsample=spec.pool_subsample, random_state=spec.seed,
    )
    keys = {"dataset": Path(spec.dataset).name if os.sep in spec.dataset else spec.dataset,
            "strategy": spec.strategy, "learner": spec.learner, "seed": spec.seed}
    rows, picks = [], []
    for rec in records:
        rows.append({**keys, "round": rec.round, "n_labeled": rec.n_labeled, **rec.metrics,
                     "query_seconds": rec.query_seconds, "train_seconds": rec.train_seconds})
        for order, idx in enumerate(rec.picks.tolist()):
            picks.append({**keys, "round": rec.round, "order": order, "pool_index": idx,
                          "label": int(ds.y_train[idx])})
    return rows, picks


def _init_worker():
    # one BLAS/torch thread per worker process: the grid is already parallel across processes
    from threadpoolctl import threadpool_limits

    threadpool_limits(1)
    try:
        import torch

        torch.set_num_threads(1)
    except ImportError:
        pass


def run_grid(specs: list[RunSpec], n_jobs: int | None = None, progress: bool = True):
    """Run every spec (in parallel worker processes when ``n_jobs`` > 1).

    Returns (results DataFrame, picks DataFrame), sorted by strategy order, seed and round.
    """
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

    n_jobs = n_jobs or min(os.cpu_count() or 1, len(specs))
    rows, picks = [], []
    with Progress("[progress.description]{task.description}", BarColumn(), MofNCompleteColumn(),
                  TimeElapsedColumn(), disable=not progress, transient=False) as bar:
        task = bar.add_task("runs", total=len(specs))
        if n_jobs <= 1:
            for spec in specs:
                bar.update(task, description=f"{spec.strategy} seed {spec.seed}")
                r, p = run_one(spec)
                rows += r
                picks += p
                bar.advance(task)
        else:
            import multiprocessing as mp

            with ProcessPoolExecutor(n_jobs, mp_context=mp.get_context("spawn"),
                                     initializer=_init_worker) as pool:
                futures = {pool.submit(run_one, s): s for s in specs}
                for fut in as_completed(futures):
                    r, p = fut.result()
                    rows += r
                    picks += p
                    spec = futures[fut]
                    bar.update(task, description=f"done {spec.strategy} seed {spec.seed}")
                    bar.advance(task)
    order = {s.strategy: i for i, s in enumerate(specs)}
    results = pd.DataFrame(rows)
    results = results.sort_values(["strategy", "seed", "round"],
                                  key=lambda c: c.map(order) if c.name == "strategy" else c)
    picks_df = pd.DataFrame(picks, columns=["dataset", "strategy", "learner", "seed", "round",
                                            "order", "pool_index", "label"])
    picks_df = picks_df.sort_values(["strategy", "seed", "round", "order"],
                                    key=lambda c: c.map(order) if c.name == "strategy" else c)
    return results.reset_index(drop=True), picks_df.reset_index(drop=True)


def simulate(
    dataset: str = "mnist5k",
    strategies=DEFAULT_STRATEGIES,
    seeds: int = 3,
    seed_size: int = 20,
    batch_size: int = 10,
    rounds: int = 20,
    learner: str = "logreg",
    pool_subsample: int | None = None,
    seed_set: str = "balanced",
    out: str | Path | None = None,
    n_jobs: int | None = None,
    progress: bool = True,
) -> pd.DataFrame:
    """Simulate active learning for every strategy and seed on one data set; write the outputs.

    Validates every name before any work, runs the grid, and (when ``out`` is given) writes
    ``results.csv``, ``results.parquet``, ``picks.csv``, ``curves.png`` and ``summary.md``.

    Returns:
        The results table: one row per (strategy, seed, round).
    """
    from labelwise.data import DATASETS, load_dataset
    from labelwise.learners import LEARNERS, make_learner
    from labelwise.loop import check_capabilities
    from labelwise.strategies import get_strategy
    from labelwise.validation import check_positive_int

    strategies = list(dict.fromkeys(strategies))
    if not strategies:
        raise LabelwiseError("no strategies given")
    strats = [get_strategy(s) for s in strategies]
    if learner not in LEARNERS:
        make_learner(learner, 2)  # raises the unknown-learner error
    for s in strats:
        check_capabilities(s, LEARNERS[learner].cls)
    seeds = check_positive_int(seeds, "seeds")
    if dataset not in DATASETS:
        load_dataset(dataset)  # raises a clear error for bad names or files before forking
    specs = [RunSpec(dataset, s, learner, seed, seed_size, batch_size, rounds, pool_subsample,
                     seed_set) for s in strategies for seed in range(seeds)]
    # fail fast on bad options (seed size, batch size...) with one quick round in this process
    ds = _cached_dataset(dataset)
    if seed_size > len(ds.X_train):
        raise LabelwiseError(f"seed size {seed_size} is larger than the pool ({len(ds.X_train)})")
    check_positive_int(batch_size, "batch size")
    check_positive_int(rounds, "rounds", minimum=0)
    results, picks = run_grid(specs, n_jobs=n_jobs, progress=progress)
    if out is not None:
        write_outputs(results, picks, out, {**asdict(specs[0]), "strategies": strategies,
                                            "seeds": seeds})
    return results


def write_outputs(results: pd.DataFrame, picks: pd.DataFrame, out: str | Path,
                  config: dict | None = None) -> Path:
    """Write the results table, the picks, the learning curves and the summary into ``out``."""
    import json

    from labelwise.experiments.report import plot_learning_curves, write_summary

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    results.to_csv(out / "results.csv", index=False)
    results.to_parquet(out / "results.parquet", index=False)
    picks.to_csv(out / "picks.csv", index=False)
    plot_learning_curves(results, out / "curves.png")
    write_summary(results, out / "summary.md")
    if config is not None:
        config = {k: v for k, v in config.items() if k not in ("strategy", "seed")}
        (out / "config.json").write_text(json.dumps(config, indent=2, default=str))
    return out


