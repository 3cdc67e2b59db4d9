"""``labelwise bench SUITE``: reproduce a paper's claims with a benchmark suite."""

from __future__ import annotations

from pathlib import Path

import typer

from labelwise.cli.base import _check_at_least, app


@app.command("bench")
def bench(
    suite: str = typer.Argument(..., help="pretrained, pretrained-finetune, "
                                "uncertainty-vs-diversity, heteroskedastic, "
                                "heteroskedastic-scratch, low-budget, sampling-bias, "
                                "cold-start or stopping"),
    seeds: int = typer.Option(None, help="seeds per strategy and setting (default 3; 1 for "
                              "stopping)"),
    out: Path = typer.Option(None, help="output folder (default: runs/bench-<suite>[-quick]); "
                             "finished runs stored there are not redone"),
    executor: str = typer.Option("local", help="local (worker processes) or ray"),
    ray_address: str = typer.Option(None, help="Ray cluster address (default: a local Ray)"),
    jobs: int = typer.Option(None, help="local worker processes (default: one per core)"),
    quick: bool = typer.Option(False, "--quick", help="a reduced grid (minutes)"),
    report_only: bool = typer.Option(False, "--report-only",
                                     help="run nothing: report on the runs finished in --out"),
    add_strategies: str = typer.Option("", help="comma-separated strategies to run beside the "
                                       "suite's (e.g. one of your own), in every setting"),
):
    """Reproduce a paper's claims: run a benchmark suite, write results, plots and report.md."""
    from labelwise.experiments.suites import run_suite

    if suite == "stopping":  # its own runner: criteria judged per data set, not a strategy grid
        from labelwise.experiments.stopping_suite import run_stopping_suite

        _check_at_least(1, seeds=seeds)
        folder = run_stopping_suite(out, seeds=1 if seeds is None else seeds, quick=quick)
        typer.echo((folder / "report.md").read_text().split("## Report sets")[0].rstrip())
        typer.echo(f"\nwritten to {folder}/ (results.csv, stops.csv, stopping.png, report.md)")
        return
    seeds = 3 if seeds is None else seeds
    _check_at_least(1, seeds=seeds, jobs=jobs)
    extra = [s.strip() for s in add_strategies.split(",") if s.strip()]
    folder = run_suite(suite, seeds=seeds, out=out, executor=executor, quick=quick, n_jobs=jobs,
                       ray_address=ray_address, report_only=report_only, add_strategies=extra)
    report = (folder / "report.md").read_text()
    typer.echo(report.split("## Final round")[0].rstrip())
    typer.echo(f"\nwritten to {folder}/ (results.csv, picks.csv, *.png, report.md)")
