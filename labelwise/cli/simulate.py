"""``labelwise run``: simulate active learning on a labeled data set."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import typer

from labelwise.cli.base import _check_at_least, _split, app, parse_learner_params


@app.command()
def run(
    dataset: str = typer.Option("mnist5k", help="built-in data set name, or a feature file path "
                                "(.npy/.npz/.csv/.parquet with a 'label' column), a folder of "
                                "images (one subfolder per class), or texts (.csv with a 'text' "
                                "column, .tsv, .jsonl)"),
    encoder: str = typer.Option(None, help="encoder of the raw images/texts (identity, "
                                "efficientnet-lite0, minilm, ...; cached). Default: pixels for "
                                "images, minilm for texts"),
    strategies: str = typer.Option("random,least_confidence,margin,entropy,coreset",
                                   help="comma-separated names (see `labelwise strategies`)"),
    seeds: int = typer.Option(3, help="number of seeds (runs per strategy)"),
    seed_size: int = typer.Option(20, help="size of the initial labeled set"),
    seed_set: str = typer.Option("balanced", help="seed set: balanced (reads the labels), "
                                 "random, or typiclust / probcover (picked from the features "
                                 "alone, no labels)"),
    batch_size: int = typer.Option(10, help="labels acquired per round"),
    rounds: int = typer.Option(20, help="number of acquisition rounds"),
    learner: str = typer.Option("logreg", help="learner name (see `labelwise learners`)"),
    learner_param: list[str] = typer.Option(None, "--learner-param", help="a learner setting "
                                            "KEY=VALUE, repeatable; VALUE is read as a Python "
                                            "literal, else kept as text (e.g. C=0.5)"),
    pool_subsample: int = typer.Option(None, help="choose each round among this many unlabeled "
                                       "items drawn at random (default: the whole pool)"),
    out: Path = typer.Option(None, help="output folder (default: runs/<dataset>-<time>)"),
    jobs: int = typer.Option(None, help="worker processes (default: one per core)"),
):
    """Simulate active learning on a labeled data set and write results, curves and a summary."""
    from labelwise.experiments.simulate import simulate
    from labelwise.validation import plural

    _check_at_least(1, seeds=seeds, seed_size=seed_size, batch_size=batch_size,
                    pool_subsample=pool_subsample, jobs=jobs)
    _check_at_least(0, rounds=rounds)
    if out is None:
        stem = Path(dataset).stem if Path(dataset).suffix or Path(dataset).is_dir() else dataset
        stem += f"-{encoder}" if encoder else ""
        out = Path("runs") / f"{stem}-{datetime.now():%Y%m%d-%H%M%S}"
    results = simulate(dataset=dataset, strategies=_split(strategies), seeds=seeds,
                       seed_size=seed_size, batch_size=batch_size, rounds=rounds,
                       learner=learner, pool_subsample=pool_subsample, seed_set=seed_set,
                       out=out, n_jobs=jobs, encoder=encoder,
                       learner_params=parse_learner_params(learner_param or []))
    typer.echo((out / "summary.md").read_text().split("\n\n*Labels saved*")[0])
    typer.echo(f"\n{plural(len(results), 'row')} written to {out}/ "
               "(results.csv, results.parquet, picks.csv, curves.png, summary.md)")
