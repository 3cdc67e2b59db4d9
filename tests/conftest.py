"""Shared fixtures: small real data sets loaded once per session."""

import os

import numpy as np
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


@pytest.fixture(scope="session")
def make_blobs():
    """The one generator of synthetic Gaussian classes for the tests:
    ``make_blobs(centres, n, scale=1.0, labels="cycle", seed=0, dtype=None) -> (X, y)``, see
    :func:`labelwise.testing.gaussian_blobs` (also for the plain helpers of test files whose
    tests call ``blobs(n, seed)`` directly)."""
    from labelwise.testing import gaussian_blobs

    return gaussian_blobs


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


@pytest.fixture
def image_folder(tmp_path):
    """A factory ``(name="imgs", per_class=6, unlabeled=6) -> folder`` of 8x8 PNGs under
    tmp_path: classes "dark" and "light" in subfolders, and ``unlabeled`` files at the top
    (``u0.png`` ...)."""
    import numpy as np
    from PIL import Image

    def make(name="imgs", per_class=6, size=8, unlabeled=6):
        root = tmp_path / name
        rng = np.random.default_rng(0)
        for c, v in (("dark", 40), ("light", 210)):
            (root / c).mkdir(parents=True)
            for i in range(per_class):
                pix = np.clip(rng.normal(v, 20, (size, size, 3)), 0, 255).astype(np.uint8)
                Image.fromarray(pix).save(root / c / f"{i}.png")
        for i in range(unlabeled):
            pix = np.clip(rng.normal((40, 210)[i % 2], 20, (size, size, 3)), 0, 255)
            Image.fromarray(pix.astype(np.uint8)).save(root / f"u{i}.png")
        return root

    return make


@pytest.fixture
def text_file(tmp_path):
    """A factory ``(name="t.jsonl", n=24, labeled=6) -> path`` of JSONL texts: even lines are
    sports, odd lines food; the first ``labeled`` lines carry their label. Item ids are
    ``"line 1"`` ... ``"line n"``."""
    import json

    def make(name="t.jsonl", n=24, labeled=6):
        rows = []
        for i in range(n):
            topic = ("sports", "food")[i % 2]
            words = ("goal match team score", "soup bread cheese salad")[i % 2]
            rows.append({"text": f"{words} {i}", "label": topic if i < labeled else None})
        path = tmp_path / name
        path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
        return path

    return make


@pytest.fixture
def small_disk(tmp_path):
    """A factory ``(kib) -> folder`` on a fresh tmpfs of that size, to fill the disk for real;
    skips the test where mounting is not permitted (not root, no CAP_SYS_ADMIN)."""
    import subprocess

    mounted = []

    def make(kib=512):
        folder = tmp_path / f"disk{len(mounted)}"
        folder.mkdir()
        try:
            r = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={kib}k", "tmpfs",
                                str(folder)], capture_output=True, timeout=30)
        except (OSError, subprocess.TimeoutExpired) as exc:
            pytest.skip(f"cannot mount a small tmpfs here: {exc}")
        if r.returncode != 0:
            pytest.skip("cannot mount a small tmpfs here (needs root): "
                        + r.stderr.decode(errors="replace").strip())
        mounted.append(folder)
        return folder

    yield make
    for folder in mounted:
        subprocess.run(["umount", "-l", str(folder)], capture_output=True)


@pytest.fixture
def fill_disk():
    """A function ``(folder) -> None`` that writes ``folder/filler`` until the disk is full."""
    import os

    def fill(folder):
        fd = os.open(os.path.join(folder, "filler"), os.O_WRONLY | os.O_CREAT, 0o644)
        try:
            while True:
                os.write(fd, b"\0" * 4096)
        except OSError:
            pass
        finally:
            os.close(fd)

    return fill


@pytest.fixture
def images():
    """200 8x8 grey images (a bright object on a dark background), 20 of each of 10 classes:
    (images, labels) for the construction tests."""
    rng = np.random.default_rng(0)
    imgs = np.zeros((200, 8, 8), np.uint8)
    imgs[:, 2:6, 2:6] = rng.integers(100, 256, (200, 4, 4))  # bright object, dark background
    return imgs, np.repeat(np.arange(10), 20)
