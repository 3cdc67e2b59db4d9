"""Running a benchmark suite: one per paper, each a grid of runs plus the paper's claims checked
on it; each suite is defined in a module of its own (``*_suite.py``), imported here.

``run_suite(name, seeds, out, executor, quick)`` is what ``labelwise bench SUITE`` calls. A suite
builds its :class:`RunSpec` grid (``quick`` = a reduced grid for a smoke test), runs it through
:func:`labelwise.experiments.simulate.run_grid` (resumable: finished runs are stored in
``out/runs/``), and writes ``results.csv`` (one row per run and round), ``picks.csv``, PNG plots
and ``report.md`` with the claims table of :mod:`labelwise.experiments.claims`.

Strategies or learners that are not registered (yet) are left out of the grid and the report
says so; a claim that needs them reads "not run", never a made-up number.
"""

from __future__ import annotations

import time
from pathlib import Path

# each suite module registers its suites in SUITES when imported, in this order (the papers')
# isort: off
from labelwise.experiments import pretrained_suite  # noqa: F401
from labelwise.experiments import uncertainty_diversity_suite  # noqa: F401
from labelwise.experiments import heteroskedastic_suite  # noqa: F401
from labelwise.experiments import low_budget_suite  # noqa: F401
from labelwise.experiments import sampling_bias_suite  # noqa: F401
from labelwise.experiments import cold_start_suite  # noqa: F401
# isort: on
from labelwise.experiments.simulate import RunSpec
from labelwise.experiments.suite_base import SUITES, Suite, grid, suite  # noqa: F401 (re-exported)
from labelwise.validation import LabelwiseError, check_positive_int, unknown_name_error

#: the former private name of :func:`~labelwise.experiments.suite_base.grid`
_grid = grid


def with_strategies(specs: list[RunSpec], extra) -> list[RunSpec]:
    """``specs`` plus, for every setting (each distinct run but for its strategy), one run of each
    strategy in ``extra``: a strategy of your own beside a suite's, on the suite's own data,
    learner, budget and seeds (its claims table is unchanged; the plots and tables show it)."""
    from dataclasses import replace

    from labelwise.strategies import get_strategy

    extra = [get_strategy(name).name for name in extra]
    settings = dict.fromkeys(replace(sp, strategy="") for sp in specs)
    have = set(specs)
    out = list(specs)
    for setting in settings:
        out += [sp for name in extra
                if (sp := replace(setting, strategy=name)) not in have]
    return out


def available(spec: RunSpec) -> str | None:
    """Why ``spec`` cannot run here (a missing strategy, learner or capability), or None.

    The same lookups and capability check as the engine, so a strategy registered from user
    code (and its "+ft" variant) runs in a suite exactly when it runs anywhere else."""
    from labelwise.engine import check_capabilities
    from labelwise.learners import LEARNERS
    from labelwise.strategies import get_strategy

    try:
        strategy = get_strategy(spec.strategy)
    except LabelwiseError:
        return f"strategy {spec.strategy!r} is not registered"
    if spec.learner not in LEARNERS:
        return f"learner {spec.learner!r} is not registered"
    try:
        check_capabilities(strategy, LEARNERS[spec.learner].cls)
    except LabelwiseError:
        missing = strategy.needs - set(LEARNERS[spec.learner].capabilities)
        return f"learner {spec.learner!r} lacks {', '.join(sorted(missing))}"
    return None


def run_suite(name: str, seeds: int = 3, out: str | Path | None = None, executor: str = "local",
              quick: bool = False, n_jobs: int | None = None, ray_address: str | None = None,
              progress: bool = True, report_only: bool = False,
              add_strategies: tuple[str, ...] | list[str] = ()) -> Path:
    """Run benchmark suite ``name`` and write its table, plots and report.md into ``out``.

    Returns the output folder. Runs already stored in ``out/runs/`` are not redone. With
    ``report_only``, nothing runs: the report is written from the runs finished so far (e.g.
    of a grid still running or interrupted), and says how many are missing.
    """
    from labelwise.experiments.simulate import run_grid
    from labelwise.experiments.suite_report import write_suite_report

    if name not in SUITES:
        raise unknown_name_error("suite", name, SUITES)
    seeds = check_positive_int(seeds, "seeds", minimum=2 if not quick else 1)
    s = SUITES[name]
    out = Path(out or Path("runs") / f"bench-{name}{'-quick' if quick else ''}")
    specs = with_strategies(s.specs(quick, seeds), add_strategies)
    skipped: dict[str, str] = {}
    runnable = []
    for spec in specs:
        why = available(spec)
        if why is None:
            runnable.append(spec)
        else:
            skipped[f"{spec.strategy} ({spec.learner})"] = why
    if not runnable:
        raise LabelwiseError(f"suite {name!r}: none of its runs can start here: "
                             + "; ".join(sorted(set(skipped.values()))))
    if report_only:
        from labelwise.experiments.executors import RunStore
        from labelwise.experiments.simulate import grid_tables

        store = RunStore(out)
        done = [(sp, store.load(sp)) for sp in runnable]
        done = [(sp, o) for sp, o in done if o is not None]
        if not done:
            raise LabelwiseError(f"no finished runs of suite {name!r} in {out}/runs/")
        results, picks = grid_tables([sp for sp, _ in done], [o for _, o in done])
        results.to_csv(out / "results.csv", index=False)
        picks.to_csv(out / "picks.csv", index=False)
        write_suite_report(s, results, picks, out, skipped=skipped, seconds=float("nan"),
                           quick=quick, seeds=seeds, executor=executor,
                           missing=len(runnable) - len(done))
        return out
    from labelwise.experiments.executors import lock_folder

    with lock_folder(out):  # a second bench on the same folder would redo every run
        t0 = time.perf_counter()
        # build each data set once here, so the workers find its embeddings in the disk cache
        from rich.progress import track

        from labelwise.experiments.simulate import _cached_dataset

        keys = list(dict.fromkeys((sp.dataset, sp.dataset_params) for sp in runnable))
        for key in track(keys, description="building and encoding data sets",
                         disable=not progress, transient=True):
            _cached_dataset(*key)
        results, picks = run_grid(runnable, n_jobs=n_jobs, progress=progress,
                                  executor=executor, ray_address=ray_address, store=out)
        seconds = time.perf_counter() - t0
        results.to_csv(out / "results.csv", index=False)
        picks.to_csv(out / "picks.csv", index=False)
        write_suite_report(s, results, picks, out, skipped=skipped, seconds=seconds,
                           quick=quick, seeds=seeds, executor=executor)
    return out
