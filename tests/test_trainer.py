"""The torch learners' one training loop: stopping rules, hooks, seeding, augmentation."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
nn = torch.nn

from labelwise.learners.trainer import (  # noqa: E402
    FeatureAugment,
    Trainer,
    forward_numpy,
    seeded_network,
    train_accuracy,
)


class Tiny(nn.Module):
    def __init__(self):
        super().__init__()
        self.features = nn.Identity()
        self.head = nn.Linear(2, 2)


X = np.array([[1.0, 0.0], [0.0, 1.0], [2.0, 0.5], [0.5, 2.0], [1.5, 0.2], [0.1, 1.2],
              [3.0, 1.0], [1.0, 3.0], [2.2, 0.1], [0.3, 2.5]])
Y = np.array([0, 1] * 5)


def trainer(**kw) -> Trainer:
    settings = dict(lr=0.1, weight_decay=0.0, batch_size=4, max_epochs=500, stop_ratio=1e-3,
                    threads=1, device="cpu") | kw
    return Trainer(**settings)


class Counter:
    """Counts steps; asks to stop after ``stop_at`` epochs."""

    def __init__(self, stop_at=None):
        self.steps, self.epochs, self.stop_at = 0, [], stop_at

    def after_step(self, net):
        self.steps += 1

    def after_epoch(self, net, epoch, Xt, yt):
        self.epochs.append(epoch)
        assert Xt.shape == (10, 2) and yt.shape == (10,)
        return epoch == self.stop_at


def test_relative_loss_stop_and_cap():
    net = seeded_network(Tiny, 0, "cpu")
    log = trainer().fit(net, X, Y, seed=0)
    assert log["stopped"] == "loss" and log["epochs"] < 500
    assert log["final_loss"] < 1e-3 * log["first_loss"]
    capped = trainer(max_epochs=3).fit(seeded_network(Tiny, 0, "cpu"), X, Y, seed=0)
    assert capped == capped | {"epochs": 3, "stopped": "max_epochs"}
    assert not net.training  # left in eval mode


def test_hooks_see_every_step_and_epoch_and_can_stop():
    first, second = Counter(stop_at=2), Counter()
    log = trainer().fit(seeded_network(Tiny, 0, "cpu"), X, Y, seed=0, hooks=[first, second])
    assert log["epochs"] == 2 and log["stopped"] == "hook"
    assert first.steps == second.steps == 6  # 10 items in batches of 4: 3 steps an epoch
    assert first.epochs == second.epochs == [1, 2]  # the second hook saw epoch 2 too
    no_rule = Counter()
    log = trainer(max_epochs=4).fit(seeded_network(Tiny, 0, "cpu"), X, Y, seed=0,
                                    stop_rule=False, hooks=[no_rule], batch_size=10)
    assert log["epochs"] == 4 and no_rule.steps == 4


def test_seeded_restart_and_global_rng_untouched():
    torch.manual_seed(123)
    expected = torch.rand(1)
    torch.manual_seed(123)
    a, b = seeded_network(Tiny, 5, "cpu"), seeded_network(Tiny, 5, "cpu")
    assert torch.equal(a.head.weight, b.head.weight)
    aug = FeatureAugment(0.5, 0.2).fit(X, "cpu")
    trainer(max_epochs=5).fit(a, X, Y, seed=1, transform=aug)
    trainer(max_epochs=5).fit(b, X, Y, seed=1, transform=aug)
    assert torch.equal(a.head.weight, b.head.weight)
    assert torch.equal(torch.rand(1), expected)  # training did not move the global RNG
    c = seeded_network(Tiny, 5, "cpu")
    trainer(max_epochs=5).fit(c, X, Y, seed=2, transform=aug)
    assert not torch.equal(a.head.weight, c.head.weight)  # other shuffling and noise


def test_feature_augment_scale_by_hand():
    aug = FeatureAugment(noise_std=0.1, input_dropout=0.0).fit(
        np.array([[0.0, 1.0], [2.0, 1.0]]), "cpu")
    # unbiased std per feature: sqrt(2) for the first, 0 for the constant second
    np.testing.assert_allclose(aug.scale.numpy(), [[np.sqrt(2), 0.0]], rtol=1e-6)
    xb = torch.zeros(1000, 2)
    out = aug(xb)
    assert torch.all(out[:, 1] == 0)  # a constant feature gets no noise
    assert abs(out[:, 0].std().item() - 0.1 * np.sqrt(2)) < 0.02
    single = FeatureAugment(0.1, 0.0).fit(np.ones((1, 2)), "cpu")
    assert torch.equal(single(torch.ones(3, 2)), torch.ones(3, 2))
    drop = FeatureAugment(0.0, 0.5).fit(X, "cpu")(torch.ones(2000, 2))
    assert set(drop.unique().tolist()) == {0.0, 2.0}  # survivors scaled by 1 / (1 - p)


def test_forward_and_accuracy_helpers():
    net = Tiny()
    with torch.no_grad():
        net.head.weight.copy_(torch.eye(2))
        net.head.bias.zero_()
    p = forward_numpy(net, X, lambda m, xb: m.head(m.features(xb)).softmax(dim=1), "cpu",
                      batch=3)
    assert p.shape == (10, 2) and p.dtype == np.float64
    net.train()
    # head = identity: predicts the larger coordinate, right for all 10 points
    assert train_accuracy(net, torch.tensor(X, dtype=torch.float32), torch.tensor(Y)) == 1.0
    assert train_accuracy(net, torch.tensor(X, dtype=torch.float32), torch.tensor(1 - Y)) == 0.0
    assert net.training  # as found during training


def test_step_cap_own_optimizer_and_train_mode():
    # 10 items in batches of 4: 3 steps per epoch, so a cap of 5 steps ends inside epoch 2
    net = seeded_network(Tiny, 0, "cpu").eval()
    modes = []
    frozen = torch.optim.SGD(net.parameters(), lr=0.0)  # steps that change nothing
    before = [p.detach().clone() for p in net.parameters()]
    log = trainer().fit(net, X, Y, 0, optimizer=frozen, max_steps=5,
                        train_mode=lambda n: modes.append(n.training))
    assert (log["steps"], log["epochs"], log["stopped"]) == (5, 2, "max_steps")
    assert modes == [False, False]  # our train_mode ran instead of net.train()
    assert all(torch.equal(a, b) for a, b in zip(before, net.parameters(), strict=True))
    assert trainer().fit(seeded_network(Tiny, 0, "cpu"), X, Y, 0)["steps"] > 0


def test_stop_loss_replaces_the_relative_target():
    net = seeded_network(Tiny, 0, "cpu")
    first = trainer().fit(seeded_network(Tiny, 0, "cpu"), X, Y, 0)
    assert first["stopped"] == "loss"
    log = trainer().fit(net, X, Y, 0, stop_loss=0.05)  # a looser target: it stops sooner
    assert log["stopped"] == "loss" and log["final_loss"] < 0.05
    assert log["epochs"] < first["epochs"]
