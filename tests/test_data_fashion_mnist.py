"""Fashion-MNIST loader: idx parsing, where the files are looked for, the fixed subsets."""

import gzip
import struct

import numpy as np
import pytest

from labelwise.data import fashion_mnist as fm
from labelwise.validation import LabelwiseError


def write_idx(path, arr: np.ndarray, gz: bool = True):
    arr = np.asarray(arr, np.uint8)
    header = bytes([0, 0, 0x08, arr.ndim]) + struct.pack(f">{arr.ndim}I", *arr.shape)
    data = header + arr.tobytes()
    if gz:
        with gzip.open(str(path) + ".gz", "wb") as f:
            f.write(data)
    else:
        path.write_bytes(data)


@pytest.fixture
def fake_fmnist(tmp_path):
    """60 train / 20 test tiny 'images' whose first pixel is the row number, labels 0-9."""
    rng = np.random.default_rng(0)
    folder = tmp_path / "fm"
    folder.mkdir()
    for split, n in (("train", 60), ("t10k", 20)):
        images = rng.integers(0, 256, (n, 4, 3), dtype=np.uint8)
        images[:, 0, 0] = np.arange(n)
        labels = np.arange(n) % 10
        write_idx(folder / f"{split}-images-idx3-ubyte", images, gz=split == "train")
        write_idx(folder / f"{split}-labels-idx1-ubyte", labels, gz=split == "train")
    return folder


def test_read_idx_hand_made(tmp_path):
    write_idx(tmp_path / "a", np.array([[1, 2, 3], [4, 5, 255]]), gz=False)
    out = fm.read_idx(tmp_path / "a")
    assert out.dtype == np.uint8
    np.testing.assert_array_equal(out, [[1, 2, 3], [4, 5, 255]])


def test_read_idx_agrees_with_mlxtend_on_uncompressed_files(tmp_path):
    # mlxtend's loadlocal_mnist reads only uncompressed 28 x 28 files (the Debian package ships
    # them gzipped), so read_idx stays; where both apply they give the same arrays
    from mlxtend.data import loadlocal_mnist

    rng = np.random.default_rng(1)
    images = rng.integers(0, 256, (5, 28, 28), dtype=np.uint8)
    write_idx(tmp_path / "img", images, gz=False)
    write_idx(tmp_path / "lab", np.array([3, 1, 4, 1, 5]), gz=False)
    X, y = loadlocal_mnist(str(tmp_path / "img"), str(tmp_path / "lab"))
    np.testing.assert_array_equal(fm.read_idx(tmp_path / "img").reshape(5, -1), X)
    np.testing.assert_array_equal(fm.read_idx(tmp_path / "lab"), y)


def test_read_idx_rejects_bad_magic_and_truncation(tmp_path):
    (tmp_path / "bad").write_bytes(b"\x01\x02\x08\x01\x00\x00\x00\x02ab")
    with pytest.raises(LabelwiseError, match="not an idx file"):
        fm.read_idx(tmp_path / "bad")
    (tmp_path / "short").write_bytes(bytes([0, 0, 8, 1]) + struct.pack(">I", 5) + b"abc")
    with pytest.raises(LabelwiseError, match="truncated"):
        fm.read_idx(tmp_path / "short")
    (tmp_path / "x.gz").write_bytes(b"not gzip")
    with pytest.raises(LabelwiseError, match="cannot read"):
        fm.read_idx(tmp_path / "x.gz")


def test_load_from_folder_keeps_official_split(fake_fmnist):
    ds = fm.load_fashion_mnist(fake_fmnist, pool_size=None, test_size=None)
    assert ds.X_train.shape == (60, 12) and ds.X_test.shape == (20, 12)
    assert ds.raw_train.shape == (60, 4, 3) and ds.raw_train.dtype == np.uint8
    # pool = the train file, test = the t10k file, in file order
    np.testing.assert_array_equal(ds.raw_train[:, 0, 0], np.arange(60))
    np.testing.assert_array_equal(ds.y_test, np.arange(20) % 10)
    np.testing.assert_allclose(ds.X_train, ds.raw_train.reshape(60, -1) / 255.0, rtol=1e-6)
    assert ds.classes[0] == "T-shirt/top" and ds.n_classes == 10
    assert ds.name == "fashion-mnist-full"


def test_subset_is_stratified_fixed_and_from_the_right_split(fake_fmnist):
    a = fm.load_fashion_mnist(fake_fmnist, pool_size=30, test_size=10)
    b = fm.load_fashion_mnist(fake_fmnist, pool_size=30, test_size=10)
    assert len(a.y_train) == 30 and len(a.y_test) == 10
    np.testing.assert_array_equal(np.bincount(a.y_train), [3] * 10)
    np.testing.assert_array_equal(a.raw_train, b.raw_train)
    rows = a.raw_train[:, 0, 0].astype(int)
    assert np.all(np.diff(rows) > 0) and rows.max() < 60
    np.testing.assert_array_equal(a.y_train, rows % 10)


def test_env_var_folder(fake_fmnist, monkeypatch):
    monkeypatch.setenv(fm.ENV_VAR, str(fake_fmnist))
    ds = fm.load_fashion_mnist(pool_size=None, test_size=None)
    assert len(ds.y_train) == 60


def test_missing_files_name_both_ways(tmp_path, monkeypatch):
    monkeypatch.delenv(fm.ENV_VAR, raising=False)
    monkeypatch.setattr(fm, "DEBIAN_DIR", tmp_path / "nowhere")
    with pytest.raises(LabelwiseError) as err:
        fm.load_fashion_mnist()
    msg = str(err.value)
    assert "apt-get install dataset-fashion-mnist" in msg and fm.ENV_VAR in msg
    assert "\n" not in msg


def test_env_var_to_a_wrong_folder_does_not_fall_back(tmp_path, monkeypatch):
    monkeypatch.setenv(fm.ENV_VAR, str(tmp_path / "typo"))
    with pytest.raises(LabelwiseError, match="not found in .*typo.*apt-get install"):
        fm.find_files()


def test_partial_folder_lists_the_missing_files(fake_fmnist):
    (fake_fmnist / "t10k-labels-idx1-ubyte").unlink()
    with pytest.raises(LabelwiseError, match="lacks t10k-labels-idx1-ubyte"):
        fm.load_fashion_mnist(fake_fmnist)


def test_mismatched_images_and_labels(fake_fmnist):
    (fake_fmnist / "t10k-labels-idx1-ubyte").unlink()
    write_idx(fake_fmnist / "t10k-labels-idx1-ubyte", np.arange(7) % 10, gz=False)
    with pytest.raises(LabelwiseError, match="do not match"):
        fm.load_fashion_mnist(fake_fmnist)


@pytest.mark.skipif(not fm.DEBIAN_DIR.is_dir(), reason="dataset-fashion-mnist not installed")
def test_real_debian_package():
    from labelwise.data import load_dataset

    ds = load_dataset("fashion-mnist")
    assert ds.X_train.shape == (10_000, 784) and ds.X_test.shape == (2_000, 784)
    np.testing.assert_array_equal(np.bincount(ds.y_train), [1000] * 10)
    assert ds.raw_train.shape == (10_000, 28, 28)
