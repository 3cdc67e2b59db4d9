"""Shared plumbing for labelwise's learners (``BaseLearner``).

The capability names and the ``Learner`` protocol live in ``labelwise.protocol`` (a module that
strategies import too); they are re-exported here for compatibility.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from labelwise.protocol import (
    CAPABILITIES,
    CONTRASTIVE,
    EMA,
    EMBEDDING,
    LOSS_PREDICTION,
    PROBA,
    PSEUDO_LABEL_FT,
    SAMPLES,
    Learner,
)
from labelwise.validation import (
    LabelwiseError,
    check_features,
    check_labels,
    check_same_length,
)

__all__ = [
    "CAPABILITIES", "CONTRASTIVE", "EMA", "EMBEDDING", "LOSS_PREDICTION", "PROBA",
    "PSEUDO_LABEL_FT", "SAMPLES", "BaseLearner", "Learner",
]


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
