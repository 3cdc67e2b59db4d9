"""Dataset + encoder: which features a data set gets, and the built-in images."""

import numpy as np
import pytest

from labelwise.data.dataset import Dataset
from labelwise.data.encoded import default_encoder, encode_dataset, modality_of
from labelwise.validation import LabelwiseError


def _image_ds():
    rng = np.random.default_rng(0)
    raw = rng.integers(0, 256, (6, 3, 2), dtype=np.uint8)
    return Dataset("tiny", raw.reshape(6, -1) / 255.0, np.arange(6) % 2, None, None, ["a", "b"],
                   raw_train=raw, raw_test=raw[:2])


def test_identity_keeps_existing_features():
    ds = _image_ds()
    out = encode_dataset(ds, "identity")
    assert out.X_train is ds.X_train and out.info["encoder"] == "identity" and out.name == "tiny"
    assert modality_of(ds) == "image"


def test_image_encoder_embeds_raw_train_and_test(tmp_path, monkeypatch):
    import labelwise.encoders

    seen = []

    def fake_embed(encoder, items, cache_dir=None, progress=True):
        seen.append(np.asarray(items).shape)
        return np.ones((len(items), 3), np.float32)

    monkeypatch.setattr(labelwise.encoders, "embed", fake_embed)
    out = encode_dataset(_image_ds(), "efficientnet-lite0")
    assert seen == [(6, 3, 2), (2, 3, 2)]
    assert out.X_train.shape == (6, 3) and out.X_test.shape == (2, 3)
    assert out.name == "tiny+efficientnet-lite0"


def test_wrong_modality_and_feature_only_data():
    with pytest.raises(LabelwiseError, match="embeds texts but 'tiny' holds images"):
        encode_dataset(_image_ds(), "minilm")
    ds = Dataset("tab", np.zeros((3, 2), np.float32), np.arange(3), None, None, ["a", "b", "c"])
    with pytest.raises(LabelwiseError, match="only features"):
        encode_dataset(ds, "efficientnet-lite0")
    with pytest.raises(LabelwiseError, match="unknown encoder"):
        encode_dataset(ds, "nope")




def test_builtin_digits_and_mnist5k_are_images_too(digits):
    assert digits.raw_train.shape == (len(digits.y_train), 8, 8)
    assert digits.raw_train.dtype == np.uint8 and digits.raw_test.shape[1:] == (8, 8)
    assert modality_of(digits) == "image" and default_encoder(digits) == "identity"
    # the raw image is the pixel features rescaled: digits are 0-16, raw is 0-255
    np.testing.assert_allclose(digits.raw_train[0].ravel() / 255.0, digits.X_train[0], atol=0.02)
