"""Labels in and out of a project: CSV import, and CSV / JSONL / Label Studio export."""

from __future__ import annotations

import csv
import io
import json
import sqlite3
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import numpy as np

from labelwise.app import db
from labelwise.app.errors import DiskFull
from labelwise.app.labeling import Queue
from labelwise.app.labels import Labels
from labelwise.io import atomic_write, is_disk_full
from labelwise.validation import LabelwiseError, plural

EXPORT_FORMATS = ("csv", "jsonl", "label-studio")
#: a CSV cell starting with one of these is a formula to a spreadsheet (CSV injection)
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
#: at most this many bad rows are listed in an error
_SHOWN = 10


def neutralise_cell(value):
    """``value``, with a single quote prefixed when it is text a spreadsheet would run as a
    formula (starting with ``= + - @``, tab or CR); other values unchanged."""
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value
    return value


def _unneutralise(value: str) -> str:
    """The cell :func:`neutralise_cell` made ``value`` from (so exports import back)."""
    if value.startswith("'") and value[1:].startswith(FORMULA_START):
        return value[1:]
    return value


def _line_of(raw: bytes, pos: int) -> int:
    return raw.count(b"\n", 0, pos) + 1


def read_label_csv(csv_path: str | Path) -> list[tuple[int, str, str]]:
    """Read a labels CSV: a header row with columns ``id`` and ``label`` (others are ignored,
    so an export reads back), then one row per label.

    Returns:
        ``(line, id, label)`` per row, with its line number in the file; blank lines skipped.

    Raises:
        LabelwiseError: a missing file, or a malformed one (not UTF-8 text, binary, bad
            quoting, a row whose field count differs from the header's), naming the line.
    """
    p = Path(csv_path).expanduser()
    if not p.is_file():
        raise LabelwiseError(f"label file not found: {p}")
    try:
        raw = p.read_bytes()
    except OSError as exc:
        raise LabelwiseError(f"cannot read {p}: {exc.strerror}") from None
    fix = "save it as a UTF-8 CSV with a header row id,label"
    nul = raw.find(b"\0")
    if nul >= 0:
        raise LabelwiseError(f"{p} is malformed: line {_line_of(raw, nul)} holds binary data "
                             f"(NUL bytes); {fix}")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise LabelwiseError(f"{p} is malformed: line {_line_of(raw, exc.start)} is not UTF-8 "
                             f"text; {fix}") from None
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    rows, bad = [], []
    try:
        header = [h.strip() for h in next(reader, [])]
        if "id" not in header or "label" not in header:
            raise LabelwiseError(f"{p} must have columns 'id' and 'label' (has: "
                                 f"{', '.join(header) or 'none'})")
        i_id, i_label = header.index("id"), header.index("label")
        for row in reader:
            if not row:
                continue
            if len(row) != len(header):
                bad.append(f"line {reader.line_num} ({len(row)} fields, the header has "
                           f"{len(header)})")
                continue
            rows.append((reader.line_num, row[i_id], row[i_label].strip()))
    except csv.Error as exc:
        raise LabelwiseError(f"{p} is malformed: line {reader.line_num}: {exc} (quote a field "
                             f"holding commas or quotes as \"a,b\" and double its quotes); "
                             f"{fix}") from None
    if bad:
        raise LabelwiseError(f"{p} is malformed: {plural(len(bad), 'bad row')}: "
                             f"{', '.join(bad[:_SHOWN])}" + (" ..." if len(bad) > _SHOWN else ""))
    return rows


def match_label_rows(rows: list[tuple[int, str, str]], lookup: dict[str, int],
                     classes: list[str], source: str | Path) -> tuple[list[tuple[int, str]], int]:
    """Check the rows of :func:`read_label_csv` against the items and classes.

    Args:
        rows: ``(line, id, label)``.
        lookup: item id -> item index.
        classes: the project's classes.
        source: the file, named in the error.

    Returns:
        ``(item index, label)`` per distinct item in file order, and how many rows repeated an
        earlier row (same id, same label).

    Raises:
        LabelwiseError: unknown ids, unknown classes, or an id given different labels (a
            conflict), each with its line numbers.
    """
    def find(cell: str, known) -> str:
        for cand in (cell, cell.strip(), _unneutralise(cell.strip())):
            if cand in known:
                return cand
        return cell

    unknown_ids: list[str] = []
    unknown_classes: list[str] = []
    given: dict[str, list[tuple[int, str]]] = {}  # item id -> (line, label) per row
    for line, cell, lab_cell in rows:
        item_id, label = find(cell, lookup), find(lab_cell, classes)
        if item_id not in lookup:
            unknown_ids.append(f"line {line} (unknown id {item_id!r})")
        if label not in classes:
            unknown_classes.append(f"line {line} (unknown class {label!r})")
        if item_id in lookup and label in classes:
            given.setdefault(item_id, []).append((line, label))
    out, duplicates, clashes = [], 0, []
    for item_id, found in given.items():
        labels = list(dict.fromkeys(lab for _, lab in found))
        if len(labels) > 1:
            clashes.append(f"lines {', '.join(str(n) for n, _ in found)} (id {item_id!r} "
                           f"labeled {' and '.join(map(repr, labels))}: a conflict)")
        else:
            out.append((found[0][0], lookup[item_id], labels[0]))
            duplicates += len(found) - 1
    bad = unknown_ids + unknown_classes + clashes
    if bad:
        raise LabelwiseError(f"{source}: {plural(len(bad), 'bad row')}: {', '.join(bad[:_SHOWN])}"
                             + (" ..." if len(bad) > _SHOWN else "")
                             + f"; classes are {', '.join(classes)}")
    out.sort()
    return [(idx, lab) for _, idx, lab in out], duplicates


class Transfer:
    """Import and export of a :class:`labelwise.app.project.Project`'s labels.

    Args:
        connect: returns this thread's connection to the project's database.
        settings: the project's settings (``classes``, ``modality``, ``data_root``,
            ``strategy``, ``learner``).
        path: the project folder (where a full disk is looked for).
        labels: reads the labels in force.
        queue: the project's queue (an import may close the current round).
        learner: returns an unfitted learner as the settings describe it (for predictions).
        features: returns the (n, d) features of the pool (for predictions).
    """

    def __init__(self, connect: Callable[[], sqlite3.Connection], settings: dict, path: Path,
                 labels: Labels, queue: Queue, learner: Callable[[], object],
                 features: Callable[[], np.ndarray]):
        self._connect = connect
        self.settings = settings
        self.classes: list[str] = settings["classes"]
        self.path = Path(path)
        self.labels = labels
        self.queue = queue
        self._learner = learner
        self._features = features

    @property
    def conn(self) -> sqlite3.Connection:
        return self._connect()

    # -- import / export -----------------------------------------------------------------------
    def import_labels(self, csv_path: str | Path, annotator: str = "import") -> dict:
        """Import labels from a CSV with columns ``id`` (the item id) and ``label``.

        Items that already carry a label in force are left as they are (counted in
        ``already_labeled``); a row repeating an earlier one (same id, same label) counts once
        (``duplicates``). Nothing is imported when a row is bad: a malformed file, unknown ids
        or classes, or an id given two different labels (a conflict), reported with their line
        numbers.

        Returns:
            ``{"imported", "already_labeled", "duplicates"}``.
        """
        rows = read_label_csv(csv_path)
        lookup = dict(self.conn.execute("SELECT item_id, idx FROM items").fetchall())
        wanted, duplicates = match_label_rows(rows, lookup, self.classes,
                                              Path(csv_path).expanduser())
        now = time.time()
        conn = self.conn
        try:
            with db.transaction(conn):
                labeled = {r[0] for r in conn.execute(
                    "SELECT item_idx FROM labels WHERE undone_at IS NULL")}
                new = [(idx, lab, annotator, now) for idx, lab in wanted if idx not in labeled]
                conn.executemany("INSERT INTO labels (item_idx, label, annotator, created, "
                                 "source) VALUES (?, ?, ?, ?, 'import')", new)
                self.queue.advance(conn)
        except (sqlite3.Error, OSError) as exc:
            if is_disk_full(exc, where=self.path):
                raise DiskFull("the disk is full: no label was imported; free some space and "
                               "import again") from None
            raise
        return {"imported": len(new), "already_labeled": len(wanted) - len(new),
                "duplicates": duplicates}

    def export(self, out: str | Path, format: str = "csv", predictions: bool = False,
               document_root: str | Path | None = None, image_url: str | None = None,
               credit: dict[str, str] | None = None) -> dict:
        """Write the labels (and optionally predictions for unlabeled items) to ``out``.

        The file is written whole or not at all (a temporary file beside it, fsynced, then
        renamed): a failed export (a full disk) leaves a previous export untouched. CSV cells
        that a spreadsheet would run as formulas (starting with ``= + - @``, tab or CR) get a
        leading single quote; :meth:`import_labels` reads them back.

        Formats: ``csv`` and ``jsonl`` (one row per labeled item: id, label, annotator(s),
        labeled_at; with ``predictions`` also one row per unlabeled item with an empty label,
        every row gaining ``prediction`` and ``confidence``), ``label-studio`` (a JSON list of
        tasks that Label Studio imports, and its labeling config beside it; see
        :mod:`labelwise.integrations.label_studio`: one annotation per label, its annotator in the
        result's meta, credited to a Label Studio user only for the names ``credit`` maps to
        e-mails, and with ``predictions`` a prediction whose score is the confidence; images as
        local-files URLs below ``document_root``, or below the ``image_url`` prefix). The result
        gains ``label_config`` (the config's path), ``annotators`` and ``credited`` (the e-mails
        Label Studio must know) for ``label-studio``.
        """
        if format not in EXPORT_FORMATS:
            raise LabelwiseError(f"unknown export format {format!r}; choose one of: "
                                 f"{', '.join(EXPORT_FORMATS)}")
        by_item: dict[int, list[dict]] = {}
        for r in self.labels.active_labels():
            by_item.setdefault(r["item"], []).append(r)
        items = self.conn.execute("SELECT idx, item_id, text, path FROM items ORDER BY idx"
                                  ).fetchall()
        pred = conf = None
        if predictions:
            pred, conf = self.predictions()
        records = []
        for idx, item_id, text, rel in items:
            labs = by_item.get(idx, [])
            if not labs and not predictions:
                continue
            rec = {
                "id": item_id,
                "label": Counter(r["label"] for r in labs).most_common(1)[0][0] if labs else None,
                "annotator": ";".join(r["annotator"] for r in labs) or None,
                "labeled_at": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(
                    max(r["created"] for r in labs))) if labs else None,
            }
            if predictions:
                rec["prediction"] = str(pred[idx])
                rec["confidence"] = round(float(conf[idx]), 6)
            records.append((rec, labs, text, rel))
        out = Path(out).expanduser()
        if out.is_dir():
            raise LabelwiseError(f"{out} is a folder: give a file name for the export")
        columns = ["id", "label", "annotator", "labeled_at"] + (
            ["prediction", "confidence"] if predictions else [])
        extra: dict = {}
        try:
            out.parent.mkdir(parents=True, exist_ok=True)
            if format == "label-studio":  # written atomically by the Label Studio module
                from labelwise.integrations import label_studio as ls

                modality = "image" if self.settings["modality"] == "image" else "text"
                urls = ls.image_urls(self.settings["data_root"], document_root, image_url) \
                    if modality == "image" else None
                version = (f"labelwise-{self.settings['strategy']}-{self.settings['learner']}-"
                           f"{sum(1 for r, *_ in records if r['label'] is not None)}-labels")
                extra = ls.write_export(out, [self._label_studio_task(*r, urls, version, credit)
                                              for r in records],
                                        ls.label_config(self.classes, modality), credit)
            else:
                with atomic_write(out, newline="" if format == "csv" else None) as f:
                    if format == "csv":
                        # CRLF ends the rows (RFC 4180): a cell holding a lone CR is then quoted
                        writer = csv.writer(f, lineterminator="\r\n")
                        writer.writerow(columns)
                        for rec, *_ in records:
                            writer.writerow([neutralise_cell(rec[c]) for c in columns])
                    else:
                        for rec, *_ in records:
                            f.write(json.dumps(rec, ensure_ascii=False) + "\n")
        except OSError as exc:
            if is_disk_full(exc, where=out.parent if out.parent.exists() else None):
                raise DiskFull(f"the disk is full: {out} was not written (a previous export "
                               "there is unchanged); free some space and export again") from None
            raise LabelwiseError(f"cannot write {out}: {exc.strerror or exc}") from None
        return {"path": str(out), "rows": len(records),
                "labeled": sum(1 for r, *_ in records if r["label"] is not None),
                **extra}

    def _label_studio_task(self, rec: dict, labs: list[dict], text, rel, image_url,
                           model_version: str, credit: dict | None) -> dict:
        """One exported record as a Label Studio task (``image_url``: path -> URL, for images)."""
        from labelwise.integrations import label_studio as ls

        if image_url is not None:
            data, kind = {"image": image_url(rel)}, "image"
        else:
            data, kind = {"text": text if text is not None else rec["id"]}, "text"
        data["id"] = rec["id"]
        config = ls.LabelConfig(ls.CHOICES_NAME, kind, kind, kind, tuple(self.classes))
        prediction = None
        if "prediction" in rec:
            prediction = {"label": rec["prediction"], "score": rec["confidence"],
                          "model_version": model_version}
        return ls.make_task(data, labs, config, prediction, credit)

    def predictions(self) -> tuple[np.ndarray, np.ndarray]:
        """(n,) predicted class and (n,) confidence (max probability) for every item, from the
        learner trained on all labels in force."""
        idx, y = self.labels.labeled_arrays()
        if len(set(y.tolist())) < 2:
            raise LabelwiseError("predictions need labels of at least 2 classes")
        X = self._features()
        learner = self._learner().fit(X[idx], y)
        proba = learner.predict_proba(X)
        return learner.classes_[proba.argmax(axis=1)].astype(str), proba.max(axis=1)
