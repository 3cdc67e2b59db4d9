"""Shared plumbing for labelwise's learners (``BaseLearner``).

The capability names and the ``Learner`` protocol live in ``labelwise.protocol`` (a module that
strategies import too); they are re-exported here for compatibility.
"""

from __future__ import annotations

import importlib.util
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


#: learner classes that need PyTorch -> (registered name, the pip extra that brings it); filled
#: by ``register_learner(..., extra=...)``, checked when a learner is built (subclasses included)
TORCH_EXTRAS: dict[type, tuple[str, str]] = {}


def check_torch_available(cls: type) -> None:
    """Raise a one-line LabelwiseError if ``cls`` (or a class it derives from) needs PyTorch and
    torch is not installed, naming the pip extra to install."""
    for klass in cls.__mro__:
        if klass in TORCH_EXTRAS:
            if importlib.util.find_spec("torch") is None:
                name, extra = TORCH_EXTRAS[klass]
                raise LabelwiseError(
                    f"learner {name!r} needs PyTorch: pip install \"labelwise[{extra}]\""
                )
            return


class BaseLearner:
    """Shared plumbing: declared classes, label encoding, input checks and cloning.

    Subclasses implement ``_fit(X, y_idx)`` and ``_predict_proba(X) -> (n, K)``, and ``_embed(X)``
    if they list ``"embedding"`` in ``capabilities``. ``y_idx`` holds indices into ``classes_``.

    Every learner is also a scikit-learn classifier: ``get_params``/``set_params`` (the params
    are ``classes``, ``random_state`` and the learner's own parameters, kept in ``self.params``
    exactly as the constructor stored them), ``score`` (accuracy) and ``__sklearn_tags__``, so
    ``sklearn.base.clone`` and ``cross_val_score`` accept it. It follows scikit-learn's estimator
    protocol without inheriting ``BaseEstimator``, so that importing labelwise does not import
    scikit-learn (about a second); subclasses' constructors must store each parameter unchanged.

    Args:
        classes: the declared classes (a sequence of labels), or an int K meaning ``range(K)``.
        random_state: seed for everything random in training.
    """

    capabilities: frozenset[str] = frozenset({PROBA})
    #: scikit-learn < 1.6 reads the estimator type from this attribute, later ones from the tags
    _estimator_type = "classifier"
    #: the fewest distinct classes the labeled set must hold
    min_classes: int = 2
    #: whether :meth:`warm_fit` can start from last round's model (a class attribute; a
    #: learner whose answer depends on its parameters overrides :meth:`can_warm_start`)
    warm_starts: bool = False

    def __init__(self, classes, random_state: int | None = None, **params: Any):
        check_torch_available(type(self))
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
        """An unfitted copy with the same classes, seed and parameters (values shared, not
        copied; ``sklearn.base.clone`` deep-copies them)."""
        return type(self)(**self.get_params(deep=False))

    # ---- scikit-learn's estimator protocol ------------------------------------------------

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        """``classes``, ``random_state`` and the learner's parameters; with ``deep``, also
        ``name__sub`` for the parameters of a parameter that is itself an estimator."""
        out = {"classes": self.classes_, "random_state": self.random_state, **self.params}
        if deep:
            for name, value in list(out.items()):
                if hasattr(value, "get_params") and not isinstance(value, type):
                    out.update({f"{name}__{k}": v for k, v in value.get_params(deep=True).items()})
        return out

    def set_params(self, **params: Any) -> BaseLearner:
        """Change parameters (``name`` or ``name__sub`` for a nested estimator) and rerun the
        constructor's checks; a fitted learner becomes unfitted."""
        if not params:
            return self
        current = self.get_params(deep=False)
        nested: dict[str, dict[str, Any]] = {}
        for key, value in params.items():
            name, sep, sub = key.partition("__")
            if name not in current:
                raise LabelwiseError(
                    f"{type(self).__name__} has no parameter {name!r}; its parameters: "
                    + ", ".join(current)
                )
            if sep:
                nested.setdefault(name, {})[sub] = value
            else:
                current[name] = value
        for name, sub in nested.items():
            current[name].set_params(**sub)
        fresh = type(self)(**current)
        self.__dict__.clear()
        self.__dict__.update(fresh.__dict__)
        return self

    def score(self, X, y, sample_weight=None) -> float:
        """Accuracy of ``predict(X)`` against labels y (n,), optionally weighted."""
        return float(np.average(self.predict(X) == np.asarray(y), weights=sample_weight))

    def __sklearn_is_fitted__(self) -> bool:
        return self.fitted_

    def __sklearn_tags__(self):
        """scikit-learn (>= 1.6) tags: a classifier that needs y."""
        from sklearn.utils import ClassifierTags, Tags, TargetTags

        return Tags(estimator_type="classifier", target_tags=TargetTags(required=True),
                    transformer_tags=None, classifier_tags=ClassifierTags(),
                    regressor_tags=None)

    def encode(self, y) -> np.ndarray:
        """Map labels (values of ``classes_``) to column indices, rejecting unknown labels."""
        y = check_labels(y, self.classes_)
        lookup = {c: i for i, c in enumerate(self.classes_.tolist())}
        return np.fromiter((lookup[v] for v in y.tolist()), dtype=np.int64, count=len(y))

    def fit(self, X, y) -> BaseLearner:
        """Fit on labeled features X (n, d) and labels y (n,) drawn from ``classes_``."""
        X, y_idx = self._check_fit_input(X, y)
        self._fit(X, y_idx)
        self.fitted_ = True
        return self

    def can_warm_start(self) -> bool:
        """Whether :meth:`warm_fit` can start from a previous model (default: ``warm_starts``)."""
        return self.warm_starts

    def warm_fit(self, X, y, previous=None) -> BaseLearner:
        """Fit like :meth:`fit` on X (n, d) and y (n,), starting from ``previous`` (last round's
        fitted model, same type) rather than from scratch: what ``ActiveLearner(...,
        warm_start=True)`` calls. Where ``previous`` cannot serve as the start (None, unfitted,
        another type, other features or declared classes, or a state the learner cannot
        continue, e.g. logistic regression whose labels now hold another set of classes) this
        is a plain fit, and ``warm_start_note_`` says why. ``warm_started_`` tells which.
        The result then depends on the earlier rounds' models, not only on the labels and seed.

        Raises:
            LabelwiseError: the learner cannot warm-start (:meth:`can_warm_start` is False).
        """
        if not self.can_warm_start():
            # the list of learners that can is the registry's (labelwise.learners imports this
            # module, so the full message, warm_start_refusal, lives there)
            raise LabelwiseError(f"learner {type(self).__name__} cannot warm-start; leave warm "
                                 "start off (`labelwise learners` shows which learners can)")
        X, y_idx = self._check_fit_input(X, y)
        note = warm_start_obstacle(self, previous)
        if note is None:
            note = self._warm_fit(X, y_idx, previous)
        else:
            self._fit(X, y_idx)
        self.warm_started_ = note is None
        self.warm_start_note_ = note
        self.fitted_ = True
        return self

    def _warm_fit(self, X: np.ndarray, y_idx: np.ndarray, previous: BaseLearner) -> str | None:
        """Fit starting from ``previous``'s state (learners with ``warm_starts`` override);
        return None, or a one-line reason why it fitted from scratch after all."""
        self._fit(X, y_idx)
        return f"{type(self).__name__} has no warm start of its own"

    def _check_fit_input(self, X, y) -> tuple[np.ndarray, np.ndarray]:
        """(X, y as indices into ``classes_``) checked for a fit; sets ``n_features_``."""
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
        return X, y_idx

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


def warm_start_obstacle(learner: BaseLearner, previous) -> str | None:
    """Why ``previous`` cannot be the start of ``learner``'s warm fit (one line), or None.

    ``learner`` has checked its fit input already (``n_features_`` is set)."""
    if previous is None:
        return "no previous model"
    if type(previous) is not type(learner):
        return f"the previous model is a {type(previous).__name__}"
    if not getattr(previous, "fitted_", False):
        return "the previous model is not fitted"
    if getattr(previous, "n_features_", None) != learner.n_features_:
        return (f"the features changed ({learner.n_features_} columns; the previous model had "
                f"{getattr(previous, 'n_features_', None)})")
    if not np.array_equal(previous.classes_, learner.classes_):
        return "the declared classes changed"
    return None
