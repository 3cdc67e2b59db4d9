"""`embed_to_shards` on image folders: streamed shards, resuming, unreadable images, Ray Data."""

import numpy as np
import pytest

from labelwise import ShardedPool
from labelwise.cli import main
from labelwise.data.images import load_image_folder
from labelwise.distributed import embed as embed_mod
from labelwise.distributed.embed import embed_to_shards
from labelwise.encoders import get_encoder
from labelwise.validation import LabelwiseError


def whole_folder_features(root):
    """What embed gave before it streamed: the whole folder loaded, then encoded."""
    return get_encoder("identity").encode(load_image_folder(root).items, progress=False)


def shard_files(folder):
    return {p.name: p.read_bytes() for p in sorted(folder.glob("shard-*.npy"))}


def killed_at_the_second_shard(root, out, monkeypatch):
    """Embed ``root`` into ``out`` in shards of 4 rows, the run killed as the second one starts."""
    real = embed_mod.encode_shard

    def interrupted(s, *args):
        if s == 1:
            raise RuntimeError("killed")
        return real(s, *args)

    monkeypatch.setattr(embed_mod, "encode_shard", interrupted)
    with pytest.raises(RuntimeError, match="killed"):
        embed_to_shards(root, out, "identity", rows_per_shard=4, progress=False)


def test_streamed_shards_equal_the_whole_folder_encoded_at_once(image_folder, monkeypatch):
    root = image_folder()
    real, sizes = embed_mod.read_items, []
    monkeypatch.setattr(embed_mod, "read_items",
                        lambda spec, i0, i1: sizes.append(i1 - i0) or real(spec, i0, i1))
    pool = embed_to_shards(root, root.parent / "s", "identity", rows_per_shard=5, batch_size=2,
                           progress=False)
    assert list(pool.rows) == [5, 5, 5, 3]
    np.testing.assert_array_equal(pool.to_array(), whole_folder_features(root))
    assert (root.parent / "s" / "ids.txt").read_text().splitlines() == load_image_folder(root).ids
    assert max(sizes) == 2  # never more than one encoder batch of images decoded at once


def test_an_interrupted_run_resumes_to_identical_shards(image_folder, monkeypatch):
    root = image_folder()
    embed_to_shards(root, root.parent / "whole", "identity", rows_per_shard=4, progress=False)
    out = root.parent / "s"
    killed_at_the_second_shard(root, out, monkeypatch)
    assert list(shard_files(out)) == ["shard-00000.npy"]
    monkeypatch.undo()
    embed_to_shards(root, out, "identity", rows_per_shard=4, progress=False)
    assert shard_files(out) == shard_files(root.parent / "whole")
    assert (out / "ids.txt").read_bytes() == (root.parent / "whole" / "ids.txt").read_bytes()


def test_a_rerun_after_the_items_changed_is_refused_not_mixed(image_folder, monkeypatch):
    # the kept shard holds the first listing's rows: a file replaced by another at the same count
    # would put rows under the wrong ids
    root = image_folder()
    out = root.parent / "s"
    killed_at_the_second_shard(root, out, monkeypatch)
    monkeypatch.undo()
    first = sorted(root.rglob("*.png"))[0]
    first.rename(first.with_name("zz.png"))  # same count, another listing
    with pytest.raises(LabelwiseError, match=r"^\S+ holds shards of another listing of .*: row "
                                             r"\d+ was \S+, now \S+; use another --out"):
        embed_to_shards(root, out, "identity", rows_per_shard=4, progress=False)
    assert list(shard_files(out)) == ["shard-00000.npy"]


def test_an_unreadable_image_stops_with_its_name_and_the_rerun_resumes(image_folder, capsys):
    root = image_folder()
    bad = root / "light" / "2.png"
    good = bad.read_bytes()
    bad.write_bytes(b"not a png")
    out = root.parent / "s"
    args = ["embed", str(root), "--out", str(out), "--encoder", "identity",
            "--rows-per-shard", "4"]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "cannot read image light/2.png" in err
    assert list(shard_files(out)) == ["shard-00000.npy", "shard-00001.npy"]  # kept
    bad.write_bytes(good)
    assert main(args) == 0
    np.testing.assert_array_equal(ShardedPool(out).to_array(), whole_folder_features(root))


@pytest.fixture(scope="module")
def ray_cluster():
    ray = pytest.importorskip("ray", reason="the ray executor needs Ray")
    started = not ray.is_initialized()
    if started:
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield ray
    if started:
        ray.shutdown()


@pytest.mark.slow
def test_ray_data_workers_decode_and_write_the_same_shards(image_folder, ray_cluster):
    root = image_folder()
    local = embed_to_shards(root, root.parent / "l", "identity", rows_per_shard=5,
                            progress=False)
    ray_pool = embed_to_shards(root, root.parent / "r", "identity", rows_per_shard=5,
                               executor="ray", batch_size=2, progress=False)
    np.testing.assert_array_equal(ray_pool.to_array(), local.to_array())
    assert shard_files(root.parent / "r") == shard_files(root.parent / "l")
    (root / "dark" / "0.png").write_bytes(b"broken")
    with pytest.raises(LabelwiseError, match=r"^cannot read image dark/0.png in [^\n]*$"):
        embed_to_shards(root, root.parent / "r2", "identity", rows_per_shard=5,
                        executor="ray", progress=False)
