"""scikit-learn classifiers behind the learner protocol: logistic regression, the SVM of
Aggarwal et al. 2022, and any scikit-learn classifier (``SklearnClassifierLearner``).

Their "embedding" is the input features themselves: on frozen pretrained features the
representation a diversity strategy such as Coreset works on is the encoder's output.
"""

from __future__ import annotations

import warnings

import numpy as np

from labelwise.learners.base import EMBEDDING, PROBA, BaseLearner
from labelwise.validation import LabelwiseError


def as_float64(X: np.ndarray) -> np.ndarray:
    """The LABELED rows X (m, d) in float64, at fit time only: in float32, L-BFGS's sums over the
    rows round differently when the labeled rows come in another order, and the fitted
    probabilities (hence the picks) moved by up to 4e-4 on 300 digits; in float64 by 1e-12.
    Predictions read the pool in its own dtype (no float64 copy of the candidates)."""
    return np.asarray(X, dtype=np.float64)


#: names of the ways a fitted model's outputs become probabilities (``proba_mapping_``)
PROBA_MAPPINGS = ("predict_proba", "softmax", "platt")


class SklearnLearner(BaseLearner):
    """Base adapter: fits ``self._make_estimator(X, y_idx)`` and pads absent classes with zeros.

    ``proba_mapping_`` (set by ``fit``) names how the probabilities come from the estimator:
    ``"predict_proba"`` (its own), ``"softmax"`` (the softmax of its decision values) or
    ``"platt"`` (Platt scaling of an SVM); :meth:`predict_proba_as` gives them under another.
    """

    capabilities = frozenset({PROBA, EMBEDDING})
    #: the mapping of ``predict_proba`` for this learner's estimator
    native_mapping = "predict_proba"

    def _make_estimator(self, X, y_idx):
        raise NotImplementedError

    def _fit(self, X, y_idx):
        X = as_float64(X)
        self.proba_mapping_ = self.native_mapping  # _make_estimator may change it (SVM)
        self.estimator_ = self._make_estimator(X, y_idx)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # convergence chatter on tiny labeled sets
            self.estimator_.fit(X, y_idx)

    def _warm_fit(self, X, y_idx, previous):
        # the previous estimator is a start only for the same classes: its coefficients (or
        # partial_fit state) have one row per class it saw, and a new class has none
        prev = getattr(previous, "estimator_", None)
        if prev is None or not np.array_equal(getattr(prev, "classes_", ()), np.unique(y_idx)):
            self._fit(X, y_idx)
            return ("the labels hold other classes than the previous model saw (its "
                    "coefficients have one row per class)")
        X = as_float64(X)
        self.proba_mapping_ = self.native_mapping
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            self.estimator_ = self._continue(prev, X, y_idx)
        return None

    def _continue(self, prev, X, y_idx):
        """A new estimator fitted on (X, y_idx) from ``prev``'s state (warm-starting learners)."""
        raise NotImplementedError

    def _predict_proba(self, X):
        # X in the pool's dtype: scikit-learn casts what it needs itself, and the context feeds
        # blocks of rows, so a cast never copies more than a block
        p = np.zeros((len(X), self.n_classes), dtype=np.float64)
        # columns of the classes the estimator saw (indices into classes_; see wrap_fitted)
        cols = getattr(self, "columns_", None)
        p[:, self.estimator_.classes_ if cols is None else cols] = self.estimator_.predict_proba(X)
        return p

    def _softmax_of_decisions(self, X) -> np.ndarray:
        """(n, K) softmax of the estimator's decision values, absent classes 0."""
        from scipy.special import softmax

        present = self.estimator_.classes_
        z = self._decision_values(X)
        if len(present) == 2:  # one decision value: the second class's side; softmax = sigmoid
            z = np.stack([-z, z], axis=1) / 2.0
        p = np.zeros((len(X), self.n_classes), dtype=np.float64)
        p[:, present] = softmax(z, axis=1)
        return p

    def _decision_values(self, X) -> np.ndarray:
        """The estimator's decision values on X (n, d), (n,) or (n, K'), as float64."""
        return np.asarray(self.estimator_.decision_function(X), dtype=np.float64)

    def predict_proba_as(self, X, mapping: str) -> np.ndarray:
        """Class probabilities (n, K) for pool features X (n, d) under a named ``mapping``.

        ``mapping`` is the learner's own ``proba_mapping_`` (then this is ``predict_proba``) or
        ``"softmax"``, the softmax of the decision values, which every fitted estimator with a
        ``decision_function`` gives (the SVM, logistic regression). Two rounds' models whose
        mappings differ are compared on that scale: alamp (Aggarwal et al. 2022
        divides margins of the previous and the current model, and the SVM switches from softmax
        to Platt scaling once every class has 5 labels, while the previous model has no Platt fit.

        Raises:
            LabelwiseError: an unknown mapping, ``"platt"`` on a model fitted without Platt
                scaling, or ``"softmax"`` on an estimator without ``decision_function``.
        """
        if mapping not in PROBA_MAPPINGS:
            raise LabelwiseError(f"unknown probability mapping {mapping!r}; choose one of: "
                                 + ", ".join(PROBA_MAPPINGS))
        X = self._check_predict_input(X)
        if mapping == self.proba_mapping_:
            return self._predict_proba(X)
        if mapping == "softmax" and hasattr(self.estimator_, "decision_function"):
            return self._softmax_of_decisions(X)
        raise LabelwiseError(f"{type(self).__name__} was fitted with {self.proba_mapping_!r} "
                             f"probabilities and cannot give {mapping!r} ones")

    def _embed(self, X):
        return X


class LogisticRegressionLearner(SklearnLearner):
    """Multinomial logistic regression (L2, ``C``), the default learner; its probabilities are
    the softmax of its decision values.

    Args:
        C: inverse regularisation strength.
        max_iter: L-BFGS iterations.
        class_weight: ``None`` or ``"balanced"``.
    """

    native_mapping = "softmax"
    warm_starts = True

    def __init__(self, classes, random_state=None, C: float = 1.0, max_iter: int = 500,
                 class_weight=None):
        super().__init__(classes, random_state, C=C, max_iter=max_iter, class_weight=class_weight)

    def _make_estimator(self, X, y_idx):
        from sklearn.linear_model import LogisticRegression

        return LogisticRegression(
            C=self.params["C"], max_iter=self.params["max_iter"],
            class_weight=self.params["class_weight"], random_state=self.random_state,
        )

    def _continue(self, prev, X, y_idx):
        # scikit-learn's warm_start: L-BFGS starts from the coefficients set here (last round's)
        est = self._make_estimator(X, y_idx).set_params(warm_start=True)
        est.coef_, est.intercept_ = prev.coef_.copy(), prev.intercept_.copy()
        return est.fit(X, y_idx)

    # fitted in float64 (the labeled rows), predicted in the pool's dtype: a float32 pool meets
    # float32 coefficients, so no block is cast to float64 (numpy would upcast it); the cast is
    # K x d, nothing beside a block of rows
    @property
    def coef32_(self) -> np.ndarray:
        return self.estimator_.coef_.astype(np.float32)

    @property
    def intercept32_(self) -> np.ndarray:
        return self.estimator_.intercept_.astype(np.float32)

    def _decision_values(self, X) -> np.ndarray:
        if X.dtype != np.float32:
            return super()._decision_values(X)
        z = (X @ self.coef32_.T).astype(np.float64)
        z += self.intercept32_
        return z[:, 0] if z.shape[1] == 1 else z

    def _predict_proba(self, X):
        # the softmax of the decision values, what LogisticRegression.predict_proba gives for
        # lbfgs (multinomial; the sigmoid for two classes)
        return self._softmax_of_decisions(X)


class SVMLearner(SklearnLearner):
    """RBF support-vector machine with probability outputs, the shallow classifier on frozen
    features of Aggarwal et al. 2022.

    ``C`` is chosen by 3-fold stratified cross-validation on the labeled set over ``C_grid`` when
    every present class has at least 3 examples; otherwise ``C``. ``probability`` picks how the
    decision values become probabilities (recorded as ``proba_mapping_`` at each fit):

    * ``"auto"``: Platt scaling (scikit-learn's internal 5-fold fit) once every present class has
      at least ``PLATT_MIN`` = 5 examples; below that, Platt's folds hold one example or none of
      a class and its argmax falls below chance (0.08 on 10-class Fashion-MNIST with 10 labels),
      so the softmax of the one-vs-rest decision values, whose argmax is the SVM's prediction
      (the paper uses scikit-learn's SVC with default parameters, i.e. decisions).
    * ``"platt"``: always Platt scaling; ``"softmax"``: always the softmax.

    With ``"auto"``, the round where Platt starts compares a softmax model with a Platt one in
    alamp; :meth:`predict_proba_as` gives both on the softmax scale.

    Args:
        C: the fallback regularisation strength.
        C_grid: candidates for cross-validation; empty to always use ``C``.
        class_weight: ``None`` or ``"balanced"`` (for imbalanced data).
        probability: ``"auto"``, ``"platt"`` or ``"softmax"``.
    """

    PLATT_MIN = 5
    PROBABILITIES = ("auto", "platt", "softmax")

    def __init__(self, classes, random_state=None, C: float = 1.0,
                 C_grid: tuple = (0.1, 1.0, 10.0, 100.0), class_weight=None,
                 probability: str = "auto"):
        if probability not in self.PROBABILITIES:
            raise LabelwiseError(f"probability must be one of {', '.join(self.PROBABILITIES)}; "
                                 f"got {probability!r}")
        super().__init__(classes, random_state, C=C, C_grid=tuple(C_grid),
                         class_weight=class_weight, probability=probability)

    def _make_estimator(self, X, y_idx):
        from sklearn.svm import SVC

        C = self.params["C"]
        counts = np.bincount(y_idx)
        fewest = counts[counts > 0].min()
        if self.params["C_grid"] and fewest >= 3:
            C = self._cross_validated_C(X, y_idx)
        self.C_ = C
        mode = self.params["probability"]
        self.platt_ = bool(fewest >= self.PLATT_MIN) if mode == "auto" else mode == "platt"
        self.proba_mapping_ = "platt" if self.platt_ else "softmax"
        # break_ties: predict() then agrees with the argmax of the decision values
        return SVC(C=C, probability=self.platt_, break_ties=not self.platt_,
                   class_weight=self.params["class_weight"], random_state=self.random_state)

    def _predict_proba(self, X):
        if self.platt_:
            return super()._predict_proba(X)
        return self._softmax_of_decisions(X)

    def _cross_validated_C(self, X, y_idx) -> float:
        from sklearn.model_selection import GridSearchCV, StratifiedKFold
        from sklearn.svm import SVC

        search = GridSearchCV(
            SVC(class_weight=self.params["class_weight"]),
            {"C": list(self.params["C_grid"])},
            cv=StratifiedKFold(3, shuffle=True, random_state=self.random_state),
        )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            search.fit(X, y_idx)
        return float(search.best_params_["C"])


class SklearnClassifierLearner(SklearnLearner):
    """Any scikit-learn classifier (an object with ``fit`` and ``predict_proba``) as a learner.

    Each fit clones ``estimator`` (``sklearn.base.clone``) and fits the copy on the labeled set
    with labels encoded as column indices of ``classes_``; classes absent from the labeled set get
    probability 0. Every ``random_state`` parameter of the estimator left at ``None`` (also inside
    a Pipeline) is set to the learner's ``random_state``, so runs are seeded. Capabilities:
    probabilities, and the input features as the embedding.

    Args:
        classes: the declared classes (labels, or an int K).
        random_state: seed given to the estimator where it has one left unset.
        estimator: an unfitted (or fitted: it is cloned) scikit-learn classifier, e.g.
            ``RandomForestClassifier()``, ``KNeighborsClassifier()`` or a ``Pipeline``.
    """

    def __init__(self, classes, random_state=None, estimator=None):
        check_classifier(estimator)
        super().__init__(classes, random_state, estimator=estimator)

    def can_warm_start(self) -> bool:
        """True for an estimator with ``partial_fit``: warm start continues it on the labels."""
        return callable(getattr(self.params["estimator"], "partial_fit", None))

    def _continue(self, prev, X, y_idx):
        # partial_fit on a copy: last round's model stays as it was (alamp compares the two)
        import copy

        try:
            return copy.deepcopy(prev).partial_fit(X, y_idx)
        except ValueError as exc:
            raise LabelwiseError(f"{self._name()} could not continue on the labeled set: "
                                 f"{_first_line(exc)}") from None

    def _make_estimator(self, X, y_idx):
        from sklearn.base import clone

        est = clone(self.params["estimator"])
        if self.random_state is not None:
            unset = {k: self.random_state for k, v in est.get_params(deep=True).items()
                     if (k == "random_state" or k.endswith("__random_state")) and v is None}
            est.set_params(**unset)
        return est

    def _fit(self, X, y_idx):
        try:
            super()._fit(X, y_idx)
        except ValueError as exc:
            raise LabelwiseError(f"{self._name()} could not fit the labeled set: "
                                 f"{_first_line(exc)}") from None

    def _predict_proba(self, X):
        try:
            return super()._predict_proba(X)
        except ValueError as exc:
            raise LabelwiseError(f"{self._name()} could not predict: {_first_line(exc)}") from None

    def _name(self) -> str:
        return type(self.params["estimator"]).__name__

    def __repr__(self) -> str:
        return (f"{type(self).__name__}(K={self.n_classes}, random_state={self.random_state}, "
                f"estimator={self.params['estimator']!r})")


def check_classifier(estimator) -> None:
    """Raise a one-line LabelwiseError unless ``estimator`` is an instance with ``fit`` and
    ``predict_proba`` (a scikit-learn classifier that gives probabilities)."""
    if isinstance(estimator, type):
        raise LabelwiseError(f"pass an instance, e.g. {estimator.__name__}(), not the class")
    missing = [m for m in ("fit", "predict_proba") if not callable(getattr(estimator, m, None))]
    if missing:
        hint = " (SVC needs probability=True)" if type(estimator).__name__ == "SVC" else ""
        raise LabelwiseError(
            f"{type(estimator).__name__} cannot be a learner: it has no "
            f"{' and no '.join(missing)}{hint}; pass a learner name, a labelwise learner or a "
            "scikit-learn classifier with fit and predict_proba"
        )


def _first_line(exc: Exception) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
