"""``labelwise strategies``, ``datasets`` and ``learners``: what the registries hold."""

from __future__ import annotations

import typer

from labelwise.cli.base import app


@app.command("strategies")
def list_strategies():
    """List the acquisition strategies with what they need from the learner and their papers."""
    from labelwise.strategies import STRATEGIES

    width = max(map(len, STRATEGIES))
    for name, s in STRATEGIES.items():
        needs = ", ".join(sorted(s.needs)) or "-"
        typer.echo(f"{name:<{width}}  {s.description} [needs: {needs}; {s.citation()}]")
    typer.echo("\nEvery strategy also runs as NAME+ft: fine-tuning on confident pseudo-labels "
               "before selecting (Khosla et al. 2022); it needs the pseudo_label_ft capability.")


@app.command("datasets")
def list_datasets():
    """List the built-in data sets (and how to get those that need an install)."""
    from labelwise.data import DATASETS

    width = max(map(len, DATASETS))
    for name, spec in DATASETS.items():
        extra = f" [needs: {spec.requires}]" if spec.requires else ""
        typer.echo(f"{name:<{width}}  {spec.description}{extra}")
    typer.echo(f"{'<file>':<{width}}  your own features: .npy/.npz/.csv/.parquet "
               "(a 'label' column, or arrays X and y)")
    typer.echo(f"{'<folder>':<{width}}  your own images: one subfolder per class (png/jpg/...)")
    typer.echo(f"{'<texts>':<{width}}  your own texts: .csv with a 'text' column, .tsv, .jsonl "
               "(optional 'label' column)")


@app.command("learners")
def list_learners():
    """List the learners with their capabilities (and whether they can warm-start)."""
    from labelwise.learners import LEARNERS

    width = max(map(len, LEARNERS))
    for name, spec in LEARNERS.items():
        extra = f" [needs: pip install \"labelwise[{spec.extra}]\"]" if spec.extra else ""
        warm = " [warm start]" if spec.cls.warm_starts else ""
        typer.echo(f"{name:<{width}}  {spec.description} "
                   f"[{', '.join(sorted(spec.capabilities))}]{warm}{extra}")
