"""Making a project: read the items, encode them once, and write the database.

:func:`init_project` reads a folder of images or a CSV/JSONL file of texts and encodes it;
:func:`create_project` takes items that are already encoded.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np

from labelwise.app import db
from labelwise.app.errors import DB_NAME, DEFAULT_LEASE_SECONDS, EMBEDDINGS_NAME
from labelwise.app.project import Project
from labelwise.validation import LabelwiseError, check_features, check_positive_int

TEXT_SUFFIXES = (".csv", ".tsv", ".jsonl", ".ndjson")


def _parse_classes(classes) -> list[str]:
    if classes is None:
        return []
    if isinstance(classes, str):
        classes = classes.split(",")
    out = [str(c).strip() for c in classes if str(c).strip()]
    dup = sorted({c for c in out if out.count(c) > 1})
    if dup:
        raise LabelwiseError(f"the classes contain duplicates: {', '.join(dup)}")
    return out

def _load_raw(data: Path, text_column: str, label_column: str | None):
    if data.is_dir():
        from labelwise.data.images import load_image_folder

        return load_image_folder(data)
    if data.suffix.lower() in TEXT_SUFFIXES:
        from labelwise.data.texts import load_text_table

        return load_text_table(data, text_column=text_column, label_column=label_column)
    if not data.exists():
        raise LabelwiseError(f"data not found: {data}")
    raise LabelwiseError(f"cannot read {data}: give a folder of images or a "
                         f"{'/'.join(TEXT_SUFFIXES)} file of texts")


def init_project(
    path: str | Path,
    data: str | Path,
    classes=None,
    encoder: str | None = None,
    strategy: str = "margin",
    learner: str = "logreg",
    batch_size: int = 10,
    labels_per_item: int = 1,
    labels_csv: str | Path | None = None,
    text_column: str = "text",
    label_column: str | None = "label",
    random_state: int = 0,
    progress: bool = True,
    learner_params: dict | None = None,
    cold_start: str = "random",
) -> Project:
    """Create a project from a folder of images or a CSV/JSONL file of texts.

    The items are encoded once (``encoder``; default ``efficientnet-lite0`` for images and
    ``minilm`` for texts) with the embedding cache under ``PATH/cache``. Labels found in the data
    (class subfolders, a label column) and in ``labels_csv`` (columns ``id,label``) are imported.
    The first batch is queued before this returns.

    Args:
        path: the project folder to create (must not hold a project yet).
        data: a folder of images (one subfolder per class, or flat) or a .csv/.tsv/.jsonl file.
        classes: the class names (list or comma-separated); default: the labels in the data.
        strategy, learner: registry names (see ``labelwise strategies`` / ``learners``).
        batch_size: items per round.
        labels_per_item: how many annotators label each item (2+ = double labeling).

    Raises:
        LabelwiseError: a missing or corrupt data file (named with its path), unknown names,
            labels outside the classes, or fewer than 2 classes.
    """
    from labelwise.encoders import embed

    data = Path(data).expanduser()
    if not data.exists():
        raise LabelwiseError(f"data not found: {data}")
    path = Path(path).expanduser()
    if (path / DB_NAME).exists():
        raise LabelwiseError(f"{path} already holds a labelwise project")
    raw = _load_raw(data, text_column, label_column)
    names = _parse_classes(classes)
    found = sorted({lab for lab in (raw.labels or []) if lab is not None})
    if not names:
        names = found
        if len(names) < 2:
            raise LabelwiseError("name the classes with --classes a,b,c (the data holds labels "
                                 f"of {len(names)} class(es))")
    if encoder is None:
        encoder = "efficientnet-lite0" if raw.modality == "image" else "minilm"
    features = embed(encoder, raw.items, cache_dir=path / "cache", progress=progress)
    paths = raw.ids if raw.modality == "image" else None
    texts = raw.items if raw.modality == "text" else None
    project = create_project(
        path, raw.ids, features, names, raw.modality, texts=texts, paths=paths,
        data_root=str(data.resolve()),
        labels=raw.labels, strategy=strategy, learner=learner, batch_size=batch_size,
        labels_per_item=labels_per_item, random_state=random_state, encoder=str(encoder),
        learner_params=learner_params, cold_start=cold_start,
        prepare=labels_csv is None,
    )
    if labels_csv is not None:
        project.import_labels(labels_csv)
        project.prepare_next_batch()
    return project

def create_project(
    path: str | Path,
    item_ids,
    features,
    classes,
    modality: str = "features",
    texts=None,
    paths=None,
    data_root: str | None = None,
    labels=None,
    strategy: str = "margin",
    learner: str = "logreg",
    batch_size: int = 10,
    labels_per_item: int = 1,
    random_state: int = 0,
    encoder: str = "",
    lease_seconds: float = DEFAULT_LEASE_SECONDS,
    prepare: bool = True,
    learner_params: dict | None = None,
    cold_start: str = "random",
) -> Project:
    """Create a project from encoded items (what :func:`init_project` does after encoding).

    Args:
        item_ids: (n,) unique string ids.
        features: (n, d) features; stored as float32 in ``embeddings.npy``.
        classes: the class names.
        modality: ``"image"`` (``paths`` relative to ``data_root``), ``"text"`` (``texts``) or
            ``"features"`` (nothing to show but the id).
        labels: optional (n,) label or None per item, imported with source ``data``.
        prepare: queue the first batch now.
        learner_params: the learner's parameters, kept in the settings.
        cold_start: the strategy that picks while fewer than 2 classes are labeled.
    """
    from labelwise.learners import make_learner
    from labelwise.loop import check_capabilities
    from labelwise.strategies import get_strategy

    path = Path(path).expanduser()
    if (path / DB_NAME).exists():
        raise LabelwiseError(f"{path} already holds a labelwise project")
    names = _parse_classes(classes)
    if len(names) < 2:
        raise LabelwiseError(f"a project needs at least 2 classes, got {len(names)}")
    learner_params = dict(learner_params or {})
    check_capabilities(get_strategy(strategy), make_learner(learner, names, **learner_params))
    if get_strategy(cold_start).needs:
        raise LabelwiseError(f"cold-start strategy {cold_start!r} needs a model; choose one that "
                             "needs none, e.g. random")
    batch_size = check_positive_int(batch_size, "batch size")
    labels_per_item = check_positive_int(labels_per_item, "labels per item")
    X = check_features(features, "features").astype(np.float32, copy=False)
    ids = [str(i) for i in item_ids]
    if len(ids) != len(X):
        raise LabelwiseError(f"{len(ids)} item ids but {len(X)} feature rows")
    if len(set(ids)) != len(ids):
        raise LabelwiseError("the item ids contain duplicates")
    if labels is not None:
        bad = [f"{ids[i]} ({lab!r})" for i, lab in enumerate(labels)
               if lab is not None and str(lab) not in names]
        if bad:
            raise LabelwiseError(f"labels outside the classes {', '.join(names)} in "
                                 f"{len(bad)} item(s): {', '.join(bad[:10])}")
    if modality not in ("image", "text", "features"):
        raise LabelwiseError(f"modality must be image, text or features, got {modality!r}")
    path.mkdir(parents=True, exist_ok=True)
    tmp = path / (EMBEDDINGS_NAME + ".tmp.npy")
    np.save(tmp, X)
    tmp.replace(path / EMBEDDINGS_NAME)
    conn = db.connect(path / DB_NAME)
    db.create_schema(conn)
    settings = {
        "classes": names, "modality": modality, "strategy": strategy, "learner": learner,
        "batch_size": batch_size, "labels_per_item": labels_per_item,
        "random_state": int(random_state), "encoder": encoder, "data_root": data_root,
        "lease_seconds": float(lease_seconds), "n_items": len(ids), "created": time.time(),
        "learner_params": learner_params, "cold_start": cold_start,
    }
    now = time.time()
    with db.transaction(conn):
        conn.executemany("INSERT INTO settings VALUES (?, ?)",
                         [(k, json.dumps(v)) for k, v in settings.items()])
        conn.executemany(
            "INSERT INTO items (idx, item_id, text, path) VALUES (?, ?, ?, ?)",
            ((i, ids[i], texts[i] if texts is not None else None,
              paths[i] if paths is not None else None) for i in range(len(ids))))
        if labels is not None:
            conn.executemany(
                "INSERT INTO labels (item_idx, label, annotator, created, source) "
                "VALUES (?, ?, 'data', ?, 'data')",
                [(i, str(lab), now) for i, lab in enumerate(labels) if lab is not None])
    conn.close()
    project = Project(path)
    if prepare:
        project.prepare_next_batch()
    return project
