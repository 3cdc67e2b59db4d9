"""Built-in data sets have fixed splits; user feature files load labeled or unlabeled."""

import numpy as np
import pandas as pd
import pytest

from labelwise.data import DATASETS, load_dataset, read_features


def test_digits_split_is_fixed_and_scaled(digits):
    again = load_dataset("digits")
    assert digits.X_train.shape == (1297, 64) and digits.X_test.shape == (500, 64)
    np.testing.assert_array_equal(digits.y_train, again.y_train)
    assert 0.0 <= digits.X_train.min() and digits.X_train.max() <= 1.0
    assert digits.raw_train.shape == (1297, 8, 8)


def test_mnist5k_split():
    ds = load_dataset("mnist5k")
    assert ds.X_train.shape == (4000, 784) and ds.X_test.shape == (1000, 784)
    assert np.bincount(ds.y_test).tolist() == [100] * 10  # stratified
    assert ds.X_train.max() == pytest.approx(1.0)


def test_breast_cancer_is_standardised_on_the_pool():
    ds = load_dataset("breast_cancer")
    assert ds.X_train.shape == (400, 30) and ds.classes == ["malignant", "benign"]
    np.testing.assert_allclose(ds.X_train.mean(0), 0, atol=1e-4)


def test_registry_lists_the_builtins():
    assert {"digits", "mnist5k", "breast_cancer"} <= set(DATASETS)


def test_csv_with_string_labels_becomes_a_dataset(tmp_path):
    rng = np.random.default_rng(0)
    df = pd.DataFrame(rng.normal(size=(40, 3)), columns=["f1", "f2", "f3"])
    df["label"] = ["spam", "ham"] * 20
    df.to_csv(tmp_path / "d.csv", index=False)
    ds = load_dataset(str(tmp_path / "d.csv"))
    assert ds.classes == ["ham", "spam"]
    assert len(ds.X_train) == 30 and len(ds.X_test) == 10
    assert set(np.unique(ds.y_train)) == {0, 1}


def test_unlabeled_parquet_is_a_pool(tmp_path):
    pd.DataFrame({"a": [1.0, 2.0], "b": [3.0, 4.0]}).to_parquet(tmp_path / "p.parquet")
    X, y = read_features(tmp_path / "p.parquet")
    assert X.shape == (2, 2) and y is None


def test_npz_and_npy(tmp_path):
    np.savez(tmp_path / "d.npz", X=np.ones((4, 2)), y=np.array([0, 1, 0, 1]))
    X, y = read_features(tmp_path / "d.npz")
    assert X.dtype == np.float32 and y.tolist() == [0, 1, 0, 1]
    np.save(tmp_path / "X.npy", np.ones((3, 5)))
    X, y = read_features(tmp_path / "X.npy")
    assert X.shape == (3, 5) and y is None
