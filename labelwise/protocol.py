"""What strategies may ask of a learner: capability names and the ``Learner`` protocol.

A neutral module that both ``labelwise.learners`` and ``labelwise.strategies`` import, so that
neither depends on the other. A learner is fitted on the labeled set and answers for pool items.
Every learner has ``fit`` and ``predict_proba``; what else it can give is listed in its
``capabilities`` (a frozenset of the names below), and a strategy names the capabilities it needs.
The loop checks them before training, so a mismatch fails at once with an error naming the
learners that would do. Each capability promises one optional method, listed in ``Learner``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

if TYPE_CHECKING:
    import numpy as np

#: ``predict_proba(X) -> (n, K)``: class probabilities, columns in the order of ``classes_``.
PROBA = "proba"
#: ``embed(X) -> (n, d)``: a representation h(x) (penultimate layer, or the input features).
EMBEDDING = "embedding"
#: ``sample_proba(X, n_samples=None) -> (T, n, K)``: MC-dropout passes or ensemble members.
SAMPLES = "samples"
#: ``ema_outputs(X) -> dict``: main and EMA-model outputs at LHD's snapshot (Khosla et al. 2022).
EMA = "ema"
#: ``embed(X) -> (n, d)``: L2-normalised supervised-contrastive features (Krishnan et al. 2021).
CONTRASTIVE = "contrastive"
#: ``predict_loss(X) -> (n,)``: a Learning Loss module's predicted loss (Yoo & Kweon 2019).
LOSS_PREDICTION = "loss_prediction"
#: ``finetune_pseudo_labels(X_u, X_l, y_l, gamma=0.8) -> dict``: "+FT" (Khosla et al. 2022).
PSEUDO_LABEL_FT = "pseudo_label_ft"

#: every capability name, for validation and listings
CAPABILITIES = frozenset(
    {PROBA, EMBEDDING, SAMPLES, EMA, CONTRASTIVE, LOSS_PREDICTION, PSEUDO_LABEL_FT})


@runtime_checkable
class Learner(Protocol):
    """What the loop and the strategies need from a model.

    Required:
        classes_: (K,) the declared classes; column c of ``predict_proba`` is ``classes_[c]``.
        capabilities: the capability names (above) of what the learner can give besides ``fit``.
        fit(X, y): fit on labeled features X (n, d) and labels y (n,) drawn from ``classes_``;
            returns the learner.
        predict_proba(X): (n, K) class probabilities for pool features X (n, d).
        clone(): an unfitted copy with the same classes, seed and parameters (the loop fits a
            fresh copy each round).

    Optional, one per capability (a learner lists the capability only if it has the method):
        embed(X) -> (n, d)                               EMBEDDING, CONTRASTIVE
        sample_proba(X, n_samples=None) -> (T, n, K)     SAMPLES
        ema_outputs(X) -> {"proba_main": (n, K), "embed_main": (n, d),
                           "proba_ema": (n, K), "embed_ema": (n, d)}          EMA
        predict_loss(X) -> (n,)                          LOSS_PREDICTION
        finetune_pseudo_labels(X_u, X_l, y_l, gamma=0.8) -> dict, in place    PSEUDO_LABEL_FT

    Optional, for comparing two rounds' models (see :func:`shared_proba_mapping`):
        proba_mapping_: after fit, how the outputs became probabilities ("softmax", "platt",
            "predict_proba").
        predict_proba_as(X, mapping) -> (n, K): the probabilities under another mapping.

    ``isinstance(obj, Learner)`` checks only that the required members exist.
    """

    classes_: np.ndarray
    capabilities: frozenset[str]

    def fit(self, X: np.ndarray, y: np.ndarray) -> Any: ...

    def predict_proba(self, X: np.ndarray) -> np.ndarray: ...

    def clone(self) -> Any: ...


def shared_proba_mapping(previous: Any, current: Any) -> str | None:
    """The probability mapping under which last round's and this round's models compare, or
    None when their ``predict_proba`` outputs are already on one scale.

    A strategy that compares two rounds' probabilities (alamp, Aggarwal et al. 2022:
    margin of the previous model over the current one) must read both on one scale. When both
    learners name their mapping (``proba_mapping_``) and the names differ (the SVM switches from
    the softmax of its decision values to Platt scaling once every class has 5 labels, and the
    previous model has no Platt fit), the answer is ``"softmax"``, which both give through
    ``predict_proba_as(X, "softmax")``. None also when either learner names no mapping.
    """
    if previous is None:
        return None
    before = getattr(previous, "proba_mapping_", None)
    now = getattr(current, "proba_mapping_", None)
    if before is None or now is None or before == now:
        return None
    return "softmax"


__all__ = [
    "CAPABILITIES",
    "CONTRASTIVE",
    "EMA",
    "EMBEDDING",
    "LOSS_PREDICTION",
    "PROBA",
    "PSEUDO_LABEL_FT",
    "SAMPLES",
    "Learner",
    "shared_proba_mapping",
]
