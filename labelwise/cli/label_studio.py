"""``labelwise label-studio-backend``: the Label Studio ML backend."""

from __future__ import annotations

from pathlib import Path

import typer

from labelwise.cli.base import app


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
