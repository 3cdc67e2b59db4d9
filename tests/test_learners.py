"""The learner registry (labelwise.learners): torch learners without torch installed."""

import importlib.util

import pytest

from labelwise.learners import LEARNERS, as_learner, make_learner
from labelwise.learners.torch_mlp import TorchMLPLearner
from labelwise.validation import LabelwiseError

TORCH_LEARNERS = {"mlp": "torch", "ensemble": "torch", "supcon": "torch", "lossnet": "torch",
                  "torch-module": "torch", "cnn": "vision",
                  "finetune-text": "encoders", "finetune-image": "encoders"}


@pytest.fixture
def no_torch(monkeypatch):
    """Make ``find_spec("torch")`` answer as on a machine without PyTorch."""
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "torch" else real(name, *a))


def test_the_registry_names_the_extra_of_every_torch_learner():
    assert {n: s.extra for n, s in LEARNERS.items() if s.extra} == TORCH_LEARNERS
    assert LEARNERS["logreg"].extra is None and LEARNERS["svm"].extra is None


@pytest.mark.parametrize("name", sorted(TORCH_LEARNERS))
def test_a_torch_learner_without_torch_is_a_one_line_error_naming_the_extra(no_torch, name):
    extra = TORCH_LEARNERS[name]
    message = f'^learner {name!r} needs PyTorch: pip install "labelwise\\[{extra}\\]"$'
    params = {"module": object} if name == "torch-module" else {}
    with pytest.raises(LabelwiseError, match=message):
        make_learner(name, 3, **params)
    with pytest.raises(LabelwiseError, match=message):
        as_learner(name, 3, **params)


def test_the_check_also_guards_direct_construction_and_spares_the_others(no_torch):
    with pytest.raises(LabelwiseError, match="learner 'mlp' needs PyTorch"):
        TorchMLPLearner(3)
    assert make_learner("logreg", 3).n_classes == 3
    assert make_learner("svm", 3).n_classes == 3
