"""Shared fixtures: small real data sets loaded once per session."""

import os

import pytest

os.environ.setdefault("MPLBACKEND", "Agg")


@pytest.fixture(scope="session")
def digits():
    from labelwise.data import load_dataset

    return load_dataset("digits")


@pytest.fixture
def hash_text_encoder(monkeypatch):
    """Register "test-hash", a tiny bag-of-words text encoder (the real ones are slow to import);
    returns its name."""
    import numpy as np

    from labelwise import encoders
    from labelwise.encoders import Encoder

    class HashEncoder(Encoder):
        name = "test-hash"
        modality = "text"

        def _encode_batch(self, batch):
            out = np.zeros((len(batch), 16), dtype=np.float32)
            for r, text in enumerate(batch):
                for w in text.lower().split():
                    out[r, sum(map(ord, w)) % 16] += 1
            return out

    monkeypatch.setitem(encoders.ENCODERS, "test-hash",
                        encoders.EncoderSpec("test-hash", HashEncoder, "text", "test"))
    return "test-hash"


@pytest.fixture
def blobs_24d():
    """A factory ``(dtype, clustered) -> (3000, 24)`` array: Gaussian noise, or 12 clusters of
    scale 4 with unit noise; the fast selectors are compared with their plain loops on it."""
    import numpy as np

    def make(dtype, clustered):
        rng = np.random.default_rng(7)
        n, d = 3000, 24
        if clustered:
            centres = rng.normal(size=(12, d)) * 4
            X = centres[rng.integers(12, size=n)] + rng.normal(size=(n, d))
        else:
            X = rng.normal(size=(n, d))
        return X.astype(dtype), rng

    return make
