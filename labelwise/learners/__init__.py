"""Learners: models behind one small protocol (fit, predict_proba, and capabilities).

``as_learner(model, classes)`` turns what a user passes (a registered name, a labelwise learner,
or any scikit-learn classifier) into a learner; ``make_learner(name, classes, random_state)``
builds one from the registry; ``LEARNERS`` lists them with their capabilities, so a strategy's
needs can be checked before any training. The learner modules import their heavy dependencies
(scikit-learn estimators, torch) only when fitting.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from labelwise.learners.base import (
    CAPABILITIES,
    CONTRASTIVE,
    EMA,
    EMBEDDING,
    LOSS_PREDICTION,
    PROBA,
    PSEUDO_LABEL_FT,
    SAMPLES,
    TORCH_EXTRAS,
    BaseLearner,
    Learner,
)
from labelwise.learners.cnn import CNNLearner
from labelwise.learners.ensemble import DeepEnsembleLearner
from labelwise.learners.finetune import FineTuneImageLearner, FineTuneTextLearner
from labelwise.learners.lossnet import LossPredictionLearner
from labelwise.learners.sklearn import (
    LogisticRegressionLearner,
    SklearnClassifierLearner,
    SVMLearner,
)
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
    #: the pip extra that brings PyTorch when the learner needs it, else None
    extra: str | None = None

    @property
    def capabilities(self) -> frozenset[str]:
        return self.cls.capabilities


LEARNERS: dict[str, LearnerSpec] = {}


#: the names registered below; another registration under one of them needs replace=True
BUILTIN_LEARNERS: set[str] = set()
_registering_builtins = True


def register_learner(name: str, cls: type[BaseLearner], description: str = "",
                     extra: str | None = None, replace: bool = False) -> None:
    """Add a learner class to the registry under ``name``; ``extra`` names the pip extra that
    brings PyTorch if the learner needs it (building it without torch is then a one-line error).
    Registering under a built-in name (``logreg``...) needs ``replace=True``."""
    if not name or not isinstance(name, str):
        raise LabelwiseError(f"a learner name must be a non-empty string, got {name!r}")
    if name in BUILTIN_LEARNERS and not replace and not _registering_builtins:
        raise LabelwiseError(f"learner {name!r} is built in: choose another name, or pass "
                             "replace=True to register over it")
    if _registering_builtins:
        BUILTIN_LEARNERS.add(name)
    LEARNERS[name] = LearnerSpec(name, cls, description, extra)
    if extra is not None:
        TORCH_EXTRAS[cls] = (name, extra)


register_learner("logreg", LogisticRegressionLearner,
                 "multinomial logistic regression on the features (scikit-learn)")
register_learner("svm", SVMLearner,
                 "RBF SVM, C by cross-validation, Platt or softmax probabilities (Aggarwal 2022)")
register_learner("mlp", TorchMLPLearner,
                 "torch MLP head: MC dropout, EMA for LHD, +FT on pseudo-labels (Khosla 2022)",
                 extra="torch")
register_learner("ensemble", DeepEnsembleLearner,
                 "deep ensemble of 5 seeded MLP heads (variation ratio; thesis 2021)",
                 extra="torch")
register_learner("supcon", SupConLearner,
                 "supervised contrastive MLP encoder + linear classifier, T=0.07 (Krishnan 2021)",
                 extra="torch")
register_learner("lossnet", LossPredictionLearner,
                 "MLP head with a Learning Loss module (Yoo & Kweon 2019)",
                 extra="torch")
register_learner("torch-module", TorchModuleLearner,
                 "your own torch nn.Module (features + head; module=...): MC dropout, EMA, +FT",
                 extra="torch")
register_learner("cnn", CNNLearner,
                 "small CNN from scratch on raw images: EMA, MC dropout, +FT with strong "
                 "augmentation (Khosla 2022)", extra="vision")
register_learner("finetune-text", FineTuneTextLearner,
                 "fine-tunes all-MiniLM-L6-v2, zero-init head, X = item indices",
                 extra="encoders")
register_learner("finetune-image", FineTuneImageLearner,
                 "fine-tunes EfficientNet-Lite0, zero-init head, X = item indices",
                 extra="encoders")
_registering_builtins = False  # registrations after this line are the users'


def make_learner(name: str, classes, random_state: int | None = None, **params) -> BaseLearner:
    """Build the learner registered as ``name`` for the given classes (labels, or an int K)."""
    if name not in LEARNERS:
        raise unknown_name_error("learner", name, LEARNERS)
    try:
        return LEARNERS[name].cls(classes, random_state=random_state, **params)
    except TypeError as exc:
        raise LabelwiseError(f"bad parameters for learner {name!r}: {exc}") from None


def as_learner(model: Any, classes, random_state: int | None = None,
               **params: Any) -> BaseLearner:
    """The learner for ``model``, whatever form it takes.

    Args:
        model: a registered name (``"logreg"``, see ``LEARNERS``), built with ``params``; a
            labelwise learner (anything with the ``Learner`` protocol), returned as is; or any
            scikit-learn classifier with ``fit`` and ``predict_proba``
            (``RandomForestClassifier()``, a ``Pipeline``...), wrapped in a
            ``SklearnClassifierLearner`` after ``set_params(**params)`` on a clone.
        classes: the declared classes (labels, or an int K); for a labelwise learner they must
            equal its ``classes_`` (``None`` accepts its own).
        random_state: the seed of a learner built here; a labelwise learner keeps its own.

    Raises:
        LabelwiseError: unknown name, bad parameters, classes that differ from a given learner's,
            or an object without ``fit``/``predict_proba`` (the message names what is missing).
    """
    if isinstance(model, str):
        return make_learner(model, classes, random_state=random_state, **params)
    if isinstance(model, Learner):
        if params:
            raise LabelwiseError(
                f"learner parameters ({', '.join(params)}) apply to a learner name or a "
                f"scikit-learn estimator, not to a built {type(model).__name__}; set them "
                "when building it"
            )
        if classes is not None:
            declared = np.arange(int(classes)) if isinstance(classes, (int, np.integer)) \
                else np.asarray(classes)
            own = np.asarray(model.classes_)
            if declared.shape != own.shape or not (declared == own).all():
                raise LabelwiseError(
                    f"the learner's classes {own.tolist()} differ from the declared classes "
                    f"{declared.tolist()}; build it with the same classes"
                )
        return model
    if classes is None:
        raise LabelwiseError("declare the classes to wrap a scikit-learn estimator")
    from labelwise.learners.sklearn import check_classifier

    check_classifier(model)
    if params:
        from sklearn.base import clone

        try:
            model = clone(model).set_params(**params)
        except ValueError as exc:
            raise LabelwiseError(f"bad parameters for {type(model).__name__}: "
                                 f"{str(exc).splitlines()[0]}") from None
    return SklearnClassifierLearner(classes, random_state=random_state, estimator=model)


def warm_start_refusal(learner) -> str:
    """The one-line message for a learner that cannot warm-start, naming those that can."""
    can = [n for n, spec in LEARNERS.items() if spec.cls.warm_starts]
    return (f"learner {type(learner).__name__} cannot warm-start; learners that can: "
            f"{', '.join(can) or 'none registered'}, or a scikit-learn classifier with "
            "partial_fit (e.g. SGDClassifier(loss='log_loss')); or leave warm start off")


def learners_with(capability: str) -> list[str]:
    """Names of the registered learners that have ``capability``."""
    return [n for n, s in LEARNERS.items() if capability in s.capabilities]


__all__ = [
    "CAPABILITIES",
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
    "SklearnClassifierLearner",
    "as_learner",
    "learners_with",
    "make_learner",
    "register_learner",
]



def wrap_fitted(model: Any) -> BaseLearner:
    """A scikit-learn classifier that the caller fitted, as a fitted labelwise learner (what
    :func:`labelwise.query` does with one); its classes are the estimator's ``classes_``."""
    from sklearn.exceptions import NotFittedError
    from sklearn.utils.validation import check_is_fitted

    from labelwise.learners.sklearn import check_classifier

    check_classifier(model)
    try:
        check_is_fitted(model)
    except NotFittedError:
        raise LabelwiseError(
            f"{type(model).__name__} is not fitted yet: fit it on the labeled items first, or "
            "give it to ActiveLearner / run_active_learning, which fit it each round") from None
    learner = SklearnClassifierLearner(model.classes_, estimator=model)
    learner.estimator_ = model
    learner.columns_ = np.arange(len(model.classes_))  # its columns are the classes, in order
    learner.n_features_ = int(model.n_features_in_)
    learner.fitted_ = True
    return learner
