"""A pool kept as ``.npy`` shards on disk: memory-mapped float32 rows with global row ids.

A pool too large for one process (10-100 million embeddings) is written as shards, each an
(n_s, d) float32 ``.npy`` file, listed in order by a manifest (``manifest.json``) that records
every shard's row count. Global row ``i`` is row ``i - offsets[s]`` of the shard ``s`` whose
range holds it, so the ids are those of the same rows stacked in manifest order (what
:meth:`ShardedPool.to_array` builds for a small pool).

:class:`ShardedPool` only reads file headers when it opens; rows are read on demand through a
memory map (``take`` gathers the few labeled rows a learner is fitted on). Selection over the
shards runs where they live (:mod:`labelwise.distributed`). :class:`ShardWriter` writes shards
atomically (a temporary file renamed into place) and the manifest last, so an interrupted write
leaves whole shards that a rerun keeps.

Manifest format::

    {"format": "labelwise-shards/1", "dim": 384, "dtype": "float32",
     "shards": [{"file": "shard-00000.npy", "rows": 65536}, ...]}
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np

from labelwise.io import atomic_write
from labelwise.validation import LabelwiseError, plural

MANIFEST = "manifest.json"
FORMAT = "labelwise-shards/1"
DTYPE = np.dtype(np.float32)


def _open_header(path: Path) -> np.ndarray:
    """The shard at ``path`` memory-mapped (only its header is read), or a one-line error."""
    if not path.is_file():
        raise LabelwiseError(f"shard {path.name} is missing (looked for {path}); rewrite it or "
                             "remove it from the manifest")
    try:
        return np.load(path, mmap_mode="r", allow_pickle=False)
    except (ValueError, OSError, EOFError) as exc:
        raise LabelwiseError(f"shard {path.name} is not a readable .npy file "
                             f"({str(exc).splitlines()[0]}); rewrite it") from None


class ShardedPool:
    """A pool of (N, d) float32 features stored as ``.npy`` shards.

    Args:
        paths: a folder (its ``manifest.json``, or else every ``*.npy`` in it, sorted by name), a
            manifest file, or a sequence of ``.npy`` files in pool order.

    Attributes:
        paths: (S,) the shard files, in pool order.
        rows: (S,) rows per shard; ``offsets`` (S + 1,) their cumulative sums (global ids of
            shard s are ``offsets[s]:offsets[s + 1]``).
        dim: the feature width d.

    Every shard must be 2-D float32 with the same width, and hold the row count the manifest
    says; each check fails with one line naming the shard. NaN/inf rows are found by
    :meth:`check_finite` (a full read; selection runs it shard by shard where the shards live).
    """

    def __init__(self, paths: str | os.PathLike | Sequence[str | os.PathLike]):
        self.paths, expected = _resolve(paths)
        if not self.paths:
            raise LabelwiseError(f"no shards found in {paths}; write them with "
                                 "`labelwise embed` or labelwise.sharded.write_shards")
        rows, dim = [], None
        for s, path in enumerate(self.paths):
            arr = _open_header(path)
            if arr.ndim != 2:
                raise LabelwiseError(f"shard {path.name} has shape {arr.shape}; every shard "
                                     "must be 2-D (rows, features)")
            if arr.dtype != DTYPE:
                raise LabelwiseError(f"shard {path.name} holds {arr.dtype}, not float32; write "
                                     "it as float32 (X.astype(np.float32))")
            if dim is None:
                dim = arr.shape[1]
            elif arr.shape[1] != dim:
                raise LabelwiseError(f"shard {path.name} has {arr.shape[1]} columns but "
                                     f"{self.paths[0].name} has {dim}; every shard needs the "
                                     "same width")
            if expected is not None and expected[s] != arr.shape[0]:
                raise LabelwiseError(f"shard {path.name} has {arr.shape[0]} rows but the "
                                     f"manifest says {expected[s]}; rewrite the shard")
            rows.append(arr.shape[0])
        self.rows = np.asarray(rows, dtype=np.int64)
        self.offsets = np.concatenate([[0], np.cumsum(self.rows)]).astype(np.int64)
        self.dim = int(dim)

    # -- shape ---------------------------------------------------------------------------------
    def __len__(self) -> int:
        return int(self.offsets[-1])

    @property
    def shape(self) -> tuple[int, int]:
        return (len(self), self.dim)

    @property
    def n_shards(self) -> int:
        return len(self.paths)

    @property
    def nbytes(self) -> int:
        return len(self) * self.dim * DTYPE.itemsize

    def __repr__(self) -> str:
        return f"ShardedPool({plural(self.n_shards, 'shard')}, {len(self)} x {self.dim})"

    # -- reading -------------------------------------------------------------------------------
    def shard(self, s: int) -> np.ndarray:
        """(n_s, d) shard ``s``, memory-mapped (read-only, nothing read yet)."""
        return np.load(self.paths[s], mmap_mode="r")

    def locate(self, idx) -> tuple[np.ndarray, np.ndarray]:
        """(shard, row within shard) of each global row id in ``idx`` (k,)."""
        idx = np.asarray(idx, dtype=np.int64)
        if len(idx) and (idx.min() < 0 or idx.max() >= len(self)):
            raise LabelwiseError(f"row ids must lie in [0, {len(self)}), got "
                                 f"{int(idx.min())}..{int(idx.max())}")
        s = np.searchsorted(self.offsets, idx, side="right") - 1
        return s, idx - self.offsets[s]

    def take(self, idx) -> np.ndarray:
        """(k, d) float32 copy of the global rows ``idx`` (k,), in the given order: a few rows
        (the labeled set) read through the memory maps, never a whole shard."""
        s_of, local = self.locate(idx)
        out = np.empty((len(s_of), self.dim), dtype=DTYPE)
        for s in np.unique(s_of):
            at = np.flatnonzero(s_of == s)
            out[at] = self.shard(int(s))[local[at]]
        return out

    def __getitem__(self, idx) -> np.ndarray:
        """``pool[ids]`` is :meth:`take` (an index array or a list; a slice of global ids too)."""
        if isinstance(idx, slice):
            idx = np.arange(len(self))[idx]
        return self.take(np.atleast_1d(idx))

    def iter_shards(self) -> Iterator[tuple[int, np.ndarray]]:
        """(global offset, memory-mapped shard) for every shard, in pool order."""
        for s in range(self.n_shards):
            yield int(self.offsets[s]), self.shard(s)

    def to_array(self) -> np.ndarray:
        """(N, d) the whole pool in memory: for small pools and tests only."""
        return np.concatenate([np.asarray(a) for _, a in self.iter_shards()])

    def check_finite(self, s: int | None = None, block_rows: int = 65536) -> None:
        """Raise a one-line error naming the shard and row if shard ``s`` (default: every
        shard) holds NaN or inf; reads the shard in blocks."""
        for t in range(self.n_shards) if s is None else [s]:
            check_shard_finite(self.shard(t), self.paths[t].name, int(self.offsets[t]),
                               block_rows)


def check_shard_finite(X: np.ndarray, name: str, offset: int | None = None,
                       block_rows: int = 65536) -> None:
    """Raise a one-line error if the shard ``X`` (n, d) named ``name`` holds NaN or inf; with
    its first global row ``offset`` the error names the pool row too."""
    for r0 in range(0, len(X), block_rows):
        bad = ~np.isfinite(X[r0:r0 + block_rows]).all(axis=1)
        if bad.any():
            r = r0 + int(np.flatnonzero(bad)[0])
            where = "" if offset is None else f" (pool row {offset + r})"
            raise LabelwiseError(f"shard {name} has NaN or inf at row {r}{where}; re-encode "
                                 "that item or drop the row")


def _resolve(paths) -> tuple[list[Path], list[int] | None]:
    """The shard files and, from a manifest, their expected row counts."""
    if isinstance(paths, (str, os.PathLike)):
        p = Path(paths)
        if not p.exists():
            raise LabelwiseError(f"{p} does not exist; write shards there with `labelwise "
                                 "embed` or labelwise.sharded.write_shards")
        if p.is_dir():
            if (p / MANIFEST).is_file():
                return _read_manifest(p / MANIFEST)
            return sorted(p.glob("*.npy")), None
        if p.suffix == ".json":
            if not p.is_file():
                raise LabelwiseError(f"shard manifest {p} does not exist")
            return _read_manifest(p)
        if p.suffix == ".npy":
            return [p], None
        raise LabelwiseError(f"{p} is neither a folder of shards, a manifest (.json) nor a "
                             ".npy shard")
    return [Path(x) for x in paths], None


def _read_manifest(path: Path) -> tuple[list[Path], list[int]]:
    try:
        meta = json.loads(path.read_text())
        shards = meta["shards"]
        return [path.parent / e["file"] for e in shards], [int(e["rows"]) for e in shards]
    except (ValueError, KeyError, TypeError) as exc:
        raise LabelwiseError(f"shard manifest {path} is not valid ({type(exc).__name__}: "
                             f"{exc}); rewrite it") from None


class ShardWriter:
    """Writes shards ``shard-00000.npy``, ... into ``folder`` and the manifest after each one.

    A shard is written to a temporary name and renamed into place, so a file named
    ``shard-*.npy`` is always whole; :meth:`done` tells a resumed run which shards exist already.
    """

    def __init__(self, folder: str | os.PathLike):
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)

    @staticmethod
    def name(s: int) -> str:
        return f"shard-{s:05d}.npy"

    def done(self, s: int) -> bool:
        return (self.folder / self.name(s)).is_file()

    def write(self, s: int, X: np.ndarray) -> Path:
        """Write shard ``s`` (n, d) as float32, atomically; returns its path."""
        X = np.ascontiguousarray(X, dtype=DTYPE)
        if X.ndim != 2:
            raise LabelwiseError(f"a shard must be 2-D (rows, features), got shape {X.shape}")
        check_shard_finite(X, self.name(s))
        path = self.folder / self.name(s)
        with atomic_write(path, "wb") as f:
            np.save(f, X)
        return path

    def write_manifest(self, n_shards: int) -> Path:
        """The manifest of shards 0..n_shards-1 (their headers give the row counts)."""
        entries, dim = [], None
        for s in range(n_shards):
            arr = _open_header(self.folder / self.name(s))
            dim = arr.shape[1]
            entries.append({"file": self.name(s), "rows": int(arr.shape[0])})
        meta = {"format": FORMAT, "dim": dim, "dtype": "float32", "shards": entries}
        path = self.folder / MANIFEST
        with atomic_write(path) as f:
            f.write(json.dumps(meta, indent=1))
        return path


def write_shards(X: np.ndarray, folder: str | os.PathLike, rows_per_shard: int = 65536
                 ) -> ShardedPool:
    """Write the array ``X`` (N, d) as float32 shards of ``rows_per_shard`` rows plus a manifest
    into ``folder``; returns the :class:`ShardedPool` over them."""
    writer = ShardWriter(folder)
    starts = range(0, len(X), rows_per_shard)
    for s, r0 in enumerate(starts):
        writer.write(s, X[r0:r0 + rows_per_shard])
    writer.write_manifest(len(starts))
    return ShardedPool(folder)
