"""The labeling project's commands: ``init``, ``import-labels``, ``label``, ``export``,
``status`` and the ``annotators`` group."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import typer

from labelwise.cli.base import _check_at_least, _check_port, app, parse_learner_params


@app.command("init")
def init_cmd(
    project: Path = typer.Argument(..., help="project folder to create"),
    data: Path = typer.Option(..., help="a folder of images (one subfolder per class, or flat) "
                              "or a .csv/.tsv/.jsonl file of texts"),
    classes: str = typer.Option(None, help="comma-separated class names (default: the labels "
                                "found in the data)"),
    encoder: str = typer.Option(None, help="encoder name (default: efficientnet-lite0 for "
                                "images, minilm for texts; see labelwise.encoders)"),
    strategy: str = typer.Option("margin", help="acquisition strategy"),
    learner: str = typer.Option("logreg", help="learner name"),
    batch_size: int = typer.Option(10, help="items per batch"),
    labels_per_item: int = typer.Option(1, help="annotators per item (2+ = double labeling)"),
    labels: Path = typer.Option(None, help="CSV of existing labels (columns id,label)"),
    text_column: str = typer.Option("text", help="text column of a CSV/JSONL"),
    label_column: str = typer.Option("label", help="label column of a CSV/JSONL"),
    seed: int = typer.Option(0, help="random seed"),
    learner_param: list[str] = typer.Option(None, "--learner-param", help="a learner setting "
                                            "KEY=VALUE, kept in the project (repeatable)"),
    cold_start: str = typer.Option("typiclust", help="strategy for the first batches, before "
                                   "two classes are labeled: typiclust, probcover or random"),
    warm_start: bool = typer.Option(False, "--warm-start", help="start each model's fit from "
                                    "the previous one (faster on many labels; the learners "
                                    "`labelwise learners` marks \\[warm start], and partial_fit "
                                    "classifiers): picks then depend on the history, not only "
                                    "on the labels"),
):
    """Create a labeling project: database, embeddings (cached) and the first batch."""
    from labelwise.app.create import init_project
    from labelwise.validation import plural

    _check_at_least(1, batch_size=batch_size, labels_per_item=labels_per_item)
    _check_at_least(0, seed=seed)
    proj = init_project(project, data, classes=classes, encoder=encoder, strategy=strategy,
                        learner=learner, batch_size=batch_size, labels_per_item=labels_per_item,
                        labels_csv=labels, text_column=text_column, label_column=label_column,
                        random_state=seed, cold_start=cold_start, warm_start=warm_start,
                        learner_params=parse_learner_params(learner_param or []))
    s = proj.status()
    typer.echo(f"created {proj.path}: {plural(s['items'], s['modality'] + ' item')}, classes "
               f"{', '.join(s['classes'])}, {plural(s['labels'], 'label')} imported")
    typer.echo(f"next: labelwise label {project}")


@app.command("import-labels")
def import_labels_cmd(
    project: Path = typer.Argument(..., help="project folder"),
    labels: Path = typer.Argument(..., help="CSV with columns id,label"),
):
    """Import existing labels into a project."""
    from labelwise.app.project import Project
    from labelwise.validation import plural

    out = Project(project, embeddings=False).import_labels(labels)
    typer.echo(f"imported {plural(out['imported'], 'label')}; "
               f"{plural(out['already_labeled'], 'item')} already labeled kept the label they "
               "had" + (f"; {plural(out['duplicates'], 'repeated row')} counted once"
                        if out["duplicates"] else ""))


@app.command("label")
def label_cmd(
    project: Path = typer.Argument(..., help="project folder"),
    host: str = typer.Option("127.0.0.1", help="address to bind; any non-loopback address "
                             "requires a token"),
    port: int = typer.Option(8000, help="port"),
    token: str = typer.Option(None, help="access token (generated for non-loopback addresses)"),
):
    """Start the labeling web page for a project and print its address."""
    from labelwise.app.server import serve

    _check_port(host, port)
    serve(project, host=host, port=port, token=token, echo=typer.echo)


annotators_app = typer.Typer(no_args_is_help=True, help="Personal links for annotators: with "
                             "any account, every request needs one and each label names its "
                             "annotator.")
app.add_typer(annotators_app, name="annotators")


@annotators_app.command("add")
def annotators_add(
    project: Path = typer.Argument(..., help="project folder"),
    name: str = typer.Argument(..., help="the annotator's name, as labels will show it"),
    host: str = typer.Option("127.0.0.1", help="the address annotators reach the server at "
                             "(e.g. this machine's name on the network)"),
    port: int = typer.Option(8000, help="the server's port"),
):
    """Create an account and print its personal link (shown once; only its hash is kept)."""
    from labelwise.app.annotators import add_annotator, personal_link
    from labelwise.app.project import Project

    token = add_annotator(Project(project), name)
    typer.echo(personal_link(token, host, port))
    typer.echo(f"give this link to {name.strip()} only: it is shown once, and from now on every "
               "request to this project needs a personal link")


@annotators_app.command("list")
def annotators_list(project: Path = typer.Argument(..., help="project folder")):
    """List the accounts with their labels in force."""
    from labelwise.app.annotators import list_annotators
    from labelwise.app.project import Project

    rows = list_annotators(Project(project))
    if not rows:
        typer.echo("no annotator accounts: the page trusts the name it is given (loopback only)")
    for r in rows:
        typer.echo(f"{r['name']}  {r['labels']} labels  since "
                   f"{datetime.fromtimestamp(r['created']):%Y-%m-%d %H:%M}")


@annotators_app.command("remove")
def annotators_remove(
    project: Path = typer.Argument(..., help="project folder"),
    name: str = typer.Argument(..., help="the account to remove (its labels stay)"),
):
    """Remove an account: its link stops working at once; its labels keep its name."""
    from labelwise.app.annotators import remove_annotator
    from labelwise.app.project import Project

    remove_annotator(Project(project), name)
    typer.echo(f"removed {name}; their labels stay attributed to them")


@app.command("export")
def export_cmd(
    project: Path = typer.Argument(..., help="project folder"),
    format: str = typer.Option("csv", help="csv, jsonl or label-studio"),
    out: Path = typer.Option(None, help="output file (default: PROJECT/export/labels.<ext>)"),
    predictions: bool = typer.Option(False, help="add the model's prediction and confidence "
                                     "for every item"),
    document_root: Path = typer.Option(None, help="label-studio, images: Label Studio's "
                                       "LOCAL_FILES_DOCUMENT_ROOT (default: the parent of the "
                                       "image folder)"),
    image_url: str = typer.Option(None, help="label-studio, images: a URL prefix that serves "
                                  "the image folder, instead of local-files URLs"),
    label_studio_user: list[str] = typer.Option(None, help="label-studio: NAME=EMAIL credits "
                                                "NAME's labels to that existing Label Studio "
                                                "user (repeat; default: the importing user)"),
):
    """Write the labels (and optionally predictions) of a project."""
    from labelwise.app.project import Project
    from labelwise.integrations.label_studio import parse_credit
    from labelwise.validation import plural

    proj = Project(project, embeddings=predictions)  # the labels alone need only the database
    if out is None:
        ext = {"csv": "csv", "jsonl": "jsonl"}.get(format, "json")
        out = proj.path / "export" / f"labels.{ext}"
    res = proj.export(out, format=format, predictions=predictions, document_root=document_root,
                      image_url=image_url, credit=parse_credit(label_studio_user))
    typer.echo(f"wrote {plural(res['rows'], 'row')} ({res['labeled']} labeled) to {res['path']}")
    if "label_config" in res:
        typer.echo(f"labeling config: {res['label_config']}; annotators (in each annotation's "
                   f"meta): {', '.join(res['annotators']) or 'none'}; credited to Label Studio "
                   f"users: {', '.join(res['credited']) or 'none (the importing user)'}")


@app.command("status")
def status_cmd(project: Path = typer.Argument(..., help="project folder")):
    """Print a project's counts: items, labels per class, rounds, accuracy estimate."""
    from labelwise.app.project import Project
    from labelwise.validation import plural

    proj = Project(project, embeddings=False)  # a damaged embeddings file is reported below
    s = proj.status()
    acc = "-" if s["cv_accuracy"] is None else f"{100 * s['cv_accuracy']:.1f}%"
    warm = ", warm start: each model starts from the previous one" if s["warm_start"] else ""
    typer.echo(f"project {s['path']} ({s['modality']}, encoder {s['encoder'] or '-'}, "
               f"strategy {s['strategy']}, learner {s['learner']}{warm})")
    typer.echo(f"items {s['items']}: {s['labeled_items']} labeled "
               f"({plural(s['labels'], 'label')}), {s['skipped']} skipped, "
               f"{s['unlabeled']} unlabeled")
    typer.echo("per class: " + ", ".join(f"{c} {n}" for c, n in s["per_class"].items()))
    typer.echo(f"rounds {s['rounds']}, current round {s['current_round'] or '-'} "
               f"({s['batch']} done), cross-validated accuracy {acc}")
    if s["annotators"]:
        typer.echo("annotators: " + ", ".join(f"{a} {n}" for a, n in s["annotators"].items()))
    if s["stopping"] is not None:
        crit = s["stopping"]["criteria"]
        typer.echo(f"stopping: {s['stopping']['message']}")
        typer.echo("  " + "; ".join(
            f"{name.replace('_', ' ')} "
            f"{'-' if c['value'] is None else format(c['value'], '.4g')} "
            f"(threshold {c['threshold']:.4g}{', stop' if c['stop'] else ''})"
            for name, c in crit.items()))
    if s["model"] is not None:
        m = s["model"]
        typer.echo(f"model: {m['message']}" + ("" if m["running"] else
                                                " (when the labeling server last ran)"))
    if s["fine_tuning"] is not None:
        typer.echo(s["fine_tuning"])
    proj.check_embeddings()  # a problem here is the last line: "error: ..."
