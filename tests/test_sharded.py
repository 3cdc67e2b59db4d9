"""ShardedPool: shards, manifest, global row ids, and one-line errors naming a bad shard."""

import json

import numpy as np
import pytest

from labelwise import ShardedPool
from labelwise.sharded import MANIFEST, ShardWriter, write_shards
from labelwise.validation import LabelwiseError


@pytest.fixture
def X():
    return np.arange(70, dtype=np.float32).reshape(35, 2)


def test_rows_keep_their_global_ids_across_shards(tmp_path, X):
    pool = write_shards(X, tmp_path, rows_per_shard=10)
    assert pool.n_shards == 4 and list(pool.rows) == [10, 10, 10, 5]
    assert list(pool.offsets) == [0, 10, 20, 30, 35]
    assert len(pool) == 35 and pool.shape == (35, 2) and pool.nbytes == 35 * 2 * 4
    ids = np.array([34, 0, 19, 20, 9, 10])  # any order, across shard boundaries
    np.testing.assert_array_equal(pool.take(ids), X[ids])
    np.testing.assert_array_equal(pool[[21]], X[[21]])
    np.testing.assert_array_equal(pool[28:32], X[28:32])
    np.testing.assert_array_equal(pool.to_array(), X)
    s, local = pool.locate([0, 9, 10, 34])
    assert list(s) == [0, 0, 1, 3] and list(local) == [0, 9, 0, 4]


def test_folder_manifest_and_file_list_open_the_same_pool(tmp_path, X):
    write_shards(X, tmp_path, rows_per_shard=16)
    meta = json.loads((tmp_path / MANIFEST).read_text())
    assert meta["dim"] == 2 and [e["rows"] for e in meta["shards"]] == [16, 16, 3]
    by_manifest = ShardedPool(tmp_path / MANIFEST)
    by_list = ShardedPool(sorted(tmp_path.glob("*.npy")))
    (tmp_path / MANIFEST).unlink()
    by_folder = ShardedPool(tmp_path)  # no manifest: every .npy, sorted by name
    for pool in (by_manifest, by_list, by_folder):
        np.testing.assert_array_equal(pool.to_array(), X)


def test_row_ids_out_of_range_are_refused(tmp_path, X):
    pool = write_shards(X, tmp_path, rows_per_shard=10)
    with pytest.raises(LabelwiseError, match=r"\[0, 35\)"):
        pool.take([35])


def _one_line(exc_info) -> str:
    text = str(exc_info.value)
    assert "\n" not in text
    return text


def test_a_shard_of_another_width_is_named(tmp_path, X):
    np.save(tmp_path / "a.npy", X)
    np.save(tmp_path / "b.npy", np.zeros((3, 5), np.float32))
    with pytest.raises(LabelwiseError, match="shard b.npy has 5 columns but a.npy has 2") as e:
        ShardedPool(tmp_path)
    _one_line(e)


def test_a_shard_of_another_dtype_is_named(tmp_path, X):
    np.save(tmp_path / "a.npy", X)
    np.save(tmp_path / "b.npy", X.astype(np.float64))
    with pytest.raises(LabelwiseError, match="shard b.npy holds float64, not float32"):
        ShardedPool(tmp_path)


def test_a_missing_shard_is_named(tmp_path, X):
    write_shards(X, tmp_path, rows_per_shard=10)
    (tmp_path / "shard-00002.npy").unlink()
    with pytest.raises(LabelwiseError, match="shard shard-00002.npy is missing") as e:
        ShardedPool(tmp_path)
    _one_line(e)


def test_a_shard_whose_rows_disagree_with_the_manifest_is_named(tmp_path, X):
    write_shards(X, tmp_path, rows_per_shard=10)
    np.save(tmp_path / "shard-00001.npy", X[:4])
    with pytest.raises(LabelwiseError, match="shard-00001.npy has 4 rows but the manifest says 10"):
        ShardedPool(tmp_path)


def test_a_shard_that_is_not_2d_or_not_npy_is_named(tmp_path, X):
    np.save(tmp_path / "a.npy", X[:, 0])
    with pytest.raises(LabelwiseError, match=r"shard a.npy has shape \(35,\)"):
        ShardedPool(tmp_path)
    (tmp_path / "a.npy").write_bytes(b"not numpy")
    with pytest.raises(LabelwiseError, match="shard a.npy is not a readable .npy file"):
        ShardedPool(tmp_path)
    (tmp_path / "empty").mkdir()
    with pytest.raises(LabelwiseError, match="no shards found"):
        ShardedPool(tmp_path / "empty")


def test_nan_rows_are_named_by_shard_and_row(tmp_path, X):
    pool = write_shards(X, tmp_path, rows_per_shard=10)
    bad = X[10:20].copy()
    bad[3, 1] = np.nan
    np.save(tmp_path / "shard-00001.npy", bad)
    with pytest.raises(LabelwiseError, match=r"shard shard-00001.npy has NaN or inf at row 3 "
                       r"\(pool row 13\)") as e:
        pool.check_finite()
    _one_line(e)
    pool.check_finite(0)  # the other shards are fine


def test_the_writer_refuses_nan_and_leaves_no_half_written_shard(tmp_path, X):
    w = ShardWriter(tmp_path)
    w.write(0, X)
    bad = X.copy()
    bad[5, 0] = np.inf
    with pytest.raises(LabelwiseError, match="shard-00001.npy has NaN or inf at row 5"):
        w.write(1, bad)
    assert w.done(0) and not w.done(1)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["shard-00000.npy"]
