"""The torch learners' host: EMA modes and how the EMA state crosses rounds, LHD's snapshot
trigger inside real training, the accuracy stop of the public code, settings checks."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import labelwise.learners.ema as ema_module  # noqa: E402
from labelwise.learners import make_learner  # noqa: E402
from labelwise.learners.ema import EMA_SEED_OFFSET, LHDTracker, WeightEMA  # noqa: E402
from labelwise.learners.trainer import Trainer, seeded_network  # noqa: E402
from labelwise.validation import LabelwiseError  # noqa: E402

SMALL = {"hidden": 16, "lr": 0.01, "max_epochs": 20, "device": "cpu"}


@pytest.fixture(scope="module")
def blobs(make_blobs):
    X, y = make_blobs(((0.0, 0.0), (4.0, 0.0), (0.0, 4.0)), 120, 0.7)
    return X[:30], y[:30], X[:60], y[:60], X[60:]


def _weights(net):
    return [p.detach().clone() for p in net.parameters()]


def test_public_ema_step_runs_on_through_clones_and_refits(blobs):
    X, y, X2, y2, _ = blobs
    template = make_learner("mlp", 3, random_state=0, **SMALL)
    a = template.clone().fit(X, y)  # 30 items, one batch: one step per epoch
    assert a.ema_.step == a.train_log_["epochs"] == 20
    b = a.clone()  # next round: unfitted, but carries the step counter
    assert b.ema_step_ == 20 and not b.fitted_
    b.fit(X2, y2)  # 60 items: 1 step per epoch at batch size 64
    assert b.ema_.step == 20 + b.train_log_["epochs"]
    steps = b.ema_.step
    b.fit(X2, y2)  # refitting the same learner continues too
    assert b.ema_.step == steps + b.train_log_["epochs"]
    assert template.clone().fit(X, y).ema_.step == 20  # a fresh template starts at 0


def test_fresh_ema_restarts_every_round(blobs):
    X, y, X2, y2, _ = blobs
    a = make_learner("mlp", 3, random_state=0, ema_mode="fresh", **SMALL).fit(X, y)
    b = a.clone().fit(X2, y2)
    assert b.ema_.step == b.train_log_["epochs"]


def test_where_the_ema_starts(blobs):
    X, y, *_ = blobs
    m = make_learner("mlp", 3, random_state=4, **SMALL).fit(X, y)
    main0 = m._new_network(2, 4)  # the main network's initial weights
    separate = m._ema_start_network(2)
    again = m._ema_start_network(2)
    expected = seeded_network(lambda: m._build(2), 4 + EMA_SEED_OFFSET, "cpu")
    for s, g, e, w in zip(separate.parameters(), again.parameters(), expected.parameters(),
                          main0.parameters(), strict=True):
        assert torch.equal(s, g) and torch.equal(s, e) and not torch.equal(s, w)
    public = ema_module.start_ema(main0, "public", 0.999, 7, lambda: separate)
    fresh = ema_module.start_ema(main0, "fresh", 0.999, 7, lambda: separate)
    assert public.step == 7 and fresh.step == 0
    assert torch.equal(public.model.head[1].weight, separate.head[1].weight)
    assert torch.equal(fresh.model.head[1].weight, main0.head[1].weight)
    # the carried step continues the warm-up: the next update uses a = min(1 - 1/9, 0.999)
    before, theta = public.model.head[1].weight.clone(), main0.head[1].weight
    public.update(main0)
    a = 1 - 1 / 9
    torch.testing.assert_close(public.model.head[1].weight, a * before + (1 - a) * theta)


def test_snapshot_trigger_inside_training(monkeypatch):
    """The snapshot is taken at the first epoch whose gap shrank 5 epochs in a row (here epoch
    7), with the weights of that epoch; without such a run, at the end."""
    Xn = np.array([[0.0, 1.0], [1.0, 0.0], [1.0, 1.0], [0.0, 0.0]])
    yn = np.array([0, 1, 1, 0])

    def run(gaps):
        accuracies = iter([v for g in gaps for v in (0.9, 0.9 - g)])  # main, then EMA
        monkeypatch.setattr(ema_module, "train_accuracy", lambda net, Xt, yt: next(accuracies))
        net = seeded_network(lambda: make_learner("mlp", 2, hidden=4)._build(2), 0, "cpu")
        tracker = LHDTracker(WeightEMA(net), patience=5)

        class Recorder:
            weights: dict = {}

            def after_epoch(self, net, epoch, Xt, yt):
                self.weights[epoch] = _weights(net)
                return False

        rec = Recorder()
        log = Trainer(0.05, 0.0, 4, len(gaps), 0.0, 1, "cpu").fit(net, Xn, yn, 0,
                                                                   hooks=[tracker, rec])
        tracker.finish(net, log)
        return log, tracker, rec.weights

    gaps = [0.1, 0.3, 0.25, 0.2, 0.15, 0.1, 0.05, 0.2, 0.1]
    log, tracker, weights = run(gaps)
    assert log["epochs"] == 9 and log["snapshot"] == 7
    assert log["accuracy_gaps"] == pytest.approx(gaps[:7])  # no gaps after the snapshot
    for s, w in zip(tracker.snapshot["main"].parameters(), weights[7], strict=True):
        assert torch.equal(s, w)
    log, tracker, weights = run([0.5, 0.4, 0.3, 0.2, 0.1, 0.2])  # 4 shrinks, then a rise
    assert log["snapshot"] == "end"
    for s, w in zip(tracker.snapshot["main"].parameters(), weights[6], strict=True):
        assert torch.equal(s, w)


def test_accuracy_stop_of_the_public_code(blobs):
    X, y, *_ = blobs
    m = make_learner("mlp", 3, random_state=0, train_stop="accuracy",
                     **SMALL | {"max_epochs": 300}).fit(X, y)
    log = m.train_log_
    assert log["stopped"] == "hook" and log["epochs"] < 300
    Xt, yt = torch.tensor(X, dtype=torch.float32), torch.tensor(y)
    with torch.no_grad():
        main_acc = (m.net_.head(m.net_.features(Xt)).argmax(1) == yt).float().mean().item()
        ema = m.ema_.model
        ema_acc = (ema.head(ema.features(Xt)).argmax(1) == yt).float().mean().item()
    assert main_acc >= 0.99 and ema_acc >= 0.80
    ens = make_learner("ensemble", 3, n_members=2, train_stop="accuracy", **SMALL).fit(X, y)
    assert all(g["stopped"] in ("hook", "max_epochs") for g in ens.train_logs_)
    with pytest.raises(LabelwiseError, match="train_stop='loss'"):
        make_learner("supcon", 3, train_stop="accuracy")


def test_settings_are_checked():
    with pytest.raises(LabelwiseError, match="ema_mode"):
        make_learner("mlp", 3, ema_mode="mean-teacher")
    with pytest.raises(LabelwiseError, match="train_stop"):
        make_learner("lossnet", 3, train_stop="never")
    with pytest.raises(LabelwiseError, match="bad parameters"):
        make_learner("mlp", 3, hiden=8)  # a misspelt setting fails
    m = make_learner("mlp", 3, random_state=1, hidden=8)
    twin = m.clone()
    assert twin.params == m.params and not hasattr(twin, "ema_step_")
