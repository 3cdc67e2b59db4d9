"""What ``labelwise embed`` reads: a collection listed once, its items read shard by shard.

Opening a source holds no items: an image folder is listed (paths only), a text table is
indexed in one streaming pass (the byte offset and line number of each good row; every bad row
is listed in one error, as :func:`labelwise.data.load_text_table` does), a .npy file is
memory-mapped. :meth:`spec` describes a shard's rows as a small JSON-able dict (paths, byte
offsets or a row range) that a Ray worker can take, and :func:`read_items` reads a slice of those
rows (decoding images, parsing text rows), so only the items in flight are ever in memory.
"""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path

import numpy as np

from labelwise.data import _is_text_table
from labelwise.data.problems import handle_offenders
from labelwise.data.texts import json_object, not_utf8, row_problem
from labelwise.validation import LabelwiseError


class Source:
    """The rows of a collection, opened without reading its items.

    Attributes:
        name: the path given.
        n: the number of rows.
        default_encoder: the encoder used when none is named.
    """

    def __init__(self, data: str | os.PathLike):
        path = Path(data).expanduser()
        self.name = str(path)
        if not path.exists():
            raise LabelwiseError(f"cannot embed {path}: it does not exist")
        if path.suffix.lower() == ".npy" and path.is_file():
            self._kind, self._path = "features", str(path.resolve())
            self.n = len(np.load(path, mmap_mode="r"))
            self.default_encoder = "identity"
        elif path.is_dir():
            self._kind, self._path = "images", str(path.resolve())
            self._files = _list_images(path)
            self.n = len(self._files)
            self.default_encoder = "efficientnet-lite0"
        elif _is_text_table(path, "text"):
            self._kind, self._path = "texts", str(path.resolve())
            self._format = {".tsv": "tsv", ".csv": "csv"}.get(path.suffix.lower(), "jsonl")
            self._offsets, self._lines, self._header = _index_texts(path, self._format)
            self.n = len(self._offsets)
            self.default_encoder = "minilm"
        else:
            raise LabelwiseError(f"cannot embed {path}: give a .npy feature file, a folder of "
                                 "images or a text table (.csv with a 'text' column, .tsv, "
                                 ".jsonl)")

    def ids(self) -> list[str] | None:
        """The item ids, one per row (image paths relative to the folder, ``"line <n>"`` for a
        text row, as the loaders give them); None for a feature file (the row is the id)."""
        if self._kind == "images":
            return list(self._files)
        if self._kind == "texts":
            return [f"line {n}" for n in self._lines]
        return None

    def spec(self, r0: int, r1: int) -> dict:
        """Rows r0..r1-1 as a JSON-able dict that :func:`read_items` reads (in any process)."""
        if self._kind == "images":
            return {"kind": "images", "root": self._path, "files": self._files[r0:r1]}
        if self._kind == "texts":
            return {"kind": "texts", "path": self._path, "format": self._format,
                    "header": self._header, "offsets": self._offsets[r0:r1].tolist()}
        return {"kind": "features", "path": self._path, "start": r0, "stop": r1}


def spec_rows(spec: dict) -> int:
    """How many rows ``spec`` holds."""
    if spec["kind"] == "images":
        return len(spec["files"])
    if spec["kind"] == "texts":
        return len(spec["offsets"])
    return spec["stop"] - spec["start"]


def read_items(spec: dict, i0: int, i1: int):
    """Items i0..i1-1 of ``spec`` as the encoders take them: (H, W, 3) uint8 images, texts, or
    an (i1 - i0, d) array of features.

    Raises:
        LabelwiseError: naming the file of an image that cannot be decoded.
    """
    if spec["kind"] == "images":
        return [_read_image(spec["root"], f) for f in spec["files"][i0:i1]]
    if spec["kind"] == "texts":
        return _read_texts(spec, spec["offsets"][i0:i1])
    start = spec["start"]
    return np.asarray(np.load(spec["path"], mmap_mode="r")[start + i0:start + i1])


# -- images ------------------------------------------------------------------------------------

def _list_images(root: Path) -> list[str]:
    """The image files under ``root`` (relative, sorted as the loader sorts them); a file that is
    not an image is an error listing every such file, as the loader's."""
    from labelwise.data.images import IMAGE_SUFFIXES, image_entries

    files, bad = [], []
    for _, rel, not_image in image_entries(root):
        if not_image:
            bad.append(f"{rel} ({not_image})")
        else:
            files.append(rel)
    handle_offenders(bad, "files", str(root), skip_bad=False)
    if not files:
        raise LabelwiseError(f"no images in {root} (looked for {', '.join(IMAGE_SUFFIXES)})")
    return files


def _read_image(root: str, rel: str) -> np.ndarray:
    from labelwise.data.images import MAX_SIDE, read_image

    try:
        return read_image(Path(root) / rel, MAX_SIDE)
    except LabelwiseError as exc:
        # Decoding happens shard by shard, so a bad file is met after the shards before it are
        # written: they are kept, and a rerun resumes once the file is readable.
        why = str(exc).rsplit(": ", 1)[-1].replace("\n", " ")
        raise LabelwiseError(f"cannot read image {rel} in {root} ({why}): replace it with a "
                             "readable image and run again (the shards written are kept)") from None


# -- text tables -------------------------------------------------------------------------------

class _Lines:
    """The lines of a binary file from byte ``pos``, decoded as UTF-8; ``pos`` and ``line`` follow
    what has been handed out, so a caller knows where the next record starts."""

    def __init__(self, f, name: str, pos: int = 0, line: int = 0):
        self.f, self.name, self.pos, self.line = f, name, pos, line

    def __iter__(self):
        return self

    def __next__(self) -> str:
        raw = self.f.readline()
        if not raw:
            raise StopIteration
        self.pos += len(raw)
        self.line += 1
        try:
            return raw.decode("utf-8-sig" if self.line == 1 else "utf-8")
        except UnicodeDecodeError:
            raise not_utf8(self.name, self.line) from None


def _row_text(row: dict, bad: list, line_no: int) -> bool:
    """Whether ``row`` has a usable text (and label), as the loader judges; else note why."""
    why = row_problem(row)
    if why is not None:
        bad.append(f"line {line_no} ({why})")
    return why is None


def _index_texts(path: Path, fmt: str) -> tuple[np.ndarray, np.ndarray, list[str] | None]:
    """One streaming pass: (byte offset, line number) of each good row, and the CSV header."""
    offsets, lines, bad, header = [], [], [], None
    with open(path, "rb") as f:
        src = _Lines(f, path.name)
        if fmt == "jsonl":
            while True:
                start = src.pos
                text = next(src, None)
                if text is None:
                    break
                line_no = src.line
                if not text.strip():
                    continue
                obj = json_object(text)
                if isinstance(obj, str):
                    bad.append(f"line {line_no} ({obj})")
                elif _row_text(obj, bad, line_no):
                    offsets.append(start)
                    lines.append(line_no)
            if not offsets and not bad:
                raise LabelwiseError(f"{path.name} has no rows")
        else:
            header = _csv_index(path, src, "\t" if fmt == "tsv" else ",", bad, offsets, lines)
    handle_offenders(bad, "rows", path.name, skip_bad=False)
    if not offsets:
        raise LabelwiseError(f"{path.name} has no texts")
    return np.asarray(offsets, dtype=np.int64), np.asarray(lines, dtype=np.int64), header


def _csv_index(path: Path, src: _Lines, delimiter: str, bad: list, offsets: list,
               lines: list) -> list[str]:
    """The header; appends each good record's byte offset and last line to ``offsets`` and
    ``lines`` (streaming: no field is kept), each bad one to ``bad``."""
    reader = csv.reader(src, delimiter=delimiter, strict=True)
    try:
        header = [h.strip() for h in next(reader)]
    except StopIteration:
        raise LabelwiseError(f"{path.name} is empty (no header row)") from None
    except csv.Error as exc:
        raise LabelwiseError(f"{path.name}: cannot read the header row: {exc}") from None
    if "text" not in header:
        raise LabelwiseError(f"{path.name} has no text column 'text' (columns: "
                             f"{', '.join(header)}); name the column 'text'")
    while True:
        start = src.pos  # the reader pulls lines only as a record needs them
        try:
            fields = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            bad.append(f"line {reader.line_num} (malformed CSV: {exc})")
            continue
        if not fields:
            continue  # blank line
        if len(fields) != len(header):
            bad.append(f"line {reader.line_num} ({len(fields)} fields, header has {len(header)})")
            continue
        if _row_text(dict(zip(header, fields, strict=True)), bad, reader.line_num):
            offsets.append(start)
            lines.append(reader.line_num)
    return header


def _read_texts(spec: dict, offsets: list[int]) -> list[str]:
    """The (stripped) texts of the rows starting at ``offsets``."""
    texts = []
    with open(spec["path"], "rb") as f:
        for off in offsets:
            f.seek(off)
            # line 1 is decoded as utf-8-sig (a byte-order mark is not part of the text)
            src = _Lines(f, Path(spec["path"]).name, off, line=0 if off == 0 else 1)
            if spec["format"] == "jsonl":
                texts.append(json.loads(next(src))["text"].strip())
            else:
                fields = next(csv.reader(src, delimiter="\t" if spec["format"] == "tsv" else ","))
                texts.append(dict(zip(spec["header"], fields, strict=True))["text"].strip())
    return texts
