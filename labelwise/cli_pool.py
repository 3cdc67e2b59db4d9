"""The ``embed`` and ``select`` commands: a pool beyond one machine, from the command line.

``labelwise embed DATA --out SHARDS`` encodes a collection into shards
(:func:`labelwise.distributed.embed.embed_to_shards`); ``labelwise select --pool SHARDS
--labels labels.csv --strategy S --k N --out picks.csv`` runs one round on them
(:func:`select_round`): fit on the labeled rows, select ``k`` more, write the picks. Both run
locally or on a Ray cluster (``--executor ray --ray-address ADDR``). :func:`register` adds the
commands to the main CLI's app.
"""

from __future__ import annotations

import csv
import os
from pathlib import Path

import numpy as np
import typer

from labelwise.io import atomic_write
from labelwise.validation import LabelwiseError


def read_labels(path: str | os.PathLike, n_rows: int) -> tuple[np.ndarray, np.ndarray]:
    """``labels.csv`` with columns ``row`` (global pool row) and ``label``: (rows, labels), with
    one-line errors for a missing column, a bad or repeated row, or an empty file."""
    path = Path(path)
    if not path.is_file():
        raise LabelwiseError(f"labels file {path} does not exist")
    with open(path, newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        if not reader.fieldnames or not {"row", "label"} <= set(reader.fieldnames):
            raise LabelwiseError(f"{path} needs the columns 'row' and 'label' (a pool row and "
                                 f"its label), got {reader.fieldnames}")
        rows, labels = [], []
        for line, rec in enumerate(reader, start=2):
            try:
                r = int(rec["row"])
            except (TypeError, ValueError):
                raise LabelwiseError(f"{path}, line {line}: row {rec['row']!r} is not a pool "
                                     "row number") from None
            if not 0 <= r < n_rows:
                raise LabelwiseError(f"{path}, line {line}: row {r} is outside the pool "
                                     f"(0..{n_rows - 1})")
            rows.append(r)
            labels.append(rec["label"])
    rows_arr = np.asarray(rows, dtype=np.int64)
    if len(np.unique(rows_arr)) != len(rows_arr):
        dup = int(rows_arr[np.flatnonzero(np.bincount(rows_arr) > 1)[0]])
        raise LabelwiseError(f"{path}: row {dup} is labeled twice; keep one label per row")
    return rows_arr, np.asarray(labels)


def select_round(pool, labels: str | os.PathLike, strategy: str, k: int,
                 out: str | os.PathLike, learner: str = "logreg", executor: str = "local",
                 ray_address: str | None = None, seed: int = 0) -> np.ndarray:
    """One round on a sharded pool: fit ``learner`` on the labeled rows of ``labels``, pick
    ``k`` unlabeled rows with ``strategy``, write ``out`` (CSV: rank, row, score, and the item id
    when the shards came with ``ids.txt``) atomically. Returns the picks (k,) as pool rows.

    ``executor="local"`` reads the pool into this process (a pool that fits in memory);
    ``"ray"`` selects where the shards live (:mod:`labelwise.distributed`).
    """
    from labelwise.engine import ActiveLearner
    from labelwise.sharded import ShardedPool

    if executor not in ("local", "ray"):
        raise LabelwiseError(f"unknown executor {executor!r}; choose one of: local, ray")
    pool = pool if isinstance(pool, ShardedPool) else ShardedPool(pool)
    rows, y = read_labels(labels, len(pool))
    classes = sorted(set(y.tolist()))
    X = pool if executor == "ray" else pool.to_array()
    al = ActiveLearner(X, learner, strategy, classes=classes, random_state=seed,
                       executor=executor if executor == "ray" else None,
                       ray_address=ray_address, labeled_idx=rows, labels=y)
    try:
        picks = al.step(k, random_state=seed)
        scores = al.pick_scores()
    finally:
        al.close()
    ids = _item_ids(pool)
    with atomic_write(out, newline="") as f:
        w = csv.writer(f)
        w.writerow(["rank", "row", "score"] + (["id"] if ids is not None else []))
        for rank, (r, s) in enumerate(zip(picks, scores, strict=True)):
            w.writerow([rank, int(r), "" if np.isnan(s) else f"{s:.6g}"]
                       + ([ids[r]] if ids is not None else []))
    return picks


def _item_ids(pool) -> list[str] | None:
    from labelwise.distributed.embed import IDS

    path = pool.paths[0].parent / IDS
    return path.read_text().splitlines() if path.is_file() else None


def embed_command(
    data: str = typer.Argument(..., help="a .npy feature file, a folder of images or a text "
                               "table (.csv with a 'text' column, .tsv, .jsonl)"),
    out: Path = typer.Option(..., "--out", help="folder for the shards and their manifest"),
    encoder: str = typer.Option(None, help="encoder name (default: identity for features, "
                                "efficientnet-lite0 for images, minilm for texts)"),
    rows_per_shard: int = typer.Option(65536, help="rows per shard"),
    executor: str = typer.Option("local", help="local, or ray (Ray Data map_batches)"),
    ray_address: str = typer.Option(None, help="Ray cluster address (default: a local one)"),
    batch_size: int = typer.Option(None, help="items per encoder batch (also how many are "
                                   "read and decoded at once)"),
):
    """Encode a collection into .npy shards, streaming; rerun to resume after an interruption."""
    from labelwise.distributed.embed import embed_to_shards

    pool = embed_to_shards(data, out, encoder, rows_per_shard, executor, ray_address, batch_size)
    typer.echo(f"{pool} written to {out}/ (manifest.json)")


def select_command(
    pool: Path = typer.Option(..., "--pool", help="shard folder or manifest"),
    labels: Path = typer.Option(..., help="CSV with columns row,label"),
    strategy: str = typer.Option("margin", help="strategy name (see `labelwise strategies`)"),
    k: int = typer.Option(..., "--k", help="how many rows to pick"),
    out: Path = typer.Option(..., "--out", help="CSV of the picks (rank,row,score[,id])"),
    learner: str = typer.Option("logreg", help="learner name"),
    executor: str = typer.Option("local", help="local (pool in memory) or ray (on the shards)"),
    ray_address: str = typer.Option(None, help="Ray cluster address (default: a local one)"),
    seed: int = typer.Option(0, help="seed of the learner and the strategy"),
):
    """Fit on the labeled rows and pick the next k rows of a sharded pool."""
    picks = select_round(pool, labels, strategy, k, out, learner, executor, ray_address, seed)
    typer.echo(f"{len(picks)} picks written to {out}")


def register(app: typer.Typer) -> None:
    """Add ``embed`` and ``select`` to the CLI's app."""
    app.command("embed")(embed_command)
    app.command("select")(select_command)
