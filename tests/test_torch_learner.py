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


# ---- warm start -------------------------------------------------------------------------------


def _loss_on(m, X, y) -> float:
    from labelwise.learners.trainer import cross_entropy_loss, mean_loss

    return mean_loss(m.net_, X, m.encode(y), cross_entropy_loss, "cpu")


def test_warm_fit_continues_last_rounds_network_deterministically(blobs):
    X, y, X2, y2, _ = blobs
    template = make_learner("mlp", 3, random_state=0, **SMALL)
    previous = template.clone().fit(X, y)
    before = _weights(previous.net_)
    warm = template.clone().warm_fit(X2, y2, previous)
    again = template.clone().warm_fit(X2, y2, previous)
    assert warm.warm_started_ and warm.warm_start_note_ is None
    for a, b in zip(_weights(warm.net_), _weights(again.net_), strict=True):
        assert torch.equal(a, b)  # the same previous model, labels and seed: the same weights
    for w, p in zip(_weights(previous.net_), before, strict=True):
        assert torch.equal(w, p)  # the previous model is left as it was (alamp reads it)
    # it starts where the previous model ended: its first loss is far below a fresh start's
    fresh = template.clone().fit(X2, y2)
    assert warm.train_log_["first_loss"] < 0.5 * fresh.train_log_["first_loss"]
    assert warm.train_log_["first_loss"] < 2 * _loss_on(previous, X2, y2) + 0.05
    # and the EMA goes on from last round's EMA, with its step count
    assert warm.ema_.step == previous.ema_.step + warm.train_log_["steps"]


def test_warm_fit_stops_at_the_fresh_fits_loss_target_and_warm_epochs_caps_it(blobs):
    X, y, X2, y2, _ = blobs
    settings = SMALL | {"max_epochs": 400, "dropout": 0.0, "weight_decay": 0.0}
    template = make_learner("mlp", 3, random_state=0, **settings)
    previous = template.clone().fit(X, y)
    warm = template.clone().warm_fit(X2, y2, previous)
    target = warm._warm_stop_loss(X2, warm.encode(y2), 0)
    assert target == pytest.approx(1e-3 * np.log(3), rel=0.5)  # ~ 0.001 x a fresh first loss
    assert warm.train_log_["stopped"] == "loss"
    assert warm.train_log_["final_loss"] < target
    # the relative rule would have asked for 0.001 x the (low) first loss of the warm start
    assert warm.train_log_["final_loss"] > 1e-3 * warm.train_log_["first_loss"]
    capped = make_learner("mlp", 3, random_state=0, warm_epochs=3, **settings)
    out = capped.clone().warm_fit(X2, y2, previous)
    assert out.train_log_["epochs"] == 3 and out.train_log_["stopped"] == "max_epochs"
    assert capped.clone().fit(X, y).train_log_["epochs"] > 3  # fresh fits keep max_epochs
    with pytest.raises(LabelwiseError, match="warm_epochs"):
        make_learner("mlp", 3, warm_epochs=0)


def test_warm_fit_falls_back_to_a_fresh_fit_with_a_reason(blobs):
    X, y, X2, y2, _ = blobs
    template = make_learner("mlp", 3, random_state=0, **SMALL)
    fresh = template.clone().fit(X2, y2)
    first = template.clone().warm_fit(X2, y2, None)
    assert not first.warm_started_ and first.warm_start_note_ == "no previous model"
    for a, b in zip(_weights(first.net_), _weights(fresh.net_), strict=True):
        assert torch.equal(a, b)  # exactly the fresh fit
    other = make_learner("mlp", ["p", "q", "r"], random_state=0, **SMALL).fit(
        X, np.array(["p", "q", "r"])[y])
    out = template.clone().warm_fit(X2, y2, other)
    assert out.warm_start_note_ == "the declared classes changed"
    wide = make_learner("mlp", 3, random_state=0, **SMALL).fit(np.hstack([X, X]), y)
    assert "features changed" in template.clone().warm_fit(X2, y2, wide).warm_start_note_
    # a class labeled for the first time needs no new weights: the head has a unit per
    # declared class from the start, so the warm start goes on
    two = template.clone().fit(X[y != 2], y[y != 2])
    assert template.clone().warm_fit(X2, y2, two).warm_started_


def test_which_torch_learners_warm_start(blobs):
    X, y, X2, y2, _ = blobs
    can = {n for n in ("mlp", "ensemble", "torch-module", "supcon", "lossnet")
           if make_learner(n, 3, **({"module": _TinyModule} if n == "torch-module" else {}))
           .can_warm_start()}
    assert can == {"mlp", "ensemble", "torch-module"}
    with pytest.raises(LabelwiseError, match="LossPredictionLearner cannot warm-start"):
        make_learner("lossnet", 3).warm_fit(X, y, None)
    ens = make_learner("ensemble", 3, random_state=0, n_members=2, **SMALL)
    previous = ens.clone().fit(X, y)
    warm = ens.clone().warm_fit(X2, y2, previous)
    assert warm.warm_started_ and len(warm.members_) == 2
    fresh = ens.clone().fit(X2, y2)
    for w, f in zip(warm.train_logs_, fresh.train_logs_, strict=True):
        assert w["first_loss"] < 0.5 * f["first_loss"]
    mod = make_learner("torch-module", 3, random_state=0, module=_TinyModule,
                       **{k: v for k, v in SMALL.items() if k != "hidden"})
    previous = mod.clone().fit(X, y)
    warm = mod.clone().warm_fit(X2, y2, previous)
    assert warm.warm_started_ and warm.train_log_["first_loss"] < mod.clone().fit(
        X2, y2).train_log_["first_loss"]


class _TinyModule(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.features = torch.nn.Sequential(torch.nn.Linear(2, 8), torch.nn.ReLU())
        self.head = torch.nn.Linear(8, 3)


def test_the_engine_warm_starts_an_mlp_and_says_from_which_model(blobs):
    from labelwise import ActiveLearner

    X, y, X2, y2, pool = blobs
    Xp = np.vstack([X2, pool])
    engine = ActiveLearner(Xp, "mlp", "margin", classes=3, random_state=0, warm_start=True,
                           learner_params=SMALL)
    engine.teach(np.arange(30), y2[:30])
    first = engine.fit()
    assert not first.warm_started and first.warm_from is None
    assert first.warm_note == "no previous model"
    engine.teach(np.arange(30, 60), y2[30:])
    second = engine.fit()
    assert second.warm_started and second.warm_from == 30 and second.warm_note is None
