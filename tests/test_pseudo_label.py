"""+FT (Khosla et al. 2022, Algorithm 2): settings, the accuracy stop, what it reports."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from labelwise.learners import make_learner  # noqa: E402
from labelwise.learners.pseudo_label import AccuracyStop, PseudoLabelSettings  # noqa: E402
from labelwise.validation import LabelwiseError  # noqa: E402

SMALL = {"hidden": 16, "lr": 0.01, "max_epochs": 40, "device": "cpu"}


@pytest.fixture(scope="module")
def blobs(make_blobs):
    X, y = make_blobs(((0.0, 0.0), (4.0, 0.0), (0.0, 4.0)), 150, 0.7)
    return X[:30], y[:30], X[30:]


def test_minimum_scales_with_the_pool():
    s = PseudoLabelSettings()
    assert (s.minimum(100), s.minimum(1000), s.minimum(1001), s.minimum(50_000)) == (
        10, 20, 21, 1000)  # max(10, ceil(2%)): 1,000 of CIFAR-10's 50,000
    assert PseudoLabelSettings(min_confident=0).minimum(10_000) == 0
    for bad, match in [({"label_source": "teacher"}, "ft_label_source"),
                       ({"lr_factor": 0}, "ft_lr_factor"),
                       ({"main_accuracy": 1.5}, "ft_main_accuracy"),
                       ({"epochs": 0}, "ft_epochs")]:
        with pytest.raises(LabelwiseError, match=match):
            PseudoLabelSettings(**bad)


def _identity_head():
    net = torch.nn.Module()
    net.features = torch.nn.Identity()
    net.head = torch.nn.Linear(2, 2)
    with torch.no_grad():
        net.head.weight.copy_(torch.eye(2))
        net.head.bias.zero_()
    return net


def test_accuracy_stop_by_hand():
    Xt = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 0.0], [0.0, 1.0]])
    yt = torch.tensor([0, 1, 0, 0])  # the identity head gets 3 of 4 right
    main, flipped = _identity_head(), _identity_head()
    with torch.no_grad():
        flipped.head.weight.copy_(torch.tensor([[0.0, 1.0], [1.0, 0.0]]))  # 1 of 4 right
    assert AccuracyStop(0.75).after_epoch(main, 1, Xt, yt)
    assert not AccuracyStop(0.8).after_epoch(main, 1, Xt, yt)
    both = AccuracyStop(0.75, flipped, 0.25)
    assert both.after_epoch(main, 1, Xt, yt) and both.accuracies == {"main": 0.75, "ema": 0.25}
    assert not AccuracyStop(0.75, flipped, 0.3).after_epoch(main, 1, Xt, yt)
    # the EMA threshold alone: the main model is not checked
    assert AccuracyStop(None, main, 0.7).after_epoch(flipped, 1, Xt, yt)
    nothing = AccuracyStop(None)
    assert not nothing.after_epoch(main, 1, Xt, yt) and nothing.accuracies == {}


def test_info_when_fine_tuned_and_its_accuracy_stop(blobs):
    X, y, Xp = blobs
    # no input dropout: zeroing one of two coordinates would keep the accuracy below 0.99
    m = make_learner("mlp", 3, random_state=0, ft_epochs=60, input_dropout=0.0,
                     **SMALL).fit(X, y)
    proba = m.predict_proba(Xp)
    confident = np.flatnonzero(proba.max(axis=1) > 0.8)
    steps = m.ema_.step
    info = m.finetune_pseudo_labels(Xp, X, y)
    assert info is m.pseudo_label_info_
    assert info | {"main_accuracy": None, "ema_accuracy": None} == {
        "skipped": False, "reason": None, "n_confident": len(confident), "min_confident": 10,
        "n_labeled": 30, "n_train": 30 + len(confident), "epochs": info["epochs"],
        "stopped": "accuracy", "main_accuracy": None, "ema_accuracy": None, "gamma": 0.8,
        "lr": 0.1, "label_source": "main"}
    assert info["epochs"] < 60 and info["main_accuracy"] >= 0.99 and info["ema_accuracy"] >= 0.8
    np.testing.assert_array_equal(m.pseudo_labels_["index"], confident)
    np.testing.assert_array_equal(m.pseudo_labels_["label"], proba[confident].argmax(axis=1))
    assert m.ema_.step > steps and m.ema_step_ == m.ema_.step  # the EMA kept updating


def test_pseudo_labels_from_the_ema(blobs, monkeypatch):
    X, y, Xp = blobs
    m = make_learner("mlp", 3, random_state=0, ft_label_source="ema", ft_epochs=2,
                     **SMALL).fit(X, y)
    confident = np.flatnonzero(m.predict_proba(Xp).max(axis=1) > 0.8)
    from_ema = m._ema_proba(Xp[confident]).argmax(axis=1)
    seen = {}
    monkeypatch.setattr(type(m), "_finetune",
                        lambda self, X_ft, y_ft, lr: seen.update(y=y_ft, lr=lr) or
                        {"epochs": 1, "stopped": "max_epochs"})
    info = m.finetune_pseudo_labels(Xp, X, y)
    np.testing.assert_array_equal(seen["y"], np.concatenate([y, from_ema]))  # L keeps its labels
    assert seen["lr"] == pytest.approx(0.1) and info["label_source"] == "ema"
    with pytest.raises(LabelwiseError, match="keeps no EMA"):
        make_learner("ensemble", 3, ft_label_source="ema")


def test_skipped_below_the_minimum_says_why(blobs):
    X, y, Xp = blobs
    m = make_learner("mlp", 3, random_state=0, ft_min_confident=500, **SMALL).fit(X, y)
    before = m.predict_proba(Xp)
    info = m.finetune_pseudo_labels(Xp, X, y)
    assert info["skipped"] and info["epochs"] == 0 and info["n_train"] == 0
    assert info["stopped"] is None and info["min_confident"] == 500
    assert info["reason"] == (f"{info['n_confident']} of 120 pool items have confidence > 0.80, "
                              "fewer than the minimum 500 (ft_min_confident)")
    np.testing.assert_array_equal(m.predict_proba(Xp), before)
