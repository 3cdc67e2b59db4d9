"""Every bad input of the foundation gets a one-line LabelwiseError that names the problem."""

import numpy as np
import pytest

from labelwise import LabelwiseError, make_learner, query, run_active_learning
from labelwise.data import load_dataset, read_features
from labelwise.strategies import get_strategy


@pytest.fixture(scope="module")
def small():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 3))
    y = np.repeat([0, 1], 20)
    learner = make_learner("logreg", 2, random_state=0).fit(X[[0, 1, 20, 21]], y[[0, 1, 20, 21]])
    return X, y, learner


def one_line(exc_info) -> str:
    msg = str(exc_info.value)
    assert "\n" not in msg
    return msg


def test_nan_features(small):
    X, y, _ = small
    X = X.copy()
    X[5, 1] = np.nan
    with pytest.raises(LabelwiseError) as e:
        make_learner("logreg", 2).fit(X, y)
    assert "NaN" in one_line(e) and "row 5" in one_line(e)


def test_inf_features_in_the_pool(small):
    X, y, learner = small
    X = X.copy()
    X[7, 0] = np.inf
    with pytest.raises(LabelwiseError, match="NaN or inf"):
        query("margin", learner, X, [0, 1, 20, 21], [0, 0, 1, 1], k=2)


def test_mismatched_lengths(small):
    X, y, _ = small
    with pytest.raises(LabelwiseError, match="40 rows but labels has 39"):
        make_learner("logreg", 2).fit(X, y[:-1])


def test_labels_outside_the_declared_classes(small):
    X, y, _ = small
    with pytest.raises(LabelwiseError, match="outside the declared classes: 2"):
        make_learner("logreg", 2).fit(X[:3], [0, 1, 2])


def test_k_larger_than_the_pool(small):
    X, _, learner = small
    with pytest.raises(LabelwiseError, match="k=37 is larger than the unlabeled pool \\(36"):
        query("margin", learner, X, [0, 1, 20, 21], [0, 0, 1, 1], k=37)


def test_empty_pool(small):
    X, y, learner = small
    with pytest.raises(LabelwiseError, match="pool is empty"):
        query("entropy", learner, X, np.arange(40), y, k=1)


def test_labeled_index_out_of_range(small):
    X, _, learner = small
    with pytest.raises(LabelwiseError, match=r"labeled indices must lie in \[0, 40\)"):
        query("entropy", learner, X, [0, 99], [0, 1], k=1)


def test_unknown_strategy_lists_the_choices():
    with pytest.raises(LabelwiseError) as e:
        get_strategy("confidence")
    assert "unknown strategy 'confidence'" in one_line(e) and "least_confidence" in one_line(e)


def test_unknown_dataset_and_learner_list_the_choices(digits):
    with pytest.raises(LabelwiseError, match="unknown dataset 'mnist'.*mnist5k"):
        load_dataset("mnist")
    with pytest.raises(LabelwiseError, match="unknown learner 'forest'.*logreg"):
        run_active_learning(digits.X_train, digits.y_train, digits.X_test, digits.y_test,
                            learner="forest")


def test_seed_larger_than_the_pool(digits):
    with pytest.raises(LabelwiseError, match="seed size 5000 is larger than the pool"):
        run_active_learning(digits.X_train, digits.y_train, digits.X_test, digits.y_test,
                            seed_size=5000)


def test_non_numeric_and_wrongly_shaped_features():
    with pytest.raises(LabelwiseError, match="must be numeric"):
        make_learner("logreg", 2).fit(np.array([["a", "b"], ["c", "d"]]), [0, 1])
    with pytest.raises(LabelwiseError, match="must be 2-D"):
        make_learner("logreg", 2).fit(np.zeros(4), [0, 1, 0, 1])


def test_predict_before_fit():
    with pytest.raises(LabelwiseError, match="not fitted"):
        make_learner("logreg", 2).predict_proba(np.zeros((2, 2)))


def test_file_errors(tmp_path):
    with pytest.raises(LabelwiseError, match="data file not found"):
        read_features(tmp_path / "nope.csv")
    (tmp_path / "x.txt").write_text("1,2")
    with pytest.raises(LabelwiseError, match="expected one of .npy, .npz, .csv, .parquet"):
        read_features(tmp_path / "x.txt")
    (tmp_path / "bad.csv").write_text("a,b,label\n1,x,0\n2,3,1\n")
    with pytest.raises(LabelwiseError, match=r"non-numeric feature column\(s\) \['b'\]"):
        read_features(tmp_path / "bad.csv")
    (tmp_path / "holes.csv").write_text("a,label\n1,0\n2,\n3,1\n")
    with pytest.raises(LabelwiseError, match="label column 'label' is empty in 1 row"):
        read_features(tmp_path / "holes.csv")
    (tmp_path / "nan.csv").write_text("a,b\n1,2\n3,nan\n")
    with pytest.raises(LabelwiseError, match="NaN or inf"):
        read_features(tmp_path / "nan.csv")
    np.savez(tmp_path / "z.npz", features=np.zeros((3, 2)))
    with pytest.raises(LabelwiseError, match="array named 'X'"):
        read_features(tmp_path / "z.npz")
    np.save(tmp_path / "X.npy", np.zeros((3, 2)))
    np.save(tmp_path / "y.npy", np.zeros(4))
    with pytest.raises(LabelwiseError, match="3 rows but labels has 4"):
        read_features(tmp_path / "X.npy", labels_path=tmp_path / "y.npy")
