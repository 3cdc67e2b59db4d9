"""The learner protocol: what the loop and the strategies may ask of a model.

A learner is fitted on the labeled set and answers for pool items. Every learner has ``fit`` and
``predict_proba``; what else it can give is listed in ``capabilities`` (e.g. ``"embedding"`` for a
penultimate representation), and a strategy names the capabilities it needs. The loop checks them
before training, so a mismatch fails at once with an error naming the learners that would do.
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

import numpy as np

from labelwise.validation import (
    LabelwiseError,
    check_features,
    check_labels,
    check_same_length,
)

#: Capability names used across the package. ``proba``: class probabilities (n, K).
#: ``embedding``: a representation h(x) of shape (n, d).
PROBA = "proba"
EMBEDDING = "embedding"
#: ``samples``: ``sample_proba(X) -> (T, n, K)``, MC-dropout passes or ensemble members.
SAMPLES = "samples"
#: ``ema``: ``ema_outputs(X) -> dict``, main and EMA-model outputs at LHD's snapshot (paper 002).
EMA = "ema"
#: ``contrastive``: ``embed(X)`` gives L2-normalised supervised-contrastive features (paper 004).
CONTRASTIVE = "contrastive"
#: ``loss_prediction``: ``predict_loss(X) -> (n,)``, a Learning Loss module (paper 004 baseline).
LOSS_PREDICTION = "loss_prediction"
#: ``pseudo_label_ft``: ``finetune_pseudo_labels(X_u, X_l, y_l)``, paper 002 Algorithm 2 ("+FT").
PSEUDO_LABEL_FT = "pseudo_label_ft"


@runtime_checkable
class Learner(Protocol):
    """What the loop needs from a model.

    Attributes:
        classes_: (K,) the declared classes; column c of ``predict_proba`` is ``classes_[c]``.
        capabilities: the names of what the learner can give besides ``fit``.
    """

    classes_: np.ndarray
    capabilities: frozenset[str]

    def fit(self, X: np.ndarray, y: np.ndarray) -> Learner: ...

    def predict_proba(self, X: np.ndarray) -> np.ndarray: ...

    def clone(self) -> Learner: ...


class BaseLearner:
    """Shared plumbing: declared classes, label encoding, input checks and cloning.

    Subclasses implement ``_fit(X, y_idx)`` and ``_predict_proba(X) -> (n, K)``, and ``_embed(X)``
    if they list ``"embedding"`` in ``capabilities``. ``y_idx`` holds indices into ``classes_``.

    Args:
        classes: the declared classes (a sequence of labels), or an int K meaning ``range(K)``.
        random_state: seed for everything random in training.
    """

    capabilities: frozenset[str] = frozenset({PROBA})
    #: the fewest distinct classes the labeled set must hold
    min_classes: int = 2

    def __init__(self, classes, random_state: int | None = None, **params: Any):
        if isinstance(classes, (int, np.integer)):
            classes = np.arange(int(classes))
        self.classes_ = np.asarray(classes)
        if self.classes_.ndim != 1 or len(self.classes_) < 2:
            raise LabelwiseError("a learner needs at least 2 declared classes")
        if len(np.unique(self.classes_)) != len(self.classes_):
            raise LabelwiseError("the declared classes contain duplicates")
        self.random_state = random_state
        self.params = params
        self.fitted_ = False

    @property
    def n_classes(self) -> int:
        return len(self.classes_)

    def clone(self) -> BaseLearner:
        """An unfitted copy with the same classes, seed and parameters."""
        return type(self)(self.classes_, random_state=self.random_state, **self.params)

    def encode(self, y) -> np.ndarray:
        """Map labels (values of ``classes_``) to column indices, rejecting unknown labels."""
        y = check_labels(y, self.classes_)
        lookup = {c: i for i, c in enumerate(self.classes_.tolist())}
        return np.fromiter((lookup[v] for v in y.tolist()), dtype=np.int64, count=len(y))

    def fit(self, X, y) -> BaseLearner:
        """Fit on labeled features X (n, d) and labels y (n,) drawn from ``classes_``."""
        X = check_features(X, "labeled features")
        check_same_length(X, y, "labeled features", "labels")
        y_idx = self.encode(y)
        present = np.unique(y_idx)
        if len(present) < self.min_classes:
            names = ", ".join(repr(self.classes_[i].item()) for i in present) or "none"
            raise LabelwiseError(
                f"{type(self).__name__} needs labeled examples of at least {self.min_classes} "
                f"classes; the labeled set holds only {names}. Use a class-balanced seed set or "
                "label more examples."
            )
        self.n_features_ = X.shape[1]
        self._fit(X, y_idx)
        self.fitted_ = True
        return self

    def _check_predict_input(self, X) -> np.ndarray:
        if not self.fitted_:
            raise LabelwiseError(f"{type(self).__name__} is not fitted yet; call fit first")
        X = check_features(X, "pool features")
        if X.shape[1] != self.n_features_:
            raise LabelwiseError(
                f"pool features have {X.shape[1]} columns but the learner was fitted on "
                f"{self.n_features_}"
            )
        return X

    def predict_proba(self, X) -> np.ndarray:
        """Class probabilities, shape (n, K), columns in the order of ``classes_``."""
        return self._predict_proba(self._check_predict_input(X))

    def predict(self, X) -> np.ndarray:
        """Predicted labels, shape (n,)."""
        return self.classes_[self.predict_proba(X).argmax(axis=1)]

    def embed(self, X) -> np.ndarray:
        """The learner's representation h(x), shape (n, d)."""
        if EMBEDDING not in self.capabilities:
            raise LabelwiseError(f"{type(self).__name__} has no embedding")
        return self._embed(self._check_predict_input(X))

    def _fit(self, X: np.ndarray, y_idx: np.ndarray) -> None:
        raise NotImplementedError

    def _predict_proba(self, X: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def _embed(self, X: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def __repr__(self) -> str:
        params = ", ".join(f"{k}={v!r}" for k, v in self.params.items())
        return f"{type(self).__name__}(K={self.n_classes}, random_state={self.random_state}" + (
            f", {params})" if params else ")"
        )
