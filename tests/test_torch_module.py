"""TorchModuleLearner: a user's own nn.Module (features + head) trained by the torch trainer."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
nn = torch.nn

from labelwise import query  # noqa: E402
from labelwise.learners import LEARNERS, make_learner  # noqa: E402
from labelwise.learners.torch_module import TorchModuleLearner  # noqa: E402
from labelwise.validation import LabelwiseError  # noqa: E402

FAST = {"lr": 0.01, "max_epochs": 30, "device": "cpu"}


class Net(nn.Module):
    """A tiny network: 2 features -> 8 hidden (with dropout) -> 3 classes."""

    def __init__(self, dropout: float = 0.3):
        super().__init__()
        self.features = nn.Sequential(nn.Linear(2, 8), nn.ReLU(), nn.Dropout(dropout))
        self.head = nn.Linear(8, 3)

    def forward(self, x):  # never called by the learner
        raise AssertionError("the learner must call features and head, not forward")


class Renamed(nn.Module):
    def __init__(self):
        super().__init__()
        self.encoder = nn.Sequential(nn.Linear(2, 5), nn.Tanh())
        self.classifier = nn.Linear(5, 3)


@pytest.fixture(scope="module")
def blobs(make_blobs):
    """Three 2-D Gaussian classes: 24 labeled and 60 pool points."""
    X, y = make_blobs(((0.0, 0.0), (3.0, 0.0), (0.0, 3.0)), 84, 0.8)
    return X[:24], y[:24], X[24:]


def test_outputs_of_a_module_factory(blobs):
    X, y, Xp = blobs
    m = TorchModuleLearner(3, random_state=0, module=Net, **FAST).fit(X, y)
    p = m.predict_proba(Xp)
    assert p.shape == (60, 3)
    np.testing.assert_allclose(p.sum(axis=1), 1.0, atol=1e-6)
    h = m.embed(Xp)
    assert h.shape == (60, 8) and h.dtype == np.float32
    s = m.sample_proba(Xp, n_samples=6)
    assert s.shape == (6, 60, 3)
    np.testing.assert_allclose(s.sum(axis=2), 1.0, atol=1e-5)
    assert s.std(axis=0).max() > 1e-3  # the dropout masks differ between passes
    np.testing.assert_array_equal(m.predict_proba(Xp), p)  # dropout is off again
    out = m.ema_outputs(Xp)
    assert out["embed_ema"].shape == (60, 8)
    # a factory is called under the seed: a second fit starts from the same weights
    again = m.clone().fit(X, y)
    np.testing.assert_array_equal(again.predict_proba(Xp), p)


def test_a_module_instance_is_copied_never_trained(blobs):
    X, y, Xp = blobs
    torch.manual_seed(3)
    net = Net()
    before = [t.clone() for t in net.parameters()]
    m = TorchModuleLearner(3, random_state=0, module=net, **FAST).fit(X, y)
    assert all(torch.equal(a, b) for a, b in zip(before, net.parameters(), strict=True))
    assert m.net_.module is not net
    assert not torch.equal(m.net_.module.head.weight, net.head.weight)  # the copy trained
    # the separately initialised EMA of ema_mode="public" starts from redrawn weights
    assert not torch.equal(m._ema_start_network(2).module.head.weight, net.head.weight)


def test_module_without_dropout_raises_for_samples(blobs):
    X, y, Xp = blobs
    m = TorchModuleLearner(3, random_state=0, module=lambda: Net(dropout=0.0), **FAST)
    m.fit(X, y)
    assert m.predict_proba(Xp).shape == (60, 3)
    with pytest.raises(LabelwiseError, match="no dropout layer"):
        m.sample_proba(Xp)


def test_parts_name_the_feature_extractor_and_head(blobs):
    X, y, Xp = blobs
    m = TorchModuleLearner(3, module=Renamed, parts=("encoder", "classifier"), **FAST)
    assert m.fit(X, y).embed(Xp).shape == (60, 5)
    with pytest.raises(LabelwiseError, match="no callable attribute 'features'"):
        TorchModuleLearner(3, module=Renamed, **FAST).fit(X, y)


def test_bad_modules_fail_with_one_line(blobs):
    X, y, _ = blobs
    with pytest.raises(LabelwiseError, match="needs module="):
        TorchModuleLearner(3)
    with pytest.raises(LabelwiseError, match="parts must be two attribute names"):
        TorchModuleLearner(3, module=Net, parts="features")
    with pytest.raises(LabelwiseError, match=r"must give \(n, 3\) logits"):
        TorchModuleLearner(3, module=lambda: nn.Sequential(), parts=("__call__", "__call__"),
                           **FAST).fit(X, y)  # identity: 2 "logits" for 3 classes
    with pytest.raises(LabelwiseError, match="failed on inputs of shape"):
        TorchModuleLearner(4, module=Net, **FAST).fit(np.zeros((4, 5)), [0, 1, 2, 3])
    with pytest.raises(LabelwiseError, match="must build a torch nn.Module"):
        TorchModuleLearner(3, module=lambda: "not a module", **FAST).fit(X, y)
    with pytest.raises(LabelwiseError, match="bad parameters"):
        make_learner("torch-module", 3, module=Net, hiden=4)


@pytest.mark.parametrize("strategy", ["bald", "badge", "coreset", "lhd"])
def test_strategies_query_with_a_module(blobs, strategy):
    X, y, Xp = blobs
    pool = np.vstack([X, Xp])
    labeled = np.arange(24)
    m = make_learner("torch-module", 3, random_state=0, module=Net, **FAST).fit(X, y)
    picks = query(strategy, m, pool, labeled, y, k=5, random_state=0)
    assert len(set(picks.tolist())) == 5 and picks.min() >= 24


def test_finetune_pseudo_labels_with_a_module(blobs):
    X, y, Xp = blobs
    m = TorchModuleLearner(3, random_state=0, module=Net, ft_epochs=4, **FAST).fit(X, y)
    info = m.finetune_pseudo_labels(Xp, X, y)
    assert info["skipped"] is False and 1 <= info["epochs"] <= 4
    assert info["n_train"] == 24 + info["n_confident"]


def test_registered_and_repr_is_short():
    assert LEARNERS["torch-module"].cls is TorchModuleLearner
    assert {"proba", "embedding", "samples", "ema", "pseudo_label_ft"} <= (
        LEARNERS["torch-module"].capabilities)
    r = repr(TorchModuleLearner(3, module=Net()))
    assert "module=<Net>" in r and "\n" not in r
