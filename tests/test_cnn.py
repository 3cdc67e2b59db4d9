"""The cnn learner (a small CNN from scratch on raw images, Khosla et al. 2022): shapes, seeding,
MC dropout, the LHD snapshot, +FT on confident pseudo-labels, and its registration."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("kornia")

from labelwise.engine import ActiveLearner  # noqa: E402
from labelwise.learners import LEARNERS, make_learner  # noqa: E402
from labelwise.learners import cnn as cnn_module  # noqa: E402
from labelwise.learners.cnn import infer_image_shape, to_images  # noqa: E402
from labelwise.validation import LabelwiseError  # noqa: E402

TINY = {"lr": 3e-3, "max_epochs": 2, "ft_epochs": 1, "channels": (4, 8, 8), "hidden": 16,
        "device": "cpu"}


def _images(n: int, seed: int, rgb: bool = False):
    """n 12x12 images of 3 classes (a bright 4x4 square in one of three corners, plus noise),
    flattened as the identity encoder does: (n, 144) or (n, 432) in [0, 1]."""
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 3
    img = rng.uniform(0, 0.2, (n, 12, 12))
    for i, c in enumerate(y):
        r, q = [(1, 1), (1, 7), (7, 4)][c]
        img[i, r:r + 4, q:q + 4] = 0.9
    if rgb:
        img = np.repeat(img[..., None], 3, axis=-1)
    return img.reshape(n, -1).astype(np.float32), y


@pytest.fixture(scope="module")
def data():
    X, y = _images(120, 0)
    return X[:45], y[:45], X[45:]


def test_image_shape_inferred_and_rows_read_in_hwc_order():
    assert infer_image_shape(784) == (1, 28, 28)
    assert infer_image_shape(3 * 28 * 28) == (3, 28, 28)
    assert infer_image_shape(144) == (1, 12, 12)
    with pytest.raises(LabelwiseError, match="image_shape"):
        infer_image_shape(50)
    # one RGB pixel row (H, W, C order) -> channels first
    rows = torch.arange(12.0).reshape(1, 12)  # a 2x2 image with 3 channels
    img = to_images(rows, (3, 2, 2))
    assert img[0, 0].flatten().tolist() == [0.0, 3.0, 6.0, 9.0]
    assert img[0, 2].flatten().tolist() == [2.0, 5.0, 8.0, 11.0]


@pytest.mark.parametrize("rgb", [False, True])
def test_shapes(rgb):
    X, y = _images(60, 1, rgb)
    m = make_learner("cnn", 3, random_state=0, **TINY).fit(X[:30], y[:30])
    assert m.image_shape_ == ((3, 12, 12) if rgb else (1, 12, 12))
    p = m.predict_proba(X[30:])
    assert p.shape == (30, 3) and np.allclose(p.sum(axis=1), 1.0)
    assert m.embed(X[30:]).shape == (30, 16)
    assert m.sample_proba(X[30:], n_samples=4).shape == (4, 30, 3)
    out = m.ema_outputs(X[30:])
    assert out["proba_main"].shape == out["proba_ema"].shape == (30, 3)
    assert out["embed_main"].shape == out["embed_ema"].shape == (30, 16)


def test_seeded_fits_and_samples(data):
    X, y, Xp = data
    a = make_learner("cnn", 3, random_state=4, **TINY).fit(X, y)
    b = make_learner("cnn", 3, random_state=4, **TINY).fit(X, y)
    c = make_learner("cnn", 3, random_state=5, **TINY).fit(X, y)
    assert np.array_equal(a.predict_proba(Xp), b.predict_proba(Xp))
    assert not np.allclose(a.predict_proba(Xp), c.predict_proba(Xp))
    s = a.sample_proba(Xp, n_samples=5)
    assert np.array_equal(s, a.sample_proba(Xp, n_samples=5))
    assert not np.allclose(s[0], s[1])  # the dropout masks differ between passes


def test_mc_dropout_is_the_whole_network_with_dropout_on(data):
    # the one dropout layer is the head's first module: T passes of the full network with
    # dropout on, under the same seed, give the same samples as the head on h(x)
    X, y, Xp = data
    m = make_learner("cnn", 3, random_state=0, **TINY).fit(X, y)
    torch.manual_seed(99)
    h = torch.as_tensor(m.embed(Xp))
    net = m.net_
    net.eval()
    net.head[0].train()
    with torch.no_grad():
        torch.manual_seed(7)
        via_head = net.head(h).softmax(1)
        torch.manual_seed(7)
        full = net(torch.as_tensor(Xp)).softmax(1)
    net.eval()
    assert torch.allclose(via_head, full, atol=1e-5)
    with pytest.raises(LabelwiseError, match="dropout"):
        make_learner("cnn", 3, random_state=0, **TINY | {"dropout": 0.0}).fit(
            X, y).sample_proba(Xp)


def test_snapshot_at_the_trigger_else_at_the_end(data, monkeypatch):
    X, y, Xp = data
    settings = TINY | {"max_epochs": 4, "train_stop": "loss", "stop_ratio": 0.0}
    end = make_learner("cnn", 3, random_state=0, **settings).fit(X, y)
    # the real trigger on a 4-epoch fit: at most 3 gaps shrink, fewer than the 5 it needs
    assert end.train_log_["snapshot"] == "end" and len(end.train_log_["accuracy_gaps"]) == 4
    assert np.array_equal(end.ema_outputs(Xp)["proba_main"], end.predict_proba(Xp))

    from labelwise.learners import ema as ema_module

    fired = []

    def at_second_epoch(gaps, patience=5):
        fired.append(list(gaps))
        return 1 if len(gaps) >= 2 else None

    monkeypatch.setattr(ema_module, "snapshot_epoch", at_second_epoch)
    early = make_learner("cnn", 3, random_state=0, **settings).fit(X, y)
    assert early.train_log_["snapshot"] == 2  # 1-based epoch of gap index 1
    assert len(fired) == 2  # asked after epochs 1 and 2, not after the snapshot
    # the snapshot holds the weights of epoch 2, the network trained on to epoch 4
    assert not np.allclose(early.ema_outputs(Xp)["proba_main"], early.predict_proba(Xp))


def test_finetune_uses_only_the_confident_pool_items(data):
    X, y, Xp = data
    m = make_learner("cnn", 3, random_state=0, **TINY | {"max_epochs": 6}).fit(X, y)
    proba = m.predict_proba(Xp)
    gamma = float(np.quantile(proba.max(axis=1), 0.5))  # half of the pool is confident
    confident = np.flatnonzero(proba.max(axis=1) > gamma)
    steps = m.ema_.step
    info = m.finetune_pseudo_labels(Xp, X, y, gamma=gamma)
    assert info is m.pseudo_label_info_
    assert not info["skipped"] and info["reason"] is None
    assert info["n_pseudo_labels"] == info["n_confident"] == len(confident) > 0
    assert info["n_train"] == len(X) + len(confident) and info["epochs"] == 1
    assert np.array_equal(m.pseudo_labels_["index"], confident)
    assert np.array_equal(m.pseudo_labels_["label"], proba[confident].argmax(axis=1))
    assert info["lr"] == pytest.approx(100 * TINY["lr"])  # the paper's 100 x
    assert m.ema_.step > steps  # the EMA kept updating during +FT
    assert not np.allclose(m.predict_proba(Xp), proba)


def test_finetune_skipped_below_the_minimum(data):
    X, y, Xp = data
    m = make_learner("cnn", 3, random_state=0, **TINY | {"ft_min_confident": 10_000}).fit(X, y)
    before = m.predict_proba(Xp)
    info = m.finetune_pseudo_labels(Xp, X, y)
    assert info["skipped"] and info["n_pseudo_labels"] == 0 and info["n_train"] == 0
    assert "fewer than the minimum 10000" in info["reason"]
    assert np.array_equal(m.predict_proba(Xp), before)


def test_the_engine_fine_tunes_a_cnn_for_ft_strategies(data):
    X, y, Xp = data
    pool = np.concatenate([X, Xp])
    al = ActiveLearner(pool, learner="cnn", strategy="lhd+ft", classes=3, random_state=0,
                       learner_params=TINY | {"ft_min_confident": 1}, labeled_idx=range(45),
                       labels=y)
    picks = al.step(5)
    assert len(picks) == 5 and (picks >= 45).all()
    info = al.last_fit.pseudo_labels
    assert info == al.model.pseudo_label_info_ and info["n_labeled"] == 45
    assert info["n_pseudo_labels"] == (0 if info["skipped"] else info["n_confident"])


def test_registered_with_its_extra_and_paper_defaults(monkeypatch):
    spec = LEARNERS["cnn"]
    assert spec.extra == "vision" and {"samples", "ema", "pseudo_label_ft"} <= spec.capabilities
    p = make_learner("cnn", 3).params
    assert (p["lr"], p["ft_lr_factor"], p["max_epochs"], p["ft_epochs"], p["batch_size"],
            p["train_stop"], p["weight_decay"]) == (1e-4, 100.0, 500, 500, 64, "accuracy", 0.0)
    real = importlib.util.find_spec
    monkeypatch.setattr(cnn_module.importlib.util, "find_spec",
                        lambda name, *a: None if name == "kornia" else real(name, *a))
    with pytest.raises(LabelwiseError, match=r"labelwise\[vision\]"):
        make_learner("cnn", 3)


def test_clone_keeps_the_settings(data):
    X, y, _ = data
    m = make_learner("cnn", 3, random_state=2, **TINY | {"image_shape": (1, 12, 12)})
    twin = m.clone()
    assert twin.params == m.params and twin.random_state == 2
    with pytest.raises(LabelwiseError, match="does not match"):
        make_learner("cnn", 3, **TINY | {"image_shape": (1, 10, 10)}).fit(X, y)
