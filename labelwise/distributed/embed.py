"""Encode a large collection into shards, locally or with Ray Data, resumably, streaming.

:func:`embed_to_shards` splits the collection's rows into shards of ``rows_per_shard``. The
collection is only listed up front (:class:`~labelwise.distributed.embed_sources.Source`: image
paths, text-row offsets, a memory-mapped .npy); each shard's items are read (images decoded) one
encoder batch at a time, encoded by the project's batched encoders (:mod:`labelwise.encoders`)
and the shard written atomically by :class:`~labelwise.sharded.ShardWriter`. So memory holds
one shard's features and one batch of decoded items per encoder, whatever the collection's
size. A shard file that exists is whole, so a rerun after an interruption encodes only the
missing shards (``embed.json`` records the settings, and a rerun with other settings is refused
rather than mixing shards). With ``executor="ray"`` the pending shards' specs (paths, offsets or
row ranges, never pixels) go through Ray Data's ``map_batches`` with an actor pool: each actor
builds the encoder once, then reads, encodes and writes its shards.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from labelwise.distributed.embed_sources import Source, read_items, spec_rows
from labelwise.io import atomic_write
from labelwise.sharded import ShardedPool, ShardWriter
from labelwise.validation import LabelwiseError, check_positive_int

SETTINGS = "embed.json"
IDS = "ids.txt"

__all__ = ["embed_to_shards", "encode_shard", "Source", "ShardEncoder"]


class ShardEncoder:
    """A Ray Data actor: builds the encoder once, then reads, encodes and writes whole shards.

    Its batches hold ``shard`` (the shard number) and ``spec`` (the shard's rows as JSON, see
    :meth:`Source.spec`); it returns each shard's row count, and the message of a
    :class:`LabelwiseError` (an unreadable image) in ``error`` rather than raising it, so that the
    driver can report it on one line.
    """

    def __init__(self, encoder: str, folder: str, batch_size: int | None):
        from labelwise.encoders import get_encoder

        self.encoder = get_encoder(encoder)
        self.writer = ShardWriter(folder)
        self.batch_size = batch_size

    def __call__(self, batch: dict) -> dict:
        rows, errors = [], []
        for s, spec in zip(batch["shard"], batch["spec"], strict=True):
            try:
                rows.append(encode_shard(int(s), json.loads(spec), self.encoder, self.writer,
                                         self.batch_size))
                errors.append("")
            except LabelwiseError as exc:
                rows.append(0)
                errors.append(str(exc))
        return {"shard": np.asarray(batch["shard"]), "rows": np.asarray(rows),
                "error": np.asarray(errors, dtype=object)}


def encode_shard(s: int, spec: dict, encoder, writer: ShardWriter, batch_size: int | None,
                 advance=None) -> int:
    """Read, encode and write shard ``s`` (its rows described by ``spec``), one encoder batch of
    items in memory at a time; ``advance(k)`` is told of each batch. Returns the row count."""
    n = spec_rows(spec)
    step = check_positive_int(batch_size or encoder.default_batch_size, "batch_size")
    out = None  # the shard's features, filled batch by batch (no list of parts to join)
    for i0 in range(0, n, step):
        i1 = min(n, i0 + step)
        items = read_items(spec, i0, i1)
        feats = encoder.encode(items, batch_size=step, progress=False)
        del items  # the decoded batch goes before the next one is read
        if out is None:
            out = np.empty((n, feats.shape[1]), dtype=feats.dtype)
        elif feats.shape[1] != out.shape[1]:
            raise LabelwiseError(f"encoder {encoder.name!r} gave {feats.shape[1]} features "
                                 f"for rows {i0}.. of shard {s} but {out.shape[1]} before "
                                 "(images of different sizes?); use an encoder that resizes, "
                                 "such as efficientnet-lite0")
        out[i0:i1] = feats
        if advance is not None:
            advance(len(feats))
    writer.write(s, out)
    return n


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
        with atomic_write(path) as f:
            f.write(json.dumps(settings, indent=1))


def _check_ids(folder: Path, ids: list[str], data) -> None:
    """Write ``ids.txt``, or on a rerun check that the collection still lists the same items in
    the same order: a kept shard holds the rows of the first run's listing, so a changed listing
    (a file replaced, removed or added at the same count) would pair rows with the wrong ids."""
    path = folder / IDS
    if not path.is_file():
        with atomic_write(path) as f:
            f.writelines(f"{i}\n" for i in ids)
        return
    old = path.read_text().splitlines()
    if old != ids:
        pairs = enumerate(zip(old, ids, strict=False))  # a length change shows past the end
        row = next((r for r, (a, b) in pairs if a != b), min(len(old), len(ids)))
        was = old[row] if row < len(old) else "nothing"
        now = ids[row] if row < len(ids) else "nothing"
        raise LabelwiseError(f"{folder} holds shards of another listing of {data}: row {row} was "
                             f"{was}, now {now}; use another --out or delete it")


def embed_to_shards(data: str | os.PathLike, out: str | os.PathLike, encoder: str | None = None,
                    rows_per_shard: int = 65536, executor: str = "local",
                    ray_address: str | None = None, batch_size: int | None = None,
                    progress: bool = True) -> ShardedPool:
    """Encode the collection ``data`` (a .npy feature file, an image folder or a text table, as
    :func:`labelwise.load_dataset` reads them) into shards in ``out``, streaming: only the items
    of the encoder batches in flight are in memory.

    Shards already in ``out`` (from an interrupted run with the same settings) are kept. Returns
    the :class:`ShardedPool`. ``executor``: ``"local"`` (this process) or ``"ray"`` (Ray Data
    ``map_batches`` over an actor pool on the cluster at ``ray_address``; the workers must see
    ``data`` and ``out``: local folders on a one-machine cluster, shared storage otherwise).

    Raises:
        LabelwiseError: for a source it cannot read, other settings in ``out``, or an image that
            cannot be decoded (named; the shards written before it are kept).
    """
    from labelwise.encoders.base import progress_bar

    if executor not in ("local", "ray"):
        raise LabelwiseError(f"unknown executor {executor!r}; choose one of: local, ray")
    rows_per_shard = check_positive_int(rows_per_shard, "rows_per_shard")
    if batch_size is not None:
        batch_size = check_positive_int(batch_size, "batch_size")
    source = Source(data)
    encoder = encoder or source.default_encoder
    folder = Path(out)
    _check_settings(folder, {"source": os.path.abspath(source.name), "rows": source.n,
                             "encoder": encoder, "rows_per_shard": rows_per_shard})
    ids = source.ids()
    if ids is not None:
        _check_ids(folder, ids, data)
    writer = ShardWriter(folder)
    n_shards = -(-source.n // rows_per_shard)
    bounds = [(s * rows_per_shard, min(source.n, (s + 1) * rows_per_shard))
              for s in range(n_shards)]
    pending = [s for s in range(n_shards) if not writer.done(s)]
    with progress_bar(f"embedding with {encoder} into {n_shards} shards", source.n,
                      enabled=progress) as advance:
        advance(source.n - sum(bounds[s][1] - bounds[s][0] for s in pending))
        if executor == "local":
            from labelwise.encoders import get_encoder

            enc = get_encoder(encoder)
            for s in pending:
                encode_shard(s, source.spec(*bounds[s]), enc, writer, batch_size, advance)
        elif pending:
            specs = [(s, source.spec(*bounds[s])) for s in pending]
            for rows in _ray_encode(specs, encoder, folder, batch_size, ray_address):
                advance(rows)
    writer.write_manifest(n_shards)
    return ShardedPool(folder)


def _ray_encode(specs, encoder, folder, batch_size, ray_address):
    """Ray Data: one row per pending shard (its number and its rows' spec as JSON: paths,
    offsets or a row range, never items), ``map_batches`` with :class:`ShardEncoder` actors that
    read and encode on the workers; yields each finished shard's row count."""
    from labelwise.distributed.remote import connect

    ray = connect(ray_address)
    cpus = max(1, int(ray.cluster_resources().get("CPU", 1)))
    ds = ray.data.from_items([{"shard": s, "spec": json.dumps(spec)} for s, spec in specs])
    ds = ds.map_batches(ShardEncoder, batch_size=1, concurrency=min(cpus, len(specs)),
                        fn_constructor_kwargs={"encoder": encoder, "folder": str(folder),
                                               "batch_size": batch_size})
    ctx = ray.data.DataContext.get_current()
    ctx.enable_progress_bars = False  # labelwise's own bar counts rows
    for row in ds.iter_rows():
        if row["error"]:
            raise LabelwiseError(str(row["error"]))
        yield int(row["rows"])
