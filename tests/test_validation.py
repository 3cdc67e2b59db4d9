"""Every bad input of the foundation gets a one-line LabelwiseError that names the problem."""

import numpy as np
import pytest

from labelwise import LabelwiseError, make_learner, query, run_active_learning
from labelwise.data import load_dataset, read_features
from labelwise.strategies import get_strategy
from labelwise.validation import check_features, plural


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


def test_check_features_keeps_floats_and_converts_other_numbers():
    x64 = np.ones((3, 2))
    assert check_features(x64) is x64  # no copy of a valid float array
    x32 = np.ones((3, 2), dtype=np.float32)
    assert check_features(x32) is x32
    assert check_features([[1, 2], [3, 4]]).dtype == np.float32
    assert check_features(np.array([[True, False]])).dtype == np.float32
    got = check_features(np.array([[1, 2.5]], dtype=object))  # numbers in an object array
    assert got.dtype == np.float32 and got.tolist() == [[1.0, 2.5]]
    assert check_features(np.zeros((0, 3))).shape == (0, 3)  # an empty pool is not an error


@pytest.mark.parametrize("X, message", [
    (np.array([[1.0, np.nan], [2.0, 3.0], [np.nan, 1.0]]),
     "X contains NaN or inf values (NaN in 2 rows, first at row 0); drop or impute them first"),
    (np.array([[1.0, 2.0], [np.inf, 3.0]]),
     "X contains NaN or inf values (inf in 1 row, first at row 1); drop or impute them first"),
    (np.zeros((4, 0)), "X has no feature columns (shape (4, 0))"),
    (np.zeros((2, 3, 4)), "X must be 2-D (n_samples, n_features), got shape (2, 3, 4); "
                          "flatten images first or use an encoder"),
    (np.array([[1 + 2j]]), "X must hold real numbers, got complex values"),
    (np.array([["a", "b"]]), "X must be numeric, got values of type <U1; encode texts or "
                             "categories as numbers first"),
])
def test_check_features_errors_are_one_line(X, message):
    with pytest.raises(LabelwiseError) as e:
        check_features(X)
    assert one_line(e) == message


def test_check_features_sparse_and_ragged():
    import scipy.sparse

    with pytest.raises(LabelwiseError) as e:
        check_features(scipy.sparse.eye(3, format="csr"), name="pool")
    assert one_line(e) == "pool is a sparse matrix; pass a dense array (pool.toarray())"
    with pytest.raises(LabelwiseError, match="cannot be read as a numeric array"):
        check_features([[1.0, 2.0], [3.0]])


def test_plural():
    assert plural(1, "seed") == "1 seed"
    assert plural(0, "seed") == "0 seeds"
    assert plural(2, "class", "classes") == "2 classes"
    assert plural(1, "class", "classes") == "1 class"
