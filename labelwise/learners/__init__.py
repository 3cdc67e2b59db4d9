"""Learners: models behind one small protocol (fit, predict_proba, and capabilities).

``make_learner(name, classes, random_state)`` builds one from the registry; ``LEARNERS`` lists them
with their capabilities, so a strategy's needs can be checked before any training. The learner
modules import their heavy dependencies (scikit-learn estimators, torch) only when fitting.
"""

from __future__ import annotations

from dataclasses import dataclass

from labelwise.learners.base import (
    CONTRASTIVE,
    EMA,
    EMBEDDING,
    LOSS_PREDICTION,
    PROBA,
    PSEUDO_LABEL_FT,
    SAMPLES,
    BaseLearner,
    Learner,
)
from labelwise.learners.ensemble import DeepEnsembleLearner
from labelwise.learners.finetune import FineTuneImageLearner, FineTuneTextLearner
from labelwise.learners.lossnet import LossPredictionLearner
from labelwise.learners.sklearn import LogisticRegressionLearner, SVMLearner
from labelwise.learners.supcon import SupConLearner
from labelwise.learners.torch_mlp import TorchMLPLearner
from labelwise.learners.torch_module import TorchModuleLearner
from labelwise.validation import LabelwiseError, unknown_name_error


@dataclass(frozen=True)
class LearnerSpec:
    """A registered learner: its class and a one-line description."""

    name: str
    cls: type[BaseLearner]
    description: str

    @property
    def capabilities(self) -> frozenset[str]:
        return self.cls.capabilities


LEARNERS: dict[str, LearnerSpec] = {}


def register_learner(name: str, cls: type[BaseLearner], description: str) -> None:
    """Add a learner class to the registry under ``name``."""
    LEARNERS[name] = LearnerSpec(name, cls, description)


register_learner("logreg", LogisticRegressionLearner,
                 "multinomial logistic regression on the features (scikit-learn)")
register_learner("svm", SVMLearner,
                 "RBF SVM with Platt probabilities, C by cross-validation (paper 003)")
register_learner("mlp", TorchMLPLearner,
                 "torch MLP head: MC dropout, EMA for LHD, +FT on pseudo-labels (paper 002)")
register_learner("ensemble", DeepEnsembleLearner,
                 "deep ensemble of 5 seeded MLP heads (paper 001, variation ratio)")
register_learner("supcon", SupConLearner,
                 "supervised contrastive MLP encoder + linear classifier, T=0.07 (paper 004)")
register_learner("lossnet", LossPredictionLearner,
                 "MLP head with a Learning Loss module (Yoo & Kweon 2019, paper 004 baseline)")
register_learner("torch-module", TorchModuleLearner,
                 "your own torch nn.Module (features + head; module=...): MC dropout, EMA, +FT")
register_learner("finetune-text", FineTuneTextLearner,
                 "fine-tunes all-MiniLM-L6-v2, zero-init head, X = item indices (papers 000, 003)")
register_learner("finetune-image", FineTuneImageLearner,
                 "fine-tunes EfficientNet-Lite0, zero-init head, X = item indices (000, 003)")


def make_learner(name: str, classes, random_state: int | None = None, **params) -> BaseLearner:
    """Build the learner registered as ``name`` for the given classes (labels, or an int K)."""
    if name not in LEARNERS:
        raise unknown_name_error("learner", name, LEARNERS)
    try:
        return LEARNERS[name].cls(classes, random_state=random_state, **params)
    except TypeError as exc:
        raise LabelwiseError(f"bad parameters for learner {name!r}: {exc}") from None


def learners_with(capability: str) -> list[str]:
    """Names of the registered learners that have ``capability``."""
    return [n for n, s in LEARNERS.items() if capability in s.capabilities]


__all__ = [
    "CONTRASTIVE",
    "EMA",
    "EMBEDDING",
    "LOSS_PREDICTION",
    "PSEUDO_LABEL_FT",
    "SAMPLES",
    "LEARNERS",
    "PROBA",
    "BaseLearner",
    "Learner",
    "LearnerSpec",
    "learners_with",
    "make_learner",
    "register_learner",
]
