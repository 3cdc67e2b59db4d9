"""Bring your own texts: a CSV/TSV or JSON Lines file with a text column and an optional label.

CSV (``.csv``; ``.tsv`` tab-separated) has a header row; JSONL (``.jsonl``, ``.ndjson``) has one
JSON object per line. The text column is ``text`` unless named; the label column is ``label``
unless named; a file without a label column is an unlabeled pool, and an empty label cell leaves
that row unlabeled (None). Rows are numbered as lines of the file (the CSV header is line 1).

Every problem row (a CSV row with the wrong number of fields, a JSONL line that is not a JSON
object or lacks the text, an empty text, bytes that are not UTF-8) is listed in one error; nothing
is dropped silently (``skip_bad=True`` leaves them out with a warning).
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

from labelwise.data.dataset import RawData
from labelwise.data.problems import handle_offenders
from labelwise.validation import LabelwiseError

TEXT_SUFFIXES = (".csv", ".tsv", ".jsonl", ".ndjson")


def not_utf8(name: str, line: int) -> LabelwiseError:
    """The one-line error for a file whose line ``line`` holds bytes that are not UTF-8."""
    return LabelwiseError(f"{name} is not UTF-8 text (bad byte at line {line}); save it as UTF-8")


def _read_utf8(p: Path) -> str:
    data = p.read_bytes()
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise not_utf8(p.name, data[: exc.start].count(b"\n") + 1) from None


def _csv_rows(p: Path, text: str, delimiter: str):
    """Yield (line number, dict row) for good rows and (line number, reason) strings for bad."""
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    try:
        header = next(reader)
    except StopIteration:
        raise LabelwiseError(f"{p.name} is empty (no header row)") from None
    except csv.Error as exc:
        raise LabelwiseError(f"{p.name}: cannot read the header row: {exc}") from None
    header = [h.strip() for h in header]
    rows = []
    while True:
        try:
            fields = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            rows.append((reader.line_num, f"malformed CSV: {exc}"))
            continue
        if not fields:
            continue  # blank line
        if len(fields) != len(header):
            rows.append((reader.line_num, f"{len(fields)} fields, header has {len(header)}"))
            continue
        rows.append((reader.line_num, dict(zip(header, fields, strict=True))))
    return header, rows


def json_object(line: str) -> dict | str:
    """One JSONL line (not blank) as its object, or why it is not one."""
    try:
        obj = json.loads(line)
    except json.JSONDecodeError as exc:
        return f"not JSON: {exc.msg}"
    if not isinstance(obj, dict):
        return f"a JSON {type(obj).__name__}, not an object"
    return obj


def row_problem(row: dict, text_column: str = "text", label_column: str | None = "label"):
    """Why the parsed ``row`` gives no usable text and label, or None when it does."""
    value = row.get(text_column)
    if value is None or (isinstance(value, str) and not value.strip()):
        return "no " + repr(text_column) if text_column not in row else "empty text"
    if not isinstance(value, str):
        return f"text is a {type(value).__name__}, not a string"
    label = None if label_column is None else row.get(label_column)
    if isinstance(label, (dict, list)):
        return f"label is a {type(label).__name__}"
    return None


def _jsonl_rows(p: Path, text: str):
    rows, keys = [], {}
    for line_no, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        obj = json_object(line)
        if isinstance(obj, dict):
            keys.update(dict.fromkeys(obj))
        rows.append((line_no, obj))
    return list(keys), rows


def load_text_table(
    path: str | Path,
    text_column: str = "text",
    label_column: str | None = "label",
    skip_bad: bool = False,
) -> RawData:
    """Read texts (and optional labels) from a CSV/TSV or JSONL file.

    Args:
        path: the file (.csv, .tsv, .jsonl or .ndjson).
        text_column: the column (CSV) or key (JSONL) that holds the text.
        label_column: the column holding labels; ``None``, or absent from the file, means
            unlabeled. An empty cell (or JSON null) leaves that row unlabeled.
        skip_bad: leave out bad rows with a warning instead of failing.

    Returns:
        RawData with ``items`` the texts (str, stripped), ``labels`` one str or None per text
        (None overall when the file has no label column), ``ids`` ``"line <n>"`` and
        ``modality="text"``.

    Raises:
        LabelwiseError: for a missing file, an unknown format, a missing text column, or
            listing every bad row (unless ``skip_bad``).
    """
    p = Path(path).expanduser()
    if not p.is_file():
        raise LabelwiseError(f"text file not found: {p}")
    suffix = p.suffix.lower()
    if suffix not in TEXT_SUFFIXES:
        raise LabelwiseError(f"cannot read texts from {p.name}: expected one of "
                             f"{', '.join(TEXT_SUFFIXES)}")
    text = _read_utf8(p)
    if suffix in (".csv", ".tsv"):
        columns, rows = _csv_rows(p, text, "\t" if suffix == ".tsv" else ",")
        if text_column not in columns:
            raise LabelwiseError(f"{p.name} has no text column {text_column!r} (columns: "
                                 f"{', '.join(columns)}); name it with text_column / --text-column")
    else:
        columns, rows = _jsonl_rows(p, text)
        if not rows:
            raise LabelwiseError(f"{p.name} has no rows")
    has_labels = label_column is not None and label_column in columns
    items, labels, ids, bad = [], [], [], []
    for line_no, row in rows:
        if isinstance(row, str):
            bad.append(f"line {line_no} ({row})")
            continue
        why = row_problem(row, text_column, label_column if has_labels else None)
        if why is not None:
            bad.append(f"line {line_no} ({why})")
            continue
        label = row.get(label_column) if has_labels else None
        label = None if label is None or str(label).strip() == "" else str(label).strip()
        items.append(row[text_column].strip())
        labels.append(label)
        ids.append(f"line {line_no}")
    handle_offenders(bad, "rows", p.name, skip_bad)
    if not items:
        raise LabelwiseError(f"{p.name} has no texts")
    return RawData(items=items, labels=labels if has_labels else None, ids=ids,
                   modality="text", source=str(p))
