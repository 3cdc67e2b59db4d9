"""The query step and the simulated loop, end to end on the real digits data."""

import numpy as np
import pytest

from labelwise import make_learner, query, run_active_learning
from labelwise.loop import initial_labeled_set
from labelwise.testing import gaussian_blobs

FOUNDATION = ["random", "least_confidence", "margin", "entropy", "coreset"]


@pytest.fixture(scope="module")
def fitted(digits):
    labeled = initial_labeled_set(digits.y_train, 30, 10, "balanced", random_state=0)
    learner = make_learner("logreg", 10, random_state=0).fit(
        digits.X_train[labeled], digits.y_train[labeled])
    return learner, labeled


@pytest.mark.parametrize("strategy", FOUNDATION)
def test_query_picks_are_unique_unlabeled_and_deterministic(digits, fitted, strategy):
    learner, labeled = fitted
    y_lab = digits.y_train[labeled]
    a = query(strategy, learner, digits.X_train, labeled, y_lab, k=25, random_state=3)
    b = query(strategy, learner, digits.X_train, labeled, y_lab, k=25, random_state=3)
    assert len(a) == 25 and len(set(a.tolist())) == 25
    assert not set(a.tolist()) & set(labeled.tolist())
    np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("strategy", ["margin", "coreset", "alamp"])
def test_query_takes_the_engines_route_and_picks_as_its_selection(digits, fitted, monkeypatch,
                                                                  strategy):
    from labelwise.engine import ActiveLearner, select_from
    from labelwise.strategies import get_strategy

    learner, labeled = fitted
    X, y_lab = digits.X_train, digits.y_train[labeled]
    previous = make_learner("logreg", 10, random_state=0).fit(X[labeled[:20]], y_lab[:20])
    cand = np.setdiff1d(np.arange(len(X)), labeled)
    # what query returned before it went through the engine: the selection code run directly
    direct, _ = select_from(get_strategy(strategy), learner, X, labeled, y_lab, 12, cand,
                            previous, 7)
    calls = []
    engine_query = ActiveLearner.query
    monkeypatch.setattr(ActiveLearner, "query",
                        lambda self, *a, **kw: calls.append(self) or engine_query(self, *a, **kw))
    picks = query(strategy, learner, X, labeled, y_lab, 12, previous_learner=previous,
                  random_state=7)
    assert picks.tolist() == direct.tolist()
    assert len(calls) == 1 and calls[0].model is learner and calls[0].previous_model is previous


def test_query_without_a_model_needs_a_strategy_that_needs_none(digits):
    from labelwise.validation import LabelwiseError

    X = digits.X_train[:50]
    assert len(query("random", None, X, [0, 1], ["a", "b"], 5, random_state=0)) == 5
    with pytest.raises(LabelwiseError, match="'margin' needs a fitted learner"):
        query("margin", None, X, [], [], 5)


def test_query_respects_candidates(digits, fitted):
    learner, labeled = fitted
    cand = np.setdiff1d(np.arange(200), labeled)
    picks = query("entropy", learner, digits.X_train, labeled, digits.y_train[labeled], 10,
                  candidates=cand)
    assert set(picks.tolist()) <= set(cand.tolist())


def test_margin_picks_are_the_smallest_margins(digits, fitted):
    learner, labeled = fitted
    picks = query("margin", learner, digits.X_train, labeled, digits.y_train[labeled], 5)
    p = learner.predict_proba(digits.X_train)
    top2 = np.sort(p, axis=1)[:, -2:]
    m = top2[:, 1] - top2[:, 0]
    m[labeled] = np.inf
    assert set(picks.tolist()) == set(np.argsort(m, kind="stable")[:5].tolist())


def test_balanced_seed_set_has_every_class(digits):
    seed = initial_labeled_set(digits.y_train, 20, 10, "balanced", random_state=1)
    assert np.bincount(digits.y_train[seed], minlength=10).tolist() == [2] * 10


def test_balanced_seed_set_with_a_remainder_and_a_short_class():
    y = np.array([0] * 50 + [1] * 50 + [2])
    seed = initial_labeled_set(y, 7, 3, "balanced", random_state=0)
    assert len(seed) == 7 and len(set(seed.tolist())) == 7
    assert (y[seed] == 2).sum() == 1  # the short class gives all it has


def test_loop_end_to_end_on_digits(digits):
    records = run_active_learning(digits.X_train, digits.y_train, digits.X_test, digits.y_test,
                                  strategy="margin", seed_size=20, batch_size=10, rounds=4,
                                  random_state=0)
    assert [r.n_labeled for r in records] == [20, 30, 40, 50, 60]
    assert [len(r.picks) for r in records] == [10, 10, 10, 10, 0]
    picked = np.concatenate([r.picks for r in records])
    assert len(set(picked.tolist())) == len(picked)
    assert records[-1].metrics["accuracy"] > records[0].metrics["accuracy"]
    assert all(r.query_seconds > 0 for r in records[:-1])
    assert 0.5 < records[-1].metrics["accuracy"] <= 1.0


def test_loop_is_deterministic_for_a_seed_and_differs_across_seeds(digits):
    def picks(seed):
        recs = run_active_learning(digits.X_train, digits.y_train, digits.X_test, digits.y_test,
                                   strategy="random", rounds=2, random_state=seed)
        return np.concatenate([r.picks for r in recs])

    np.testing.assert_array_equal(picks(7), picks(7))
    assert not np.array_equal(picks(7), picks(8))


def test_budget_truncates_the_last_batch_and_subsampling_limits_candidates(digits):
    recs = run_active_learning(digits.X_train, digits.y_train, digits.X_test, digits.y_test,
                               strategy="entropy", batch_size=10, budget=45, pool_subsample=50,
                               random_state=0)
    assert [r.n_labeled for r in recs] == [20, 30, 40, 45]


def test_coreset_with_the_mlp_learner_runs(digits):
    pytest.importorskip("torch")
    recs = run_active_learning(digits.X_train, digits.y_train, digits.X_test, digits.y_test,
                               strategy="coreset", learner="mlp", rounds=1,
                               learner_params={"max_epochs": 30}, random_state=0)
    assert len(recs[0].picks) == 10


def test_mlp_is_seeded_and_reset_each_fit(digits):
    pytest.importorskip("torch")
    X, y = digits.X_train[:100], digits.y_train[:100]
    a = make_learner("mlp", 10, random_state=0, max_epochs=20).fit(X, y).predict_proba(X[:5])
    learner = make_learner("mlp", 10, random_state=0, max_epochs=20)
    learner.fit(X, y)
    b = learner.fit(X, y).predict_proba(X[:5])
    np.testing.assert_allclose(a, b, atol=1e-6)


def test_string_classes_in_a_real_workflow():
    X, _ = gaussian_blobs([[0, 0], [4, 4]], 60, labels="block")
    labeled, labels = [0, 1, 30, 31], ["cat", "cat", "dog", "dog"]
    learner = make_learner("logreg", classes=["cat", "dog"], random_state=0).fit(X[labeled],
                                                                                  labels)
    picks = query("least_confidence", learner, X, labeled, labels, k=3, random_state=0)
    assert len(picks) == 3 and not set(picks.tolist()) & set(labeled)
    assert set(learner.predict(X[[5, 40]]).tolist()) == {"cat", "dog"}


def test_a_random_seed_set_of_one_class_starts_cold():
    """A random seed set may hold one class (a 1:19 minority task): the first rounds pick with
    the cold-start strategy until a second class is labeled, instead of failing."""
    import numpy as np

    from labelwise import run_active_learning

    rng = np.random.default_rng(0)
    y = (np.arange(400) < 20).astype(int)          # 5% minority
    X = rng.normal(size=(400, 3)) + 2.0 * y[:, None]
    records = None
    for seed in range(40):  # find a seed whose random 5-label seed set has no minority item
        from labelwise.loop import initial_labeled_set

        if y[initial_labeled_set(y, 5, 2, "random", seed)].sum() == 0:
            records = run_active_learning(X, y, X[::10], y[::10], strategy="margin",
                                          seed_size=5, seed_set="random", batch_size=20,
                                          rounds=3, random_state=seed)
            break
    assert records is not None
    assert records[0].train_seconds == 0.0 and len(records[0].picks) == 20
    assert records[-1].n_labeled == 65


@pytest.mark.parametrize("kind", ["typiclust", "probcover"])
def test_cold_start_seed_sets_read_the_features_not_the_labels(digits, kind):
    X, y = digits.X_train, digits.y_train
    seed = initial_labeled_set(y, 20, 10, kind, random_state=0, X=X)
    assert len(seed) == 20 and len(set(seed.tolist())) == 20
    assert np.all(np.diff(seed) > 0)
    # the labels play no part: shuffled labels give the same seed set
    shuffled = np.random.default_rng(1).permutation(y)
    np.testing.assert_array_equal(seed, initial_labeled_set(shuffled, 20, 10, kind,
                                                            random_state=0, X=X))
    if kind == "typiclust":  # its picks on digits spread over most classes
        assert len(np.unique(y[seed])) >= 7


def test_typiclust_seed_set_is_the_selector_from_an_empty_labeled_set(digits):
    from labelwise.strategies.typiclust import typiclust

    X = digits.X_train
    seed = initial_labeled_set(digits.y_train, 10, 10, "typiclust", random_state=3, X=X)
    direct = typiclust(X, 10, None, np.random.default_rng(3))
    np.testing.assert_array_equal(seed, np.sort(direct))


def test_cold_start_seed_sets_need_the_features_and_known_kinds(digits):
    from labelwise.validation import LabelwiseError

    with pytest.raises(LabelwiseError, match="pass X"):
        initial_labeled_set(digits.y_train, 10, 10, "typiclust")
    with pytest.raises(LabelwiseError, match="rows"):
        initial_labeled_set(digits.y_train, 10, 10, "probcover", X=digits.X_train[:50])
    with pytest.raises(LabelwiseError, match="typiclust"):
        initial_labeled_set(digits.y_train, 10, 10, "kmeans")


def test_loop_with_a_probcover_seed_set(digits):
    records = run_active_learning(digits.X_train, digits.y_train, digits.X_test, digits.y_test,
                                  strategy="margin", seed_size=10, seed_set="probcover",
                                  batch_size=10, rounds=1, random_state=0)
    seed = initial_labeled_set(digits.y_train, 10, 10, "probcover", 0, X=digits.X_train)
    assert [r.n_labeled for r in records] == [10, 20]
    assert not set(records[0].picks.tolist()) & set(seed.tolist())


def _ramp_pool(n=300):
    """Two separable blobs on a line: a logistic regression is sure of its classes quickly."""
    rng = np.random.default_rng(0)
    y = np.arange(n) % 2
    X = (np.where(y == 1, 4.0, -4.0) + rng.normal(0, 1, n))[:, None]
    return X, y


def test_the_stopping_monitor_is_fed_every_round():
    X, y = _ramp_pool()
    recs = run_active_learning(X, y, X[:100], y[:100], strategy="random", seed_size=4,
                               batch_size=4, rounds=6, random_state=0, stop_set_size=50,
                               stopping_cv=True)
    cols = recs[0].stopping
    assert set(cols) == {f"{c}_{w}" for c, m in (
        ("stabilizing_predictions", "kappa"), ("overall_uncertainty", "mean_entropy"),
        ("max_confidence", "largest_entropy"), ("accuracy_plateau", "gain"),
        ("recommended", "value")) for w in (m, "threshold", "stop")} | {
        "recommended_reason", "stop_set_size"}
    kappa = [r.stopping["stabilizing_predictions_kappa"] for r in recs]
    # kappa needs 3 pairs of successive models: rounds 0-2 have none yet
    assert all(np.isnan(kappa[:3])) and all(np.isfinite(kappa[3:]))
    # separable blobs: every model predicts the stop set the same way, so kappa = 1 and the
    # criterion stops at the first round it can
    assert kappa[3] == 1.0 and recs[3].stopping["stabilizing_predictions_stop"]
    # max confidence reads the picks: none after the last round
    assert np.isnan(recs[-1].stopping["max_confidence_largest_entropy"])
    assert all(np.isfinite(r.stopping["max_confidence_largest_entropy"]) for r in recs[:-1])
    # stopping_cv=True: the cross-validated accuracy feeds the plateau (needs > 3 rounds)
    plateau = [r.stopping["accuracy_plateau_gain"] for r in recs]
    assert np.isnan(plateau[0]) and np.isfinite(plateau[-1])
    assert all(r.stopping_seconds > 0 for r in recs)


def test_overall_uncertainty_is_the_mean_entropy_on_the_unlabeled_stop_set():
    from labelwise.stopping import StoppingMonitor
    from labelwise.strategies.scores import entropy

    X, y = _ramp_pool(120)
    seen = []

    class Spy(StoppingMonitor):
        def update(self, **kw):
            seen.append(kw)
            return super().update(**kw)

    recs = run_active_learning(X, y, X, y, strategy="margin", seed_size=4, batch_size=10,
                               rounds=2, random_state=0, monitor=Spy())
    # the pool has 120 items, fewer than 1,000: the stop set is all of them; 4 are labeled at
    # the start, and after round 0's picks are labeled round 1 reads the entropy of the
    # stop-set items still unlabeled only
    assert len(seen[0]["stop_set_proba"]) == 120 and len(seen[0]["pool_proba"]) == 116
    assert len(seen[1]["pool_proba"]) == 106
    value = recs[1].stopping["overall_uncertainty_mean_entropy"]
    assert value == pytest.approx(entropy(seen[1]["pool_proba"]).mean())
    assert seen[0]["picks_proba"].shape == (10, 2) and seen[2]["picks_proba"] is None
    assert all(kw["cv_accuracy"] is None for kw in seen)  # no 5-fold CV by default
    assert np.isnan(recs[-1].stopping["accuracy_plateau_gain"])


def test_the_monitor_does_not_move_the_picks(digits):
    # the stop set is drawn from a stream of its own: the picks of a seed are as before
    def picks(size):
        recs = run_active_learning(digits.X_train, digits.y_train, digits.X_test,
                                   digits.y_test, strategy="random", rounds=2, random_state=5,
                                   stop_set_size=size, stopping_cv=False)
        return np.concatenate([r.picks for r in recs])

    np.testing.assert_array_equal(picks(10), picks(500))


def test_string_labels_run_like_their_class_indices():
    """The attack: string labels crashed with UFuncTypeError (int(max(...)) of strings)."""
    from labelwise import run_active_learning

    rng = np.random.default_rng(0)
    y = np.repeat(np.arange(3), 40)
    X = (rng.normal(size=(120, 5)) + 3 * np.eye(5)[y]).astype(np.float32)
    names = np.array(["ant", "bee", "cat"])
    by_index = run_active_learning(X, y, X[:30], y[:30], "margin", "logreg", seed_size=6,
                                   batch_size=4, rounds=2, random_state=1)
    by_name = run_active_learning(X, names[y], X[:30], names[y[:30]], "margin", "logreg",
                                  seed_size=6, batch_size=4, rounds=2, random_state=1)
    assert [r.picks.tolist() for r in by_name] == [r.picks.tolist() for r in by_index]
    assert [r.metrics["accuracy"] for r in by_name] == [r.metrics["accuracy"] for r in by_index]


def test_a_one_class_seed_set_warns_instead_of_running_silently():
    from labelwise import run_active_learning
    from labelwise.validation import LabelwiseWarning

    y = np.array([0] * 50 + [1] * 2)
    X = np.random.default_rng(0).normal(size=(52, 3)).astype(np.float32) + y[:, None] * 4
    with pytest.warns(LabelwiseWarning, match="only 1 class"):
        records = run_active_learning(X, y, X, y, "margin", "logreg", seed_size=3,
                                      seed_set="random", batch_size=2, rounds=1, random_state=0)
    assert records[0].n_labeled == 3 and np.isfinite(records[0].metrics["accuracy"])
