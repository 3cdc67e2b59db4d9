"""The engine: one round step shared by the simulated loop and the labeling app.

The same labels, candidates and seed give the same picks whether the engine is driven directly,
by :func:`run_active_learning`, or by the app's worker (including "+ft" with the torch head and
alamp_div, which reads last round's model, also across a restart of the app).
"""

import json

import numpy as np
import pytest

from labelwise import ActiveLearner, LabelwiseError, run_active_learning
from labelwise.strategies import get_strategy
from labelwise.testing import gaussian_blobs

CLASSES = ["a", "b", "c"]


def blobs(n=90, seed=0):
    """Three classes in 4-d (centres 3 e_c), n // 3 each in blocks; float32 features."""
    return gaussian_blobs(3.0 * np.eye(4)[:3], n, labels="block", seed=seed, dtype=np.float32)


def seed_labels(y, per_class=2):
    idx = np.concatenate([np.flatnonzero(y == c)[:per_class] for c in range(3)])
    return idx, np.array(CLASSES)[y[idx]]


def test_engine_round_matches_the_simulated_loop():
    X, y = blobs()
    records = run_active_learning(X, y, X[:10], y[:10], strategy="margin", learner="logreg",
                                  seed_size=6, batch_size=5, rounds=2, random_state=3)
    # replay: the loop's seed set, then the same seeds the loop draws for each query
    engine = ActiveLearner(X, "logreg", "margin", classes=3, random_state=3)
    from labelwise.loop import initial_labeled_set

    labeled = initial_labeled_set(y, 6, 3, "balanced", 3)
    engine.teach(labeled, y[labeled])
    rng = np.random.default_rng(3)
    for rec in records[:-1]:
        engine.fit()
        picks = engine.query(5, random_state=rng.integers(2**32))
        assert picks.tolist() == rec.picks.tolist()
        engine.teach(picks, y[picks])


def test_previous_model_is_last_rounds():
    X, y = blobs()
    idx, labs = seed_labels(y)
    engine = ActiveLearner(X, "logreg", "alamp", classes=CLASSES, labeled_idx=idx, labels=labs)
    engine.fit()
    first = engine.model
    assert engine.previous_model is None
    engine.fit()
    assert engine.previous_model is first and engine.model is not first


def test_cold_start_before_two_classes_and_query_with_no_labels():
    X, _ = blobs()
    engine = ActiveLearner(X, "logreg", "margin", classes=CLASSES)
    picks = engine.step(7, random_state=0)
    assert len(set(picks.tolist())) == 7
    assert engine.last_query.cold_start and engine.last_query.strategy == "random"
    assert engine.last_fit is None
    assert np.isnan(engine.pick_scores()).all()


def test_cold_start_strategy_must_need_no_model():
    X, _ = blobs()
    with pytest.raises(LabelwiseError, match="needs a model"):
        ActiveLearner(X, "logreg", "margin", classes=CLASSES, cold_start="margin")


def test_teach_refuses_relabeling_and_unknown_classes():
    X, y = blobs()
    idx, labs = seed_labels(y)
    engine = ActiveLearner(X, "logreg", "margin", classes=CLASSES, labeled_idx=idx, labels=labs)
    with pytest.raises(LabelwiseError, match="labeled already"):
        engine.teach(idx[:1], labs[:1])
    with pytest.raises(LabelwiseError, match="outside"):
        engine.teach([50], ["zebra"])


def test_pick_scores_are_the_strategy_scores_of_the_picks():
    X, y = blobs()
    idx, labs = seed_labels(y)
    engine = ActiveLearner(X, "logreg", "margin", classes=CLASSES, labeled_idx=idx, labels=labs)
    picks = engine.step(4, random_state=0)
    p = engine.model.predict_proba(X[picks])
    top2 = np.sort(p, axis=1)[:, -2:]
    assert np.allclose(engine.pick_scores(), top2[:, 1] - top2[:, 0])


# --- the app's worker drives the same engine ----------------------------------------------------


def make_project(tmp_path, strategy, learner, X, y, **kw):
    from labelwise.app.create import create_project

    idx, labs = seed_labels(y)
    labels = [None] * len(X)
    for i, lab in zip(idx, labs, strict=True):
        labels[i] = lab
    return create_project(tmp_path / "p", [f"i{i}" for i in range(len(X))], X, CLASSES,
                          labels=labels, strategy=strategy, learner=learner, batch_size=5,
                          random_state=0, prepare=False, **kw), idx, labs


def queued(project, round_):
    return [r["item"] for r in project.queue() if r["round"] == round_]


def label_round(project, round_, y):
    for i in queued(project, round_):
        project.conn.execute("INSERT INTO assignments VALUES (?, 'ann', 0)", (i,))
        project.label(i, CLASSES[y[i]], "ann")


@pytest.mark.parametrize("strategy, learner", [
    ("margin", "logreg"), ("alamp_div", "logreg"), ("coreset", "logreg"), ("badge", "logreg"),
    ("margin+ft", "mlp"),
])
def test_app_picks_equal_the_engines(tmp_path, strategy, learner):
    if learner == "mlp":
        pytest.importorskip("torch")
    X, y = blobs()
    params = {"max_epochs": 30} if learner == "mlp" else {}
    project, idx, labs = make_project(tmp_path, strategy, learner, X, y, learner_params=params)
    engine = ActiveLearner(X, learner, strategy, classes=CLASSES, random_state=0,
                           learner_params=params)
    taken: list[int] = []
    # round 1 (current) and round 2 (prepared ahead from the same labels), then label round 1
    # and prepare round 3: every prepare is one engine step with the app's seed (random_state +
    # round) among the items neither labeled nor queued
    for step, round_ in enumerate((1, 2, 3)):
        if step == 2:
            label_round(project, 1, y)
        result = project.prepare_next_batch()
        assert result["round"] == round_
        lab_idx, lab_y = project.labeled_arrays()
        engine.set_labels(lab_idx, lab_y)
        cand = np.setdiff1d(np.arange(len(X)), np.concatenate([lab_idx, taken]))
        picks = engine.step(5, cand, random_state=round_)
        assert queued(project, round_) == picks.tolist(), (strategy, round_)
        taken += picks.tolist()
        info = json.loads(project.conn.execute("SELECT info FROM rounds WHERE round = ?",
                                               (round_,)).fetchone()[0])
        assert info["strategy"] == get_strategy(strategy).name and not info["cold_start"]
        if strategy.endswith("+ft"):
            assert "n_confident" in info["pseudo_labels"]  # what the fine-tuning did


def test_alamp_div_after_a_restart_uses_last_rounds_model(tmp_path):
    from labelwise.app.project import Project

    X, y = blobs()
    project, *_ = make_project(tmp_path, "alamp_div", "logreg", X, y)
    project.prepare_next_batch()
    project.prepare_next_batch()
    label_round(project, 1, y)
    # the same project, continuously running vs reopened (a fresh engine, no model in memory)
    reopened = Project(project.path)
    import shutil

    twin = tmp_path / "twin"
    shutil.copytree(project.path, twin)
    project.prepare_next_batch()
    continuous_picks = queued(project, 3)
    again = Project(twin)
    again.prepare_next_batch()
    assert queued(again, 3) == continuous_picks
    assert reopened.engine().model is None  # nothing fitted until the worker runs


def test_app_cold_start_is_recorded(tmp_path):
    from labelwise.app.create import create_project

    X, _ = blobs()
    project = create_project(tmp_path / "p", [f"i{i}" for i in range(len(X))], X, CLASSES,
                             strategy="margin", batch_size=5, prepare=False)
    project.prepare_next_batch()
    info = json.loads(project.conn.execute("SELECT info FROM rounds").fetchone()[0])
    # a new project's first batches come from TypiClust, on the embeddings alone
    assert info["cold_start"] and info["strategy"] == "typiclust" and not info["fitted"]


# --- any scikit-learn classifier ----------------------------------------------------------------


def test_a_random_forest_plugs_into_query_the_engine_and_the_loop():
    from sklearn.ensemble import RandomForestClassifier

    from labelwise import query

    X, y = blobs()
    idx, labs = seed_labels(y)
    rf = RandomForestClassifier(n_estimators=20, random_state=0).fit(X[idx], labs)
    picks = query("margin", rf, X, idx, labs, 5)  # a fitted forest, as is
    assert len(set(picks.tolist())) == 5 and not np.isin(picks, idx).any()
    engine = ActiveLearner(X, RandomForestClassifier(n_estimators=20), "coreset",
                           classes=CLASSES, labeled_idx=idx, labels=labs)
    assert len(engine.step(5)) == 5
    records = run_active_learning(X, y, X[::4], y[::4], strategy="entropy",
                                  learner=RandomForestClassifier(n_estimators=10), rounds=2,
                                  seed_size=6, batch_size=5)
    assert [r.n_labeled for r in records] == [6, 11, 16]


def test_an_unfitted_estimator_in_query_is_a_clear_error():
    from sklearn.ensemble import RandomForestClassifier

    from labelwise import query

    X, y = blobs()
    idx, labs = seed_labels(y)
    with pytest.raises(LabelwiseError, match="not fitted yet"):
        query("margin", RandomForestClassifier(), X, idx, labs, 5)


def test_alamp_compares_the_svms_rounds_on_one_scale():
    """At the round where the SVM switches to Platt scaling, alamp reads both models through
    the softmax of their decision values (the mapping the previous model has)."""
    from labelwise.strategies import SelectionContext
    from labelwise.strategies.scores import alamp

    X, y = blobs(n=120)
    names = np.array(CLASSES)
    few = np.concatenate([np.flatnonzero(y == c)[:4] for c in range(3)])
    many = np.concatenate([np.flatnonzero(y == c)[:6] for c in range(3)])
    engine = ActiveLearner(X, "svm", "alamp", classes=CLASSES, labeled_idx=few,
                           labels=names[y[few]])
    engine.fit()
    engine.set_labels(many, names[y[many]])
    engine.fit()
    prev, cur = engine.previous_model, engine.model
    assert (prev.proba_mapping_, cur.proba_mapping_) == ("softmax", "platt")
    cand = np.setdiff1d(np.arange(len(X)), many)
    ctx = SelectionContext(cur, X[cand], X[many], names[y[many]], previous_learner=prev)
    want = alamp(prev.predict_proba_as(X[cand], "softmax"),
                 cur.predict_proba_as(X[cand], "softmax"))
    assert np.allclose(get_strategy("alamp").score(ctx), want)


@pytest.mark.parametrize("cold_start", ["typiclust", "probcover"])
def test_cold_start_strategies_need_no_model_and_no_labels(cold_start):
    from labelwise import query

    rng = np.random.default_rng(0)
    X = np.concatenate([rng.normal(size=(60, 6)) + 8 * np.eye(6)[c] for c in range(3)])
    picks = query(cold_start, None, X, [], [], 3, random_state=0)
    assert sorted((picks // 60).tolist()) == [0, 1, 2]  # one per blob
    engine = ActiveLearner(X, "logreg", "margin", classes=CLASSES, cold_start=cold_start)
    engine.step(3, random_state=0)
    assert engine.last_query.strategy == cold_start and engine.last_query.cold_start


# ---- float32 end to end, and the candidates scored in blocks --------------------------------


def test_the_teach_order_does_not_change_the_model_or_the_picks():
    X, y = blobs(n=150, seed=4)
    X += np.random.default_rng(4).normal(scale=2.0, size=X.shape).astype(np.float32)  # overlap
    idx = np.arange(0, 150, 5)
    names = np.array(CLASSES)[y[idx]]
    order = np.random.default_rng(1).permutation(len(idx))
    a = ActiveLearner(X, "logreg", "margin", classes=CLASSES, labeled_idx=idx, labels=names)
    b = ActiveLearner(X, "logreg", "margin", classes=CLASSES, labeled_idx=idx[order],
                      labels=names[order])
    a.fit(), b.fit()
    # the engine fits on the labeled rows in pool order: not close, identical
    assert np.array_equal(a.model.predict_proba(X), b.model.predict_proba(X))
    assert a.query(20, random_state=0).tolist() == b.query(20, random_state=0).tolist()


def test_float32_pool_gives_the_float64_pools_picks_on_separated_data():
    X, y = blobs(n=300, seed=2)
    idx, labs = seed_labels(y, per_class=4)
    picks = {}
    for dtype in (np.float32, np.float64):
        engine = ActiveLearner(X.astype(dtype), "logreg", "margin", classes=CLASSES,
                               labeled_idx=idx, labels=labs)
        engine.fit()
        picks[dtype] = engine.query(30).tolist()
    assert picks[np.float32] == picks[np.float64]


def test_float32_probabilities_are_within_the_documented_tolerance_on_overlapping_data():
    """docs/round.md: the float32 forward pass moves probabilities by at most 1e-5 (absolute);
    picks may then differ only between near-tied margins."""
    rng = np.random.default_rng(0)
    y = rng.integers(3, size=2000)
    X = (rng.normal(size=(2000, 64)) + 0.3 * np.eye(64)[y]).astype(np.float32)
    idx = np.arange(300)
    engine = ActiveLearner(X, "logreg", "margin", classes=3, labeled_idx=idx, labels=y[idx])
    engine.fit()
    p32 = engine.model.predict_proba(X)
    p64 = engine.model.predict_proba(X.astype(np.float64))
    assert p32.dtype == np.float64 and np.abs(p32 - p64).max() < 1e-5
    assert p64.max() - p64.min() > 0.5  # the model is far from uniform: the check is not empty


def test_margin_reads_the_pool_in_blocks_without_gathering_the_candidates(monkeypatch):
    from labelwise.strategies import context

    X, y = blobs(n=300, seed=5)
    idx, labs = seed_labels(y)
    engine = ActiveLearner(X, "logreg", "margin", classes=CLASSES, labeled_idx=idx,
                           labels=labs)
    engine.fit()
    whole = engine.query(40, random_state=0)
    rows_read = []
    real = engine.model.predict_proba
    monkeypatch.setattr(engine.model, "predict_proba",
                        lambda Xb: rows_read.append(len(Xb)) or real(Xb))
    monkeypatch.setattr(context, "BLOCK_BYTES", 16 * 4 * 4)  # 16 rows of 4 float32 a block
    blocked = engine.query(40, random_state=0)
    assert blocked.tolist() == whole.tolist()
    # slices of the pool from the first candidate (row 2) to the last: 298 rows in 16-row blocks
    assert max(rows_read) == 16 and sum(rows_read) == 298 and len(rows_read) == 19
    assert "X_candidates" not in engine.last_context.__dict__  # never gathered
    # a sparse candidate set (every 7th row) is gathered block by block: only its rows are read
    rows_read.clear()
    sparse = engine.unlabeled_idx()[::7]
    picks = engine.query(5, candidates=sparse, random_state=0)
    assert sum(rows_read) == len(sparse) and max(rows_read) == 16
    ref = ActiveLearner(X, "logreg", "margin", classes=CLASSES, labeled_idx=idx, labels=labs)
    ref.fit()
    assert picks.tolist() == ref.query(5, candidates=sparse, random_state=0).tolist()


def test_a_margin_query_on_a_memory_mapped_pool_never_copies_it(tmp_path, monkeypatch):
    X, y = blobs(n=3000, seed=6)
    np.save(tmp_path / "pool.npy", X)
    pool = np.load(tmp_path / "pool.npy", mmap_mode="r")
    idx, labs = seed_labels(y)
    engine = ActiveLearner(pool, "logreg", "margin", classes=CLASSES, labeled_idx=idx,
                           labels=labs)
    assert np.shares_memory(engine.X_pool, pool)  # the checks kept the memory map, no copy
    engine.fit()
    from labelwise.strategies import context

    monkeypatch.setattr(context, "BLOCK_BYTES", 500 * 4 * 4)
    picks = engine.query(10, random_state=0)
    ref = ActiveLearner(X, "logreg", "margin", classes=CLASSES, labeled_idx=idx, labels=labs)
    ref.fit()
    assert picks.tolist() == ref.query(10, random_state=0).tolist()
    assert "X_candidates" not in engine.last_context.__dict__


# ---- a plugin strategy's picks are checked (the attack: every way to break the contract) ----


@pytest.mark.parametrize("picks, problem", [
    (lambda n, k: np.zeros(k, dtype=np.int64), "duplicate"),
    (lambda n, k: np.arange(n - k + 1, n + 1), "outside"),
    (lambda n, k: np.arange(-1, k - 1), "outside"),
    (lambda n, k: np.arange(k, dtype=float), "float64 values"),
    (lambda n, k: np.ones(k, dtype=bool), "bool values"),
    (lambda n, k: np.arange(k - 1), "returned 4 picks for k=5"),
    (lambda n, k: np.arange(2 * k).reshape(2, k), r"shape \(2, 5\)"),
])
def test_a_strategy_that_breaks_the_pick_contract_is_named(picks, problem):
    from labelwise.learners.base import PROBA
    from labelwise.strategies import Strategy

    bad = Strategy("sloppy", lambda ctx, k: picks(ctx.n_candidates, k), frozenset({PROBA}), "")
    X, y = blobs()
    idx, labs = seed_labels(y)
    engine = ActiveLearner(X, "logreg", bad, classes=CLASSES, labeled_idx=idx, labels=labs)
    with pytest.raises(LabelwiseError, match=f"strategy 'sloppy' broke .*{problem}"):
        engine.step(5, random_state=0)


def test_picks_may_take_every_candidate_left():
    X, y = blobs(n=30)
    idx, labs = seed_labels(y)
    engine = ActiveLearner(X, "logreg", "margin", classes=CLASSES, labeled_idx=idx, labels=labs)
    picks = engine.step(24, random_state=0)
    assert sorted(picks.tolist()) == engine.unlabeled_idx().tolist()
    with pytest.raises(LabelwiseError, match="larger than the unlabeled pool"):
        engine.query(25)


def test_string_indices_of_a_dataframe_get_a_clear_message():
    pd = pytest.importorskip("pandas")
    X, y = blobs(n=30)
    df = pd.DataFrame(X, index=[f"row{i}" for i in range(30)])
    engine = ActiveLearner(df, "logreg", "margin", classes=CLASSES)  # any index: features only
    with pytest.raises(LabelwiseError, match=r"integer positions .*\.get_indexer"):
        engine.teach(pd.Index(["row0", "row1"]), ["a", "b"])
    engine.teach(df.index.get_indexer(["row0", "row10", "row20"]), ["a", "b", "c"])
    engine.fit()
    assert len(engine.query(3, random_state=0)) == 3


def test_fractional_or_negative_indices_are_refused():
    X, _ = blobs(n=30)
    engine = ActiveLearner(X, "logreg", "margin", classes=CLASSES)
    with pytest.raises(LabelwiseError, match="whole numbers, got 1.5"):
        engine.teach([1.5, 2.0], ["a", "b"])
    with pytest.raises(LabelwiseError, match=r"lie in \[0, 30\)"):
        engine.teach([-1, 2], ["a", "b"])
    engine.teach([1.0, 2.0], ["a", "b"])  # whole floats are positions
    assert engine.labeled_idx.tolist() == [1, 2]


def test_labels_of_one_class_warn_and_start_cold():
    from labelwise.validation import LabelwiseWarning

    X, y = blobs()
    engine = ActiveLearner(X, "logreg", "margin", classes=CLASSES, labeled_idx=[0, 1],
                           labels=["a", "a"])
    with pytest.warns(LabelwiseWarning, match="only 1 class \\('a'\\).*'random' picks"):
        assert engine.fit_or_cold_start() is None
    picks = engine.query(4, random_state=0)
    assert engine.last_query.cold_start and len(picks) == 4 and engine.model is None
    engine.teach([2], ["b"])
    info = engine.fit_or_cold_start()
    assert info.n_labeled == 3 and engine.model is not None


# ---- one model per labels and seed: the same picks everywhere, for every learner -------------

FAST_TORCH = {"lr": 0.01, "max_epochs": 8, "device": "cpu"}


def _tiny_module():
    import torch.nn as nn

    class Tiny(nn.Module):
        def __init__(self):
            super().__init__()
            self.features = nn.Sequential(nn.Linear(16, 8), nn.ReLU(), nn.Dropout(0.2))
            self.head = nn.Linear(8, 3)

    return Tiny


#: every registered learner -> (strategy, learner params, why it is skipped or None); a learner
#: registered later and missing here fails test_every_registered_learner_is_covered
SAME_PICKS = {
    "logreg": [("margin", {})],
    "svm": [("margin", {})],
    "mlp": [("margin+ft", {"hidden": 16, **FAST_TORCH}), ("lhd", {"hidden": 16, **FAST_TORCH})],
    "ensemble": [("variation_ratio", {"n_members": 2, "hidden": 8, **FAST_TORCH})],
    "supcon": [("margin", {"contrastive_epochs": 2, "hidden": 8, **FAST_TORCH})],
    "lossnet": [("learning_loss", {"hidden": 8, **FAST_TORCH})],
    "torch-module": [("margin", {"module": "tiny", **FAST_TORCH})],
    "cnn": [("margin", {"image_shape": (1, 4, 4), "channels": (4,), "hidden": 8,
                        **FAST_TORCH})],
}
SKIPPED = {"finetune-text": "fine-tunes a pretrained text backbone (a download)",
           "finetune-image": "fine-tunes a pretrained image backbone (a download)"}


def test_every_registered_learner_is_covered():
    from labelwise.learners import LEARNERS

    assert set(LEARNERS) == set(SAME_PICKS) | set(SKIPPED)


@pytest.mark.parametrize("learner, strategy, params", [
    (name, strategy, params) for name, cases in SAME_PICKS.items()
    for strategy, params in cases])
def test_same_labels_and_seed_give_the_same_picks_after_any_history(learner, strategy, params):
    """The app builds a fresh engine after a restart, ActiveLearner keeps one for many rounds and
    ``labelwise run`` replays the loop: for the same labels (in any order) and seeds, the second
    round's picks agree, because every round fits a fresh clone seeded with random_state."""
    from labelwise.learners import LEARNERS

    if LEARNERS[learner].extra:
        pytest.importorskip("torch")
    if params.get("module") == "tiny":
        params = params | {"module": _tiny_module()}
    rng = np.random.default_rng(0)
    y = np.repeat(np.arange(3), 20)
    X = (rng.normal(size=(60, 16)) + 2.5 * np.eye(16)[y]).astype(np.float32)
    idx, labs = seed_labels(y, per_class=3)

    def fresh():
        return ActiveLearner(X, learner, strategy, classes=CLASSES, random_state=0,
                             learner_params=params)

    kept = fresh()
    kept.teach(idx, labs)
    first = kept.step(6, random_state=1)
    kept.teach(first, np.array(CLASSES)[y[first]])
    again = kept.step(6, random_state=2)

    restarted = fresh()  # the app after a restart: the same labels, taught in another order
    order = np.random.default_rng(3).permutation(kept.n_labeled)
    restarted.set_labels(kept.labeled_idx[order], kept.labels[order])
    assert restarted.step(6, random_state=2).tolist() == again.tolist()


# --- warm start ---------------------------------------------------------------------------------


def test_warm_start_fits_from_last_rounds_model_and_picks_as_a_cold_fit_on_separated_data():
    X, y = blobs(300)
    idx, labs = seed_labels(y, per_class=10)
    cold = ActiveLearner(X, "logreg", "margin", classes=CLASSES, random_state=0)
    warm = ActiveLearner(X, "logreg", "margin", classes=CLASSES, random_state=0, warm_start=True)
    for engine in (cold, warm):
        engine.teach(idx, labs)
    fits = []
    for _ in range(3):
        picks = cold.step(10)
        assert np.array_equal(warm.step(10), picks)  # one optimum: the same picks
        fits.append(warm.last_fit.warm_started)
        assert not cold.last_fit.warm_started
        for engine in (cold, warm):
            engine.teach(picks, np.array(CLASSES)[y[picks]])
    assert fits == [False, True, True]  # the first round has no model to start from
    # and the warm fit did start there: fewer L-BFGS iterations than from zeros
    assert warm.model.estimator_.n_iter_[0] < cold.model.estimator_.n_iter_[0]


def test_warm_start_is_off_by_default_and_refused_for_learners_that_cannot():
    X, _ = blobs()
    assert ActiveLearner(X, "logreg", classes=CLASSES).warm_start is False
    with pytest.raises(LabelwiseError, match="SVMLearner cannot warm-start; learners that "
                                             "can: logreg"):
        ActiveLearner(X, "svm", classes=CLASSES, warm_start=True)


def test_a_project_created_with_warm_start_keeps_it_and_its_engine_uses_it(tmp_path):
    X, y = blobs()
    project, _, _ = make_project(tmp_path, "margin", "logreg", X, y, warm_start=True)
    assert project.settings["warm_start"] is True
    assert project.engine().warm_start is True
    project.prepare_next_batch()
    label_round(project, 1, y)
    project.prepare_next_batch()
    assert project.engine().last_query.picks.size and project.engine().previous_model is not None
    with pytest.raises(LabelwiseError, match="cannot warm-start"):
        make_project(tmp_path / "svm", "margin", "svm", X, y, warm_start=True)


def test_init_warm_start_is_stored_and_refused_with_a_learner_that_cannot(tmp_path, image_folder,
                                                                           capsys):
    from labelwise.app.project import Project
    from labelwise.cli import main

    data = image_folder()
    assert main(["init", str(tmp_path / "w"), "--data", str(data), "--encoder", "identity",
                 "--warm-start"]) == 0
    assert Project(tmp_path / "w").settings["warm_start"] is True
    assert main(["init", str(tmp_path / "c"), "--data", str(data), "--encoder", "identity"]) == 0
    assert Project(tmp_path / "c").settings["warm_start"] is False
    capsys.readouterr()
    assert main(["init", str(tmp_path / "s"), "--data", str(data), "--encoder", "identity",
                 "--learner", "svm", "--warm-start"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "SVMLearner cannot warm-start" in err
    assert not (tmp_path / "s").exists()
