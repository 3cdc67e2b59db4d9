"""Encode a large collection into shards, locally or with Ray Data, resumably.

:func:`embed_to_shards` splits the collection's rows into shards of ``rows_per_shard``; each
shard is encoded by the project's batched encoders (:mod:`labelwise.encoders`) and written
atomically by :class:`~labelwise.sharded.ShardWriter`. A shard file that exists is whole, so a
rerun after an interruption encodes only the missing shards (``embed.json`` records the
settings, and a rerun with other settings is refused rather than mixing shards). With
``executor="ray"`` the pending shards go through Ray Data's ``map_batches`` with an actor pool:
each actor builds the encoder once and encodes its shards in the encoder's batches.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from labelwise.data import _is_text_table
from labelwise.sharded import ShardedPool, ShardWriter
from labelwise.validation import LabelwiseError, check_positive_int

SETTINGS = "embed.json"
IDS = "ids.txt"


class Source:
    """The rows of a collection: a .npy feature file (memory-mapped), or raw items in a list.

    ``rows(r0, r1)`` gives items r0..r1-1 as the encoder takes them; ``ids`` the item ids (None
    for a feature file: the row number is the id).
    """

    def __init__(self, data: str | os.PathLike):
        path = Path(data).expanduser()
        self.name = str(path)
        self.ids = None
        if path.suffix.lower() == ".npy" and path.is_file():
            self.array = np.load(path, mmap_mode="r")
            self.items = None
            self.n = len(self.array)
            self.default_encoder = "identity"
        elif path.is_dir() or _is_text_table(path, "text"):
            if path.is_dir():
                from labelwise.data.images import load_image_folder

                raw = load_image_folder(path)
            else:
                from labelwise.data.texts import load_text_table

                raw = load_text_table(path)
            self.array, self.items, self.ids = None, raw.items, raw.ids
            self.default_encoder = "minilm" if raw.modality == "text" else "efficientnet-lite0"
            self.n = len(self.items)
        else:
            raise LabelwiseError(f"cannot embed {path}: give a .npy feature file, a folder of "
                                 "images or a text table (.csv with a 'text' column, .tsv, "
                                 ".jsonl)")

    def rows(self, r0: int, r1: int):
        if self.items is None:
            return np.asarray(self.array[r0:r1])
        return self.items[r0:r1]


class ShardEncoder:
    """A Ray Data actor: builds the encoder once, then encodes and writes whole shards."""

    def __init__(self, source: Source, encoder: str, folder: str, rows_per_shard: int,
                 batch_size: int | None):
        from labelwise.encoders import get_encoder

        self.source, self.encoder = source, get_encoder(encoder)
        self.writer = ShardWriter(folder)
        self.rows_per_shard, self.batch_size = rows_per_shard, batch_size

    def __call__(self, batch: dict) -> dict:
        rows = []
        for s in batch["shard"]:
            rows.append(encode_shard(int(s), self.source, self.encoder, self.writer,
                                     self.rows_per_shard, self.batch_size))
        return {"shard": np.asarray(batch["shard"]), "rows": np.asarray(rows)}


def encode_shard(s: int, source: Source, encoder, writer: ShardWriter, rows_per_shard: int,
                 batch_size: int | None) -> int:
    """Encode rows of shard ``s`` and write it; returns its row count."""
    r0 = s * rows_per_shard
    r1 = min(source.n, r0 + rows_per_shard)
    X = encoder.encode(source.rows(r0, r1), batch_size=batch_size, progress=False)
    writer.write(s, X)
    return r1 - r0


def _check_settings(folder: Path, settings: dict) -> None:
    path = folder / SETTINGS
    if path.is_file():
        old = json.loads(path.read_text())
        if old != settings:
            diff = sorted(k for k in settings if old.get(k) != settings[k])
            raise LabelwiseError(f"{folder} holds shards written with other settings "
                                 f"({', '.join(diff)} differ); use another --out or delete it")
    else:
        folder.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(settings, indent=1))


def embed_to_shards(data: str | os.PathLike, out: str | os.PathLike, encoder: str | None = None,
                    rows_per_shard: int = 65536, executor: str = "local",
                    ray_address: str | None = None, batch_size: int | None = None,
                    progress: bool = True) -> ShardedPool:
    """Encode the collection ``data`` (a .npy/.npz/.csv feature file, an image folder or a text
    table, as :func:`labelwise.load_dataset` reads them) into shards in ``out``.

    Shards already in ``out`` (from an interrupted run with the same settings) are kept. Returns
    the :class:`ShardedPool`. ``executor``: ``"local"`` (this process) or ``"ray"`` (Ray Data
    ``map_batches`` over an actor pool on the cluster at ``ray_address``; the workers must see
    ``out``: a local folder on a one-machine cluster, shared storage otherwise).
    """
    from labelwise.encoders.base import progress_bar

    if executor not in ("local", "ray"):
        raise LabelwiseError(f"unknown executor {executor!r}; choose one of: local, ray")
    rows_per_shard = check_positive_int(rows_per_shard, "rows_per_shard")
    source = Source(data)
    encoder = encoder or source.default_encoder
    folder = Path(out)
    _check_settings(folder, {"source": os.path.abspath(source.name), "rows": source.n,
                             "encoder": encoder, "rows_per_shard": rows_per_shard})
    if source.ids is not None and not (folder / IDS).is_file():
        (folder / IDS).write_text("".join(f"{i}\n" for i in source.ids))
    writer = ShardWriter(folder)
    n_shards = -(-source.n // rows_per_shard)
    pending = [s for s in range(n_shards) if not writer.done(s)]
    done_rows = source.n - sum(min(source.n, (s + 1) * rows_per_shard) - s * rows_per_shard
                               for s in pending)
    with progress_bar(f"embedding with {encoder} into {n_shards} shards", source.n,
                      enabled=progress) as advance:
        advance(done_rows)
        if executor == "local":
            from labelwise.encoders import get_encoder

            enc = get_encoder(encoder)
            for s in pending:
                advance(encode_shard(s, source, enc, writer, rows_per_shard, batch_size))
        elif pending:
            for rows in _ray_encode(pending, source, encoder, folder, rows_per_shard,
                                    batch_size, ray_address):
                advance(rows)
    writer.write_manifest(n_shards)
    return ShardedPool(folder)


def _ray_encode(pending, source, encoder, folder, rows_per_shard, batch_size, ray_address):
    """Ray Data: one row per pending shard, ``map_batches`` with :class:`ShardEncoder` actors;
    yields each finished shard's row count."""
    import ray

    if not ray.is_initialized():
        ray.init(address=ray_address, include_dashboard=False, log_to_driver=False)
    cpus = max(1, int(ray.cluster_resources().get("CPU", 1)))
    ds = ray.data.from_items([{"shard": s} for s in pending])
    ds = ds.map_batches(ShardEncoder, batch_size=1, concurrency=min(cpus, len(pending)),
                        fn_constructor_kwargs={"source": source, "encoder": encoder,
                                               "folder": str(folder),
                                               "rows_per_shard": rows_per_shard,
                                               "batch_size": batch_size})
    ctx = ray.data.DataContext.get_current()
    ctx.enable_progress_bars = False  # labelwise's own bar counts rows
    for row in ds.iter_rows():
        yield int(row["rows"])
