"""Making a project: check every input, read the items, encode them once, write the database.

:func:`init_project` reads a folder of images or a CSV/JSONL file of texts and encodes it;
:func:`create_project` takes items that are already encoded.

Every input is checked before the (slow) encoding: the target folder, the names of the encoder,
strategy, learner and cold-start strategy, the numbers, the data, the classes and the labels CSV
(known ids, known classes, no conflicting rows). The project is built in a temporary folder
beside the target and renamed to it at the end (:func:`labelwise.app.files.build_folder`): a
failure (bad input, a full disk, Ctrl-C) leaves nothing behind, and a build killed outright
leaves a hidden folder that the next ``init`` of the same target removes, reusing its embedding
cache.
"""

from __future__ import annotations

import contextlib
import errno
import json
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from labelwise.app import db
from labelwise.app.errors import DB_NAME, DEFAULT_LEASE_SECONDS, EMBEDDINGS_NAME, DiskFull
from labelwise.app.files import build_folder, check_new_folder
from labelwise.app.project import Project
from labelwise.app.transfer import match_label_rows, read_label_csv
from labelwise.io import atomic_write, is_disk_full
from labelwise.validation import (
    LabelwiseError,
    check_features,
    check_positive_int,
    plural,
    unknown_name_error,
)

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


def _check_target(path: str | Path) -> Path:
    """The project folder to create: not a project yet, not a file, missing or empty."""
    path = Path(path).expanduser()
    if (path / DB_NAME).exists():
        raise LabelwiseError(f"{path} already holds a labelwise project")
    check_new_folder(path, "project")
    return path


def _check_names(strategy: str, learner: str, cold_start: str) -> None:
    """Fail on unknown registry names before anything is read."""
    from labelwise.learners import LEARNERS
    from labelwise.strategies import get_strategy

    get_strategy(strategy)
    if learner not in LEARNERS:
        raise unknown_name_error("learner", learner, LEARNERS)
    if get_strategy(cold_start).needs:
        raise LabelwiseError(f"cold-start strategy {cold_start!r} needs a model; choose one that "
                             "needs none, e.g. random")


def _check_model(names: list[str], strategy: str, learner: str, learner_params: dict,
                 warm_start: bool = False) -> None:
    """At least 2 classes; the learner builds for them, can do what the strategy needs and,
    with ``warm_start``, can start each fit from the previous model."""
    from labelwise.learners import make_learner
    from labelwise.loop import check_capabilities
    from labelwise.strategies import get_strategy

    if len(names) < 2:
        raise LabelwiseError(f"a project needs at least 2 classes, got {len(names)}")
    model = make_learner(learner, names, **learner_params)
    check_capabilities(get_strategy(strategy), model)
    if warm_start and not model.can_warm_start():
        from labelwise.learners import warm_start_refusal

        raise LabelwiseError(warm_start_refusal(model))


def _check_data_labels(ids: list[str], labels, names: list[str]) -> None:
    """Labels that come with the data (None = unlabeled) lie within the classes."""
    if labels is None:
        return
    bad = [f"{ids[i]} ({lab!r})" for i, lab in enumerate(labels)
           if lab is not None and str(lab) not in names]
    if bad:
        raise LabelwiseError(f"labels outside the classes {', '.join(names)} in "
                             f"{plural(len(bad), 'item')}: {', '.join(bad[:10])}"
                             + (" ..." if len(bad) > 10 else ""))


@contextlib.contextmanager
def _building(path: Path, again: str, keep: tuple[str, ...] = ()) -> Iterator[Path]:
    """:func:`build_folder`, with a full disk reported as a one-line :class:`DiskFull`."""
    try:
        with build_folder(path, keep=keep) as tmp:
            yield tmp
    except (OSError, sqlite3.Error) as exc:
        if is_disk_full(exc, where=path.parent if path.parent.exists() else None):
            raise DiskFull(f"the disk is full: {path} was not created (nothing was left "
                           f"behind); free some space and {again}") from None
        if isinstance(exc, OSError) and exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
            raise LabelwiseError(f"cannot create {path}: {exc.strerror} ({exc.filename}); "
                                 "choose a folder you can write to") from None
        raise


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
    cold_start: str = "typiclust",
    warm_start: bool = False,
) -> Project:
    """Create a project from a folder of images or a CSV/JSONL file of texts.

    The items are encoded once (``encoder``; default ``efficientnet-lite0`` for images and
    ``minilm`` for texts) with the embedding cache under ``PATH/cache``. Labels found in the data
    (class subfolders, a label column) and in ``labels_csv`` (columns ``id,label``) are imported.
    The first batch is queued before this returns. Every input is checked before encoding, and
    the project appears at ``path`` whole or not at all (see the module docstring).

    Args:
        path: the project folder to create: missing, or an empty folder.
        data: a folder of images (one subfolder per class, or flat) or a .csv/.tsv/.jsonl file.
        classes: the class names (list or comma-separated); default: the labels in the data.
        strategy, learner: registry names (see ``labelwise strategies`` / ``learners``).
        batch_size: items per round.
        labels_per_item: how many annotators label each item (2+ = double labeling).
        warm_start: start each round's fit from the previous model (see
            :class:`~labelwise.engine.ActiveLearner`; logreg only among the built-ins).

    Raises:
        LabelwiseError: a missing or corrupt data file (named with its path), unknown names,
            labels outside the classes, fewer than 2 classes, a bad labels CSV (malformed,
            unknown ids or classes, conflicting rows: with line numbers), a ``path`` that is a
            file or a non-empty folder; :class:`DiskFull` when the disk fills up.
    """
    from labelwise.encoders import ENCODERS, embed

    path = _check_target(path)
    data = Path(data).expanduser()
    if not data.exists():
        raise LabelwiseError(f"data not found: {data}")
    if encoder is not None and encoder not in ENCODERS:
        raise unknown_name_error("encoder", encoder, ENCODERS)
    _check_names(strategy, learner, cold_start)
    check_positive_int(batch_size, "batch size")
    check_positive_int(labels_per_item, "labels per item")
    label_rows = read_label_csv(labels_csv) if labels_csv is not None else None
    raw = _load_raw(data, text_column, label_column)
    names = _parse_classes(classes)
    if not names:
        names = sorted({lab for lab in (raw.labels or []) if lab is not None})
        if len(names) < 2:
            raise LabelwiseError("name the classes with --classes a,b,c (the data holds labels "
                                 f"of {plural(len(names), 'class', 'classes')})")
    _check_model(names, strategy, learner, dict(learner_params or {}), warm_start)
    _check_data_labels(raw.ids, raw.labels, names)
    if label_rows is not None:
        match_label_rows(label_rows, {item_id: i for i, item_id in enumerate(raw.ids)}, names,
                         Path(labels_csv).expanduser())
    if encoder is None:
        encoder = "efficientnet-lite0" if raw.modality == "image" else "minilm"
    if ENCODERS[encoder].modality not in ("any", raw.modality):
        raise LabelwiseError(f"encoder {encoder!r} embeds {ENCODERS[encoder].modality}s, but "
                             f"{data} holds {raw.modality}s; choose another --encoder")
    paths = raw.ids if raw.modality == "image" else None
    texts = raw.items if raw.modality == "text" else None
    with _building(path, "run `labelwise init` again", keep=("cache",)) as tmp:
        features = embed(encoder, raw.items, cache_dir=tmp / "cache", progress=progress)
        project = create_project(
            tmp, raw.ids, features, names, raw.modality, texts=texts, paths=paths,
            data_root=str(data.resolve()),
            labels=raw.labels, strategy=strategy, learner=learner, batch_size=batch_size,
            labels_per_item=labels_per_item, random_state=random_state, encoder=str(encoder),
            learner_params=learner_params, cold_start=cold_start, warm_start=warm_start,
            prepare=labels_csv is None, _in_place=True,
        )
        del features  # the project's memory map holds them now
        if labels_csv is not None:
            project.import_labels(labels_csv)
            project.prepare_next_batch()
        project.close()
        del project  # freed before the final path maps the embeddings again (create_project)
    return Project(path)


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
    cold_start: str = "typiclust",
    warm_start: bool = False,
    _in_place: bool = False,
) -> Project:
    """Create a project from encoded items (what :func:`init_project` does after encoding).

    Every input is checked first; the project is built in a temporary folder beside ``path``
    and renamed to it at the end, so a failure leaves nothing behind.

    Args:
        path: the project folder to create: missing, or an empty folder.
        item_ids: (n,) unique string ids.
        features: (n, d) features; stored as float32 in ``embeddings.npy``.
        classes: the class names.
        modality: ``"image"`` (``paths`` relative to ``data_root``), ``"text"`` (``texts``) or
            ``"features"`` (nothing to show but the id).
        labels: optional (n,) label or None per item, imported with source ``data``.
        prepare: queue the first batch now.
        learner_params: the learner's parameters, kept in the settings.
        cold_start: the strategy that picks while fewer than 2 classes are labeled (default
            TypiClust, Hacohen et al. 2022: typical points of the pool's densest regions).
        warm_start: kept in the settings; the project's engine then starts each fit from the
            previous model (faster fits on many labels; picks depend on the history).
        _in_place: write straight into ``path`` (a new folder :func:`init_project` is building)
            and return the project open there.
    """
    path = Path(path).expanduser() if _in_place else _check_target(path)
    _check_names(strategy, learner, cold_start)
    names = _parse_classes(classes)
    learner_params = dict(learner_params or {})
    _check_model(names, strategy, learner, learner_params, warm_start)
    batch_size = check_positive_int(batch_size, "batch size")
    labels_per_item = check_positive_int(labels_per_item, "labels per item")
    X = check_features(features, "features").astype(np.float32, copy=False)
    ids = [str(i) for i in item_ids]
    if len(ids) != len(X):
        raise LabelwiseError(f"{plural(len(ids), 'item id')} but "
                             f"{plural(len(X), 'feature row')}")
    if len(set(ids)) != len(ids):
        raise LabelwiseError("the item ids contain duplicates")
    _check_data_labels(ids, labels, names)
    if modality not in ("image", "text", "features"):
        raise LabelwiseError(f"modality must be image, text or features, got {modality!r}")
    settings = {
        "classes": names, "modality": modality, "strategy": strategy, "learner": learner,
        "batch_size": batch_size, "labels_per_item": labels_per_item,
        "random_state": int(random_state), "encoder": encoder, "data_root": data_root,
        "lease_seconds": float(lease_seconds), "n_items": len(ids), "n_features": X.shape[1],
        "created": time.time(), "learner_params": learner_params, "cold_start": cold_start,
        "warm_start": bool(warm_start),
    }
    if _in_place:
        return _write(path, X, ids, texts, paths, labels, settings, prepare)
    with _building(path, "try again") as tmp:
        # the project built in the temporary folder is freed here, its memory map of
        # embeddings.npy with it, before the finished one maps and checks the file afresh:
        # mapped pages count as resident once per mapping, and with both maps alive creating
        # peaked 1x the features' bytes higher (benchmarks/bench_app_memory.py)
        _write(tmp, X, ids, texts, paths, labels, settings, prepare).close()
    return Project(path)


def _write(path: Path, X: np.ndarray, ids: list[str], texts, paths, labels, settings: dict,
           prepare: bool) -> Project:
    """Write the embeddings and the database of a new project into the new folder ``path`` and
    open it there (queueing the first batch when ``prepare``)."""
    with atomic_write(path / EMBEDDINGS_NAME, "wb") as f:
        np.save(f, X)
    conn = db.connect(path / DB_NAME)
    try:
        db.create_schema(conn)
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
    finally:
        conn.close()
    project = Project(path)
    if prepare:
        try:
            project.prepare_next_batch()
        except BaseException:
            project.close()
            raise
    return project
