"""The scikit-learn learners (logreg, svm) and scikit-learn's estimator protocol on every learner:
get_params/set_params, sklearn.base.clone and cross_val_score."""

import numpy as np
import pytest

from labelwise.learners import EMBEDDING, PROBA, as_learner, make_learner
from labelwise.validation import LabelwiseError


@pytest.fixture(scope="module")
def blobs(make_blobs):
    """Three separated 2-D Gaussian classes, 90 points."""
    return make_blobs(((0.0, 0.0), (4.0, 0.0), (0.0, 4.0)), 90, 0.8, labels="block")


# ---- scikit-learn's estimator protocol --------------------------------------------------------

def test_get_params_lists_classes_seed_and_the_learners_own_parameters():
    learner = make_learner("logreg", ["a", "b"], random_state=3, C=0.5)
    params = learner.get_params()
    assert set(params) == {"classes", "random_state", "C", "max_iter", "class_weight"}
    assert params["classes"].tolist() == ["a", "b"]
    assert (params["random_state"], params["C"], params["max_iter"]) == (3, 0.5, 500)


@pytest.mark.parametrize("name", ["logreg", "svm"])
def test_sklearn_clone_gives_an_unfitted_equal_copy(blobs, name):
    from sklearn.base import clone, is_classifier

    X, y = blobs
    learner = make_learner(name, 3, random_state=0, C=2.0).fit(X, y)
    copy = clone(learner)
    assert type(copy) is type(learner) and not copy.fitted_
    assert copy.get_params().keys() == learner.get_params().keys()
    assert copy.params == learner.params and copy.random_state == 0
    assert is_classifier(copy)
    np.testing.assert_allclose(copy.fit(X, y).predict_proba(X), learner.predict_proba(X))
    assert learner.clone().params == learner.params  # labelwise's own clone still works


@pytest.mark.parametrize("name", ["logreg", "svm"])
def test_cross_val_score_with_stratified_folds(blobs, name):
    from sklearn.model_selection import StratifiedKFold, cross_val_score

    X, y = blobs
    learner = make_learner(name, 3, random_state=0)
    scores = cross_val_score(learner, X, y, cv=StratifiedKFold(3, shuffle=True, random_state=0))
    assert scores.shape == (3,) and scores.min() > 0.85  # the blobs are nearly separable
    assert not learner.fitted_  # cross_val_score fits clones


def test_set_params_reruns_the_checks_and_unfits(blobs):
    X, y = blobs
    learner = make_learner("svm", 3, random_state=0).fit(X, y)
    assert learner.set_params(C=5.0, random_state=7) is learner
    assert learner.params["C"] == 5.0 and learner.random_state == 7 and not learner.fitted_
    with pytest.raises(LabelwiseError, match="no parameter 'gamma'.*C_grid"):
        learner.set_params(gamma=1.0)
    with pytest.raises(LabelwiseError, match="at least 2 declared classes"):
        learner.set_params(classes=1)


def test_score_is_accuracy(blobs):
    X, y = blobs
    learner = make_learner("logreg", 3, random_state=0).fit(X, y)
    right = learner.predict(X) == y
    assert learner.score(X, y) == right.mean()
    w = np.arange(90.0)
    assert learner.score(X, y, sample_weight=w) == pytest.approx((w * right).sum() / w.sum())


def test_a_torch_learner_clones_and_cross_validates(blobs):
    pytest.importorskip("torch")
    from sklearn.base import clone
    from sklearn.model_selection import StratifiedKFold, cross_val_score

    X, y = blobs
    learner = make_learner("mlp", 3, random_state=0, hidden=16, lr=0.01, max_epochs=30,
                           device="cpu")
    copy = clone(learner)
    assert copy.params == learner.params
    scores = cross_val_score(copy, X, y, cv=StratifiedKFold(3, shuffle=True, random_state=0))
    assert scores.min() > 0.8


# ---- float64 fits -------------------------------------------------------------------------------

@pytest.mark.parametrize("model", ["logreg", "wrapped"])
def test_the_order_of_the_labeled_rows_does_not_change_the_model_on_float32_input(digits, model):
    """float32 features made L-BFGS's sums, hence the probabilities and the picks, depend on the
    row order (4e-4 apart on these 300 rows); the sklearn learners fit in float64."""
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(0)
    idx = rng.choice(len(digits.X_train), 300, replace=False)
    X, y = digits.X_train[idx].astype(np.float32), digits.y_train[idx]
    perm = rng.permutation(300)
    pool = digits.X_test.astype(np.float32)

    def build():
        if model == "logreg":
            return make_learner("logreg", 10, random_state=0)
        return as_learner(LogisticRegression(max_iter=500), 10, random_state=0)

    a = build().fit(X, y).predict_proba(pool)
    b = build().fit(X[perm], y[perm]).predict_proba(pool)
    assert a.dtype == np.float64
    np.testing.assert_allclose(a, b, rtol=0, atol=1e-10)


@pytest.mark.parametrize("n_classes", [2, 3])
def test_logreg_predicts_a_float32_pool_with_float32_coefficients(blobs, n_classes, monkeypatch):
    """No float64 copy of the pool: a float32 block meets float32 coefficients (scikit-learn's
    decision_function, which numpy would upcast, is never called), and the probabilities are
    LogisticRegression.predict_proba's within the documented 1e-5."""
    X, y = blobs
    keep = y < n_classes
    X, y = X[keep], y[keep]
    model = make_learner("logreg", 3, random_state=0).fit(X, y)
    want = model.estimator_.predict_proba(X)  # float64 features: scikit-learn's own answer
    X32 = X.astype(np.float32)

    def refuse(_):
        raise AssertionError("decision_function on a float32 pool casts it to float64")

    monkeypatch.setattr(model.estimator_, "decision_function", refuse)
    got = model.predict_proba(X32)
    assert got.dtype == np.float64 and got.shape == (len(X), 3)
    np.testing.assert_allclose(got[:, :n_classes], want, rtol=0, atol=1e-5)
    assert np.all(got[:, n_classes:] == 0)  # a class never labeled: probability 0
    assert model.coef32_.dtype == np.float32


# ---- the SVM ----------------------------------------------------------------------------------

def test_svm_learner_pads_absent_classes(digits):
    keep = np.flatnonzero(digits.y_train < 3)[:30]
    learner = make_learner("svm", 10, random_state=0).fit(digits.X_train[keep],
                                                           digits.y_train[keep])
    p = learner.predict_proba(digits.X_test[:4])
    assert p.shape == (4, 10)
    np.testing.assert_allclose(p.sum(1), 1.0)
    assert (p[:, 3:] == 0).all()


@pytest.mark.parametrize("per_class, platt", [(1, False), (2, False), (6, True)])
def test_svm_probabilities_follow_its_decisions_on_tiny_labeled_sets(digits, per_class, platt):
    """Below 5 examples per class Platt scaling has no data; the softmax of the decision values
    keeps argmax(p) = the SVM's prediction (Platt's argmax was below chance on 1 per class)."""
    rng = np.random.default_rng(0)
    idx = np.concatenate([rng.choice(np.flatnonzero(digits.y_train == c), per_class,
                                     replace=False) for c in range(10)])
    learner = make_learner("svm", 10, random_state=0).fit(digits.X_train[idx],
                                                           digits.y_train[idx])
    assert learner.platt_ is platt
    p = learner.predict_proba(digits.X_test)
    np.testing.assert_allclose(p.sum(1), 1.0)
    if not platt:
        assert (p.argmax(1) == learner.estimator_.predict(digits.X_test)).all()
    assert (p.argmax(1) == digits.y_test).mean() > 0.5
    # two classes: the single decision value becomes a sigmoid
    two = idx[digits.y_train[idx] < 2]
    p2 = make_learner("svm", 10, random_state=0).fit(digits.X_train[two],
                                                     digits.y_train[two]).predict_proba(
        digits.X_test[:5])
    np.testing.assert_allclose(p2[:, :2].sum(1), 1.0)


# ---- any scikit-learn classifier: SklearnClassifierLearner and as_learner ---------------------

def test_wrapped_knn_pads_absent_classes_with_hand_computed_probabilities():
    from sklearn.neighbors import KNeighborsClassifier

    X = np.array([[0.0], [1.0], [2.0], [10.0], [11.0], [12.0]])
    y = np.array(["a", "a", "b", "c", "c", "c"])
    learner = as_learner(KNeighborsClassifier(n_neighbors=3), ["a", "b", "c", "d"]).fit(X, y)
    assert learner.capabilities == {PROBA, EMBEDDING}
    # neighbours of 1.4: 1, 2, 0 -> a, b, a; of 10.6: 11, 10, 12 -> c, c, c; "d" never labeled
    p = learner.predict_proba(np.array([[1.4], [10.6]]))
    np.testing.assert_allclose(p, [[2 / 3, 1 / 3, 0, 0], [0, 0, 1, 0]])
    assert learner.predict(np.array([[1.4]])).tolist() == ["a"]
    np.testing.assert_array_equal(learner.embed(X), X)


def test_the_wrapper_clones_the_estimator_and_seeds_unset_random_states(blobs):
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    X, y = blobs
    forest = RandomForestClassifier(n_estimators=5)
    a = as_learner(forest, 3, random_state=4).fit(X, y)
    b = as_learner(forest, 3, random_state=4).fit(X, y)
    assert a.estimator_ is not forest and not hasattr(forest, "estimators_")
    assert a.estimator_.random_state == 4 and forest.random_state is None
    np.testing.assert_array_equal(a.predict_proba(X), b.predict_proba(X))
    own = as_learner(RandomForestClassifier(n_estimators=5, random_state=9), 3, random_state=4)
    assert own.fit(X, y).estimator_.random_state == 9  # the user's seed stays
    pipe = as_learner(make_pipeline(StandardScaler(), LogisticRegression()), 3, random_state=2)
    assert pipe.fit(X, y).estimator_[-1].random_state == 2
    assert pipe.score(X, y) > 0.9


def test_the_wrapper_follows_sklearns_estimator_protocol(blobs):
    from sklearn.base import clone
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.model_selection import StratifiedKFold, cross_val_score

    X, y = blobs
    learner = as_learner(RandomForestClassifier(), 3, random_state=0, n_estimators=7)
    assert learner.get_params()["estimator__n_estimators"] == 7
    learner.set_params(estimator__n_estimators=3)
    assert learner.params["estimator"].n_estimators == 3
    copy = clone(learner)
    assert copy.params["estimator"] is not learner.params["estimator"]
    assert copy.params["estimator"].n_estimators == 3
    scores = cross_val_score(copy, X, y, cv=StratifiedKFold(3, shuffle=True, random_state=0))
    assert scores.min() > 0.8


def test_as_learner_builds_names_and_returns_learners_with_the_same_classes():
    logreg = as_learner("logreg", ["x", "y"], random_state=1, C=0.3)
    assert type(logreg).__name__ == "LogisticRegressionLearner"
    assert (logreg.params["C"], logreg.random_state) == (0.3, 1)
    assert as_learner(logreg, ["x", "y"]) is logreg
    assert as_learner(logreg, None) is logreg
    with pytest.raises(LabelwiseError, match=r"classes \['x', 'y'\] differ.*\['x', 'z'\]"):
        as_learner(logreg, ["x", "z"])
    with pytest.raises(LabelwiseError, match="learner parameters \\(C\\) apply"):
        as_learner(logreg, ["x", "y"], C=2.0)
    with pytest.raises(LabelwiseError, match="unknown learner 'forest'"):
        as_learner("forest", 2)
    with pytest.raises(LabelwiseError, match="bad parameters for learner 'logreg'"):
        as_learner("logreg", 2, depth=3)


def test_as_learner_names_what_an_object_lacks():
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.linear_model import LinearRegression
    from sklearn.svm import SVC

    with pytest.raises(LabelwiseError, match="LinearRegression cannot be a learner: it has no "
                                             "predict_proba;"):
        as_learner(LinearRegression(), 2)
    with pytest.raises(LabelwiseError, match="no predict_proba \\(SVC needs probability=True\\)"):
        as_learner(SVC(), 2)
    with pytest.raises(LabelwiseError, match="object cannot be a learner: it has no fit and no "
                                             "predict_proba"):
        as_learner(object(), 2)
    with pytest.raises(LabelwiseError, match="pass an instance, e.g. RandomForestClassifier\\(\\)"):
        as_learner(RandomForestClassifier, 2)
    with pytest.raises(LabelwiseError, match="bad parameters for RandomForestClassifier"):
        as_learner(RandomForestClassifier(), 2, depth=3)
    assert as_learner(SVC(probability=True), 2).capabilities == {PROBA, EMBEDDING}


def test_a_wrapped_estimators_own_error_is_one_line():
    from sklearn.neighbors import KNeighborsClassifier

    learner = as_learner(KNeighborsClassifier(n_neighbors=5), 2)
    learner.fit(np.array([[0.0], [1.0], [5.0]]), [0, 0, 1])
    with pytest.raises(LabelwiseError, match="^KNeighborsClassifier could not predict: "
                                             "Expected n_neighbors <= n_samples_fit") as info:
        learner.predict_proba(np.array([[0.5]]))
    assert "\n" not in str(info.value)


def _per_class(y, n, seed=0):
    rng = np.random.default_rng(seed)
    return np.concatenate([rng.choice(np.flatnonzero(y == c), n, replace=False)
                           for c in np.unique(y)])


@pytest.mark.parametrize("probability, per_class, mapping", [
    ("auto", 2, "softmax"), ("auto", 5, "platt"), ("softmax", 6, "softmax"),
    ("platt", 3, "platt")])
def test_svm_probability_choice_is_recorded(digits, probability, per_class, mapping):
    idx = _per_class(digits.y_train, per_class)
    learner = make_learner("svm", 10, random_state=0, probability=probability)
    learner.fit(digits.X_train[idx], digits.y_train[idx])
    assert learner.proba_mapping_ == mapping and learner.platt_ is (mapping == "platt")
    p = learner.predict_proba(digits.X_test[:50])
    np.testing.assert_allclose(p.sum(1), 1.0)
    if mapping == "softmax":
        assert (p.argmax(1) == learner.estimator_.predict(digits.X_test[:50])).all()
    with pytest.raises(LabelwiseError, match="probability must be one of auto, platt, softmax"):
        make_learner("svm", 10, probability="isotonic")


def test_predict_proba_as_softmax_is_the_softmax_of_the_decision_values(digits):
    from scipy.special import softmax
    from sklearn.neighbors import KNeighborsClassifier

    idx = _per_class(digits.y_train, 6)
    X, y, pool = digits.X_train[idx], digits.y_train[idx], digits.X_test[:40]
    svm = make_learner("svm", 10, random_state=0).fit(X, y)
    assert svm.proba_mapping_ == "platt"
    by_hand = softmax(svm.estimator_.decision_function(pool), axis=1)
    np.testing.assert_allclose(svm.predict_proba_as(pool, "softmax"), by_hand, atol=1e-12)
    np.testing.assert_array_equal(svm.predict_proba_as(pool, "platt"), svm.predict_proba(pool))
    assert np.abs(by_hand - svm.predict_proba(pool)).max() > 0.1  # two different scales
    # logistic regression's own probabilities are that softmax (binary: the sigmoid)
    for keep in (y < 10, y < 2):
        lr = make_learner("logreg", 10, random_state=0).fit(X[keep], y[keep])
        assert lr.proba_mapping_ == "softmax"
        np.testing.assert_allclose(lr.predict_proba_as(pool, "softmax"), lr.predict_proba(pool),
                                   atol=1e-12)
        forest = as_learner(KNeighborsClassifier(1), 10).fit(X[keep], y[keep])
        with pytest.raises(LabelwiseError, match="fitted with 'predict_proba' probabilities and "
                                                 "cannot give 'softmax' ones"):
            forest.predict_proba_as(pool, "softmax")
    soft = make_learner("svm", 10, random_state=0, probability="softmax").fit(X, y)
    with pytest.raises(LabelwiseError, match="'softmax' probabilities and cannot give 'platt'"):
        soft.predict_proba_as(pool, "platt")
    with pytest.raises(LabelwiseError, match="unknown probability mapping 'isotonic'"):
        soft.predict_proba_as(pool, "isotonic")


def test_alamp_of_a_model_against_itself_is_zero_only_on_one_scale(digits):
    """alamp divides margins of two rounds' models; on the round where the SVM starts Platt
    scaling, the shared mapping puts both on the softmax scale."""
    from labelwise.protocol import shared_proba_mapping
    from labelwise.strategies.scores import alamp

    idx = _per_class(digits.y_train, 5)
    X, y, pool = digits.X_train[idx], digits.y_train[idx], digits.X_test
    platt = make_learner("svm", 10, random_state=0).fit(X, y)
    soft = make_learner("svm", 10, random_state=0, probability="softmax").fit(X, y)
    # the same SVM (same C, same support vectors), two mappings: the mixed score is not zero
    np.testing.assert_allclose(soft.estimator_.decision_function(pool),
                               platt.estimator_.decision_function(pool), atol=1e-8)
    mixed = alamp(soft.predict_proba(pool), platt.predict_proba(pool))
    assert (np.abs(mixed) > 0.05).mean() > 0.5
    mapping = shared_proba_mapping(soft, platt)
    assert mapping == "softmax"
    same = alamp(soft.predict_proba_as(pool, mapping), platt.predict_proba_as(pool, mapping))
    np.testing.assert_allclose(same, 0.0, atol=1e-7)


# ---- warm start -------------------------------------------------------------------------------

def test_logreg_warm_fit_starts_from_the_previous_optimum(blobs):
    X, y = blobs
    cold = make_learner("logreg", 3, random_state=0).fit(X, y)
    before = cold.estimator_.coef_.copy()
    warm = make_learner("logreg", 3, random_state=0).warm_fit(X, y, cold)
    # the same labels: L-BFGS starts at the optimum and stops within a few iterations, where
    # the fit from zeros took many; the loss is strictly convex, so the optimum is the same
    assert warm.estimator_.n_iter_[0] < cold.estimator_.n_iter_[0]
    np.testing.assert_allclose(warm.predict_proba(X), cold.predict_proba(X), atol=1e-3)
    assert np.array_equal(cold.estimator_.coef_, before)  # last round's model is left alone


def test_logreg_warm_fit_on_a_new_class_is_a_plain_fit(blobs):
    X, y = blobs
    two = y < 2
    previous = make_learner("logreg", 3, random_state=0).fit(X[two], y[two])
    warm = make_learner("logreg", 3, random_state=0).warm_fit(X, y, previous)
    cold = make_learner("logreg", 3, random_state=0).fit(X, y)
    assert np.array_equal(warm.estimator_.coef_, cold.estimator_.coef_)
    # no previous model at all: a plain fit as well
    first = make_learner("logreg", 3, random_state=0).warm_fit(X, y, None)
    assert np.array_equal(first.estimator_.coef_, cold.estimator_.coef_)


def test_a_partial_fit_estimator_continues_from_the_previous_model(blobs):
    import copy

    from sklearn.linear_model import SGDClassifier

    X, y = blobs
    learner = as_learner(SGDClassifier(loss="log_loss"), 3, random_state=0)
    assert learner.can_warm_start()
    first = np.random.default_rng(0).permutation(len(y))[:60]
    assert len(np.unique(y[first])) == 3  # the same classes: a start partial_fit can continue
    previous = learner.clone().fit(X[first], y[first])
    state = previous.estimator_.coef_.copy()
    warm = learner.clone().warm_fit(X, y, previous)
    expected = copy.deepcopy(previous.estimator_).partial_fit(X.astype(np.float64), y)
    np.testing.assert_array_equal(warm.estimator_.coef_, expected.coef_)
    assert not np.array_equal(warm.estimator_.coef_, state)  # it moved on the new labels
    assert np.array_equal(previous.estimator_.coef_, state)


@pytest.mark.parametrize("model", ["svm", "knn"])
def test_learners_that_cannot_warm_start_say_which_can(blobs, model):
    from sklearn.neighbors import KNeighborsClassifier

    X, y = blobs
    learner = (make_learner("svm", 3) if model == "svm"
               else as_learner(KNeighborsClassifier(), 3))
    from labelwise.learners import warm_start_refusal

    assert not learner.can_warm_start()
    with pytest.raises(LabelwiseError, match="cannot warm-start; leave warm start off") as e:
        learner.warm_fit(X, y, None)
    assert "\n" not in str(e.value)
    # what the engine and `labelwise init` say before any fit: the learners that can
    message = warm_start_refusal(learner)
    assert "cannot warm-start; learners that can: logreg" in message
    assert "\n" not in message and "partial_fit" in message
