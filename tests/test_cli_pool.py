"""`labelwise embed` and `labelwise select`: shards from a collection, one round on them."""

import csv

import numpy as np
import pytest

from labelwise import ShardedPool
from labelwise.cli import main
from labelwise.cli_pool import read_labels, select_round
from labelwise.distributed import embed as embed_mod
from labelwise.distributed.embed import embed_to_shards
from labelwise.validation import LabelwiseError


@pytest.fixture
def features(tmp_path):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(1000, 6)).astype(np.float32)
    np.save(tmp_path / "feat.npy", X)
    y = np.where(X[:, 0] + X[:, 1] > 0, "pos", "neg")
    with open(tmp_path / "labels.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["row", "label"])
        for r in range(0, 1000, 40):
            w.writerow([r, y[r]])
    return tmp_path, X


def test_embed_writes_shards_that_hold_the_collection(features):
    tmp, X = features
    assert main(["embed", str(tmp / "feat.npy"), "--out", str(tmp / "s"),
                 "--rows-per-shard", "300"]) == 0
    pool = ShardedPool(tmp / "s")
    assert list(pool.rows) == [300, 300, 300, 100]
    np.testing.assert_array_equal(pool.to_array(), X)


def test_embed_resumes_after_an_interruption_keeping_written_shards(features, monkeypatch):
    tmp, X = features
    real = embed_mod.encode_shard
    calls = []

    def interrupted(s, *args):
        if s == 2:
            raise KeyboardInterrupt
        calls.append(s)
        return real(s, *args)

    monkeypatch.setattr(embed_mod, "encode_shard", interrupted)
    with pytest.raises(KeyboardInterrupt):
        embed_to_shards(tmp / "feat.npy", tmp / "s", rows_per_shard=300, progress=False)
    assert sorted(p.name for p in (tmp / "s").glob("*.npy")) == ["shard-00000.npy",
                                                                 "shard-00001.npy"]
    before = (tmp / "s" / "shard-00000.npy").stat().st_mtime_ns
    calls.clear()
    monkeypatch.setattr(embed_mod, "encode_shard", lambda s, *a: calls.append(s) or real(s, *a))
    pool = embed_to_shards(tmp / "feat.npy", tmp / "s", rows_per_shard=300, progress=False)
    assert calls == [2, 3]  # only the missing shards are encoded
    assert (tmp / "s" / "shard-00000.npy").stat().st_mtime_ns == before
    np.testing.assert_array_equal(pool.to_array(), X)


def test_embed_refuses_to_mix_shards_of_other_settings(features):
    tmp, _ = features
    embed_to_shards(tmp / "feat.npy", tmp / "s", rows_per_shard=300, progress=False)
    with pytest.raises(LabelwiseError, match="rows_per_shard differ"):
        embed_to_shards(tmp / "feat.npy", tmp / "s", rows_per_shard=400, progress=False)


def test_select_writes_the_rounds_picks(features, capsys):
    tmp, X = features
    embed_to_shards(tmp / "feat.npy", tmp / "s", rows_per_shard=300, progress=False)
    assert main(["select", "--pool", str(tmp / "s"), "--labels", str(tmp / "labels.csv"),
                 "--strategy", "margin", "--k", "7", "--out", str(tmp / "picks.csv")]) == 0
    with open(tmp / "picks.csv") as f:
        rows = list(csv.DictReader(f))
    picks = [int(r["row"]) for r in rows]
    assert [int(r["rank"]) for r in rows] == list(range(7)) and len(set(picks)) == 7
    assert not set(picks) & set(range(0, 1000, 40))  # never a labeled row
    scores = [float(r["score"]) for r in rows]
    assert scores == sorted(scores)  # margin: the smallest first
    # the same round as the library's
    again = select_round(tmp / "s", tmp / "labels.csv", "margin", 7, tmp / "p2.csv")
    assert again.tolist() == picks


def test_bad_labels_files_get_one_line_errors(tmp_path, capsys):
    bad = tmp_path / "labels.csv"
    bad.write_text("row,cls\n1,a\n")
    with pytest.raises(LabelwiseError, match="needs the columns 'row' and 'label'"):
        read_labels(bad, 10)
    bad.write_text("row,label\n1,a\n12,b\n")
    with pytest.raises(LabelwiseError, match="line 3: row 12 is outside the pool"):
        read_labels(bad, 10)
    bad.write_text("row,label\n1,a\n1,b\n")
    with pytest.raises(LabelwiseError, match="row 1 is labeled twice"):
        read_labels(bad, 10)
    assert main(["select", "--pool", str(tmp_path / "none"), "--labels", str(bad), "--k", "1",
                 "--out", str(tmp_path / "p.csv")]) == 2
    err = capsys.readouterr().err
    assert "none does not exist" in err and err.count("\n") == 1


@pytest.mark.slow
def test_embed_with_ray_data_writes_the_same_shards(features):
    pytest.importorskip("ray", reason="the ray executor needs Ray")
    tmp, X = features
    pool = embed_to_shards(tmp / "feat.npy", tmp / "r", rows_per_shard=300, executor="ray",
                           progress=False)
    np.testing.assert_array_equal(pool.to_array(), X)
