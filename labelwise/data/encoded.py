"""Dataset + encoder: the step ``data source -> (encoder, cached) -> pool`` of the data flow.

A :class:`Dataset` whose raw items exist (images in ``raw_train``/``raw_test``, or texts) gets its
features from an encoder: ``X = embed(encoder, raw)``, cached on disk by
:func:`labelwise.encoders.embed`. Defaults: texts use ``"minilm"`` (they have no features of
their own), images keep the pixels they were loaded with (``"identity"``) unless an encoder is
named. User files (:class:`RawData`) become a Dataset with :func:`dataset_from_raw`.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np

from labelwise.data.dataset import Dataset, RawData
from labelwise.validation import LabelwiseError


def modality_of(ds: Dataset) -> str:
    """``"text"``, ``"image"`` or ``"features"`` (no raw items): from ``info`` or the raw items."""
    if ds.info.get("modality"):
        return ds.info["modality"]
    raw = ds.raw_train
    if raw is None:
        return "features"
    if isinstance(raw, np.ndarray) and raw.dtype != object:
        return "image" if raw.ndim in (3, 4) else "features"
    return "text" if len(raw) and isinstance(raw[0], str) else "image"


def default_encoder(ds: Dataset) -> str:
    """The encoder a data set uses when none is named: ``info["default_encoder"]``, else by
    modality (``"minilm"`` for texts, ``"identity"`` for images and features)."""
    return ds.info.get("default_encoder") or ("minilm" if modality_of(ds) == "text" else "identity")


def encode_dataset(ds: Dataset, encoder: str | None = None, cache_dir: str | Path | None = None,
                   progress: bool = True) -> Dataset:
    """Return ``ds`` with features computed by ``encoder`` from its raw items (cached on disk).

    Args:
        ds: a Dataset; ``raw_train`` (n, ...) and ``raw_test`` (m, ...) hold images or texts.
        encoder: an encoder name (``labelwise.encoders.ENCODERS``); ``None`` = the data set's
            default (:func:`default_encoder`). ``"identity"`` keeps features that exist already
            (e.g. the built-ins' scaled pixels) and flattens raw images otherwise.
        cache_dir: the embedding cache (default ``$LABELWISE_CACHE`` or ``~/.cache/labelwise``).

    Returns:
        A new Dataset: ``X_train`` (n, d) and ``X_test`` (m, d) float32, ``name`` suffixed with
        ``+<encoder>`` unless it is the default, ``info["encoder"]`` the encoder's name.

    Raises:
        LabelwiseError: an unknown encoder, an encoder for a data set without raw items, or one
            of the wrong modality (e.g. ``minilm`` on images).
    """
    from labelwise.encoders import embed, get_encoder

    name = default_encoder(ds) if encoder is None else encoder
    if name == ITEMS:
        return _as_item_indices(ds)
    enc = get_encoder(name)  # unknown names fail here, listing the choices
    kind = modality_of(ds)
    has_features = ds.X_train.ndim == 2 and ds.X_train.shape[1] > 0
    if name == "identity" and has_features:
        return dataclasses.replace(ds, info={**ds.info, "encoder": "identity"})
    if ds.raw_train is None:
        raise LabelwiseError(f"data set {ds.name!r} has only features, no raw images or texts to "
                             f"encode; use --encoder identity")
    if enc.modality not in ("any", kind):
        raise LabelwiseError(f"encoder {name!r} embeds {enc.modality}s but {ds.name!r} holds "
                             f"{kind}s; choose {'an' if kind == 'image' else 'a'} {kind} encoder")
    X_train = embed(enc, ds.raw_train, cache_dir=cache_dir, progress=progress)
    X_test = None
    if ds.raw_test is not None and len(ds.raw_test):
        X_test = embed(enc, ds.raw_test, cache_dir=cache_dir, progress=progress)
    suffix = "" if name == default_encoder(ds) else f"+{name}"
    return dataclasses.replace(ds, name=ds.name + suffix, X_train=X_train, X_test=X_test,
                               info={**ds.info, "encoder": name})


ITEMS = "items"


def _as_item_indices(ds: Dataset) -> Dataset:
    """``encoder="items"``: no encoding, for the fine-tuning learners (Pretrained Models Are Good
    Active Learners, 2021; Aggarwal et al. 2022).

    ``X_train`` (n, 1) and ``X_test`` (m, 1) become index columns into ``info["items"]`` (the
    pool's raw items, then the test split's), which the simulation hands to a ``finetune-*``
    learner (:mod:`labelwise.learners.finetune`)."""
    from labelwise.learners.finetune import finetune_inputs

    if ds.raw_train is None:
        raise LabelwiseError(f"data set {ds.name!r} has no raw images or texts to fine-tune on")
    items, X_train, X_test = finetune_inputs(ds.raw_train, ds.raw_test)
    return dataclasses.replace(ds, X_train=X_train, X_test=X_test,
                               info={**ds.info, "encoder": ITEMS, "items": items})


def dataset_from_raw(raw: RawData, test_size: float = 0.25, random_state: int = 0) -> Dataset:
    """A labeled :class:`RawData` (user images or texts) as a Dataset to simulate on.

    Labels become indices into their sorted unique values; a stratified ``test_size`` share
    (seeded by ``random_state``) is held out. Features are (n, 0) placeholders until
    :func:`encode_dataset` fills them; ``raw_train``/``raw_test`` are lists of items.

    Raises:
        LabelwiseError: when the data has no labels, some items are unlabeled (listing them), or
            there is a single class.
    """
    from sklearn.model_selection import train_test_split

    from labelwise.data.problems import list_offenders

    source = Path(raw.source).name or "the data"
    if raw.labels is None:
        raise LabelwiseError(f"{source} has no labels; a simulation needs labeled data "
                             "(one subfolder per class, or a label column)")
    unlabeled = [raw.ids[i] for i, lab in enumerate(raw.labels) if lab is None]
    if unlabeled:
        raise LabelwiseError(f"{len(unlabeled)} item(s) in {source} have no label: "
                             f"{list_offenders(unlabeled)}; a simulation needs every label")
    classes, y = np.unique(np.asarray(raw.labels, dtype=str), return_inverse=True)
    if len(classes) < 2:
        raise LabelwiseError(f"{source} has a single class ({classes[0]!r}); need at least 2")
    counts = np.bincount(y)
    stratify = y if counts.min() >= 2 else None
    n_test = max(int(round(test_size * len(y))), len(classes) if stratify is not None else 1)
    if n_test >= len(y):
        raise LabelwiseError(f"{source} has only {len(y)} items: too few to hold out a test set")
    tr, te = train_test_split(np.arange(len(y)), test_size=n_test, stratify=stratify,
                              random_state=random_state)
    tr.sort()
    te.sort()
    return Dataset(
        name=str(raw.source),
        X_train=np.zeros((len(tr), 0), np.float32),
        y_train=y[tr].astype(np.int64),
        X_test=np.zeros((len(te), 0), np.float32),
        y_test=y[te].astype(np.int64),
        classes=[str(c) for c in classes],
        description=f"{raw.modality}s from {source}",
        raw_train=[raw.items[i] for i in tr],
        raw_test=[raw.items[i] for i in te],
        info={"modality": raw.modality, "ids_train": [raw.ids[i] for i in tr],
              "ids_test": [raw.ids[i] for i in te]},
    )
