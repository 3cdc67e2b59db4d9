"""Labels in and out of a project: CSV import, and CSV / JSONL / Label Studio export."""

from __future__ import annotations

import csv
import json
import time
from collections import Counter
from pathlib import Path

from labelwise.app import db
from labelwise.validation import LabelwiseError

EXPORT_FORMATS = ("csv", "jsonl", "label-studio")


class Transfer:
    """Import and export of :class:`labelwise.app.project.Project` (a mixin)."""

    # -- import / export -----------------------------------------------------------------------
    def import_labels(self, csv_path: str | Path, annotator: str = "import") -> dict:
        """Import labels from a CSV with columns ``id`` (the item id) and ``label``.

        Items that already carry a label in force are left as they are (counted in
        ``already_labeled``). Unknown ids and classes are reported with their row numbers.
        """
        p = Path(csv_path).expanduser()
        if not p.is_file():
            raise LabelwiseError(f"label file not found: {p}")
        try:
            with open(p, newline="", encoding="utf-8") as f:
                reader = csv.DictReader(f)
                fields = reader.fieldnames or []
                if "id" not in fields or "label" not in fields:
                    raise LabelwiseError(f"{p} must have columns 'id' and 'label' (has: "
                                         f"{', '.join(fields) or 'none'})")
                rows = [(n, r["id"], r["label"]) for n, r in enumerate(reader, start=2)]
        except (UnicodeDecodeError, csv.Error) as exc:
            raise LabelwiseError(f"cannot read {p}: {exc}") from None
        lookup = dict(self.conn.execute("SELECT item_id, idx FROM items").fetchall())
        bad = [f"line {n} (unknown id {i!r})" for n, i, _ in rows if i not in lookup]
        bad += [f"line {n} (unknown class {lab!r})" for n, _, lab in rows
                if lab not in self.classes]
        if bad:
            raise LabelwiseError(f"{p}: {len(bad)} bad row(s): {', '.join(bad[:10])}"
                                 + (" ..." if len(bad) > 10 else "") +
                                 f"; classes are {', '.join(self.classes)}")
        now = time.time()
        conn = self.conn
        with db.transaction(conn):
            labeled = {r[0] for r in conn.execute(
                "SELECT item_idx FROM labels WHERE undone_at IS NULL")}
            new = []
            for _, i, lab in rows:
                idx = lookup[i]
                if idx not in labeled:
                    labeled.add(idx)
                    new.append((idx, lab, annotator, now))
            conn.executemany("INSERT INTO labels (item_idx, label, annotator, created, source) "
                             "VALUES (?, ?, ?, ?, 'import')", new)
            self._advance(conn)
        return {"imported": len(new), "already_labeled": len(rows) - len(new)}

    def export(self, out: str | Path, format: str = "csv", predictions: bool = False,
               document_root: str | Path | None = None, image_url: str | None = None) -> dict:
        """Write the labels (and optionally predictions for unlabeled items) to ``out``.

        Formats: ``csv`` and ``jsonl`` (one row per labeled item: id, label, annotator(s),
        labeled_at; with ``predictions`` also one row per unlabeled item with an empty label,
        every row gaining ``prediction`` and ``confidence``), ``label-studio`` (a JSON list of
        tasks that Label Studio imports, and its labeling config beside it; see
        :mod:`labelwise.integrations.label_studio`: one annotation per label, credited to the
        annotator's e-mail, and with ``predictions`` a prediction whose score is the confidence;
        images as local-files URLs below ``document_root``, or below the ``image_url`` prefix).
        The result gains ``label_config`` (the config's path) and ``annotators`` (the e-mails
        Label Studio must know) for ``label-studio``.
        """
        if format not in EXPORT_FORMATS:
            raise LabelwiseError(f"unknown export format {format!r}; choose one of: "
                                 f"{', '.join(EXPORT_FORMATS)}")
        by_item: dict[int, list[dict]] = {}
        for r in self.active_labels():
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
        out.parent.mkdir(parents=True, exist_ok=True)
        if format == "csv":
            import pandas as pd

            pd.DataFrame([r for r, *_ in records],
                         columns=["id", "label", "annotator", "labeled_at"]
                         + (["prediction", "confidence"] if predictions else [])
                         ).to_csv(out, index=False)
        elif format == "jsonl":
            with open(out, "w", encoding="utf-8") as f:
                for rec, *_ in records:
                    f.write(json.dumps(rec, ensure_ascii=False) + "\n")
        else:
            from labelwise.integrations import label_studio as ls

            modality = "image" if self.settings["modality"] == "image" else "text"
            urls = ls.image_urls(self.settings["data_root"], document_root, image_url) \
                if modality == "image" else None
            extra = ls.write_export(out, [self._label_studio_task(*r, urls) for r in records],
                                    ls.label_config(self.classes, modality))
        return {"path": str(out), "rows": len(records),
                "labeled": sum(1 for r, *_ in records if r["label"] is not None),
                **(extra if format == "label-studio" else {})}

    def _label_studio_task(self, rec: dict, labs: list[dict], text, rel, image_url) -> dict:
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
                          "model_version": f"labelwise-{self.settings['learner']}"}
        return ls.make_task(data, labs, config, prediction)
