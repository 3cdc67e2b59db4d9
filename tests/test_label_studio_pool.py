"""TaskPool: Label Studio tasks -> features, labels, and scores in labelwise's pick order."""

import numpy as np
import pytest

from labelwise.engine import ActiveLearner
from labelwise.integrations.label_studio import label_config, parse_label_config
from labelwise.integrations.label_studio_pool import BackendSettings, TaskPool
from labelwise.learners import LEARNERS
from labelwise.strategies import get_strategy, strategy_names
from labelwise.testing import gaussian_blobs

CONFIG = parse_label_config(label_config(["a", "b"], "text"))


def blobs(n=24, seed=0):
    """Two 3-d Gaussian blobs: items < n/2 around 0, the rest around 2.5."""
    return gaussian_blobs(((0.0,) * 3, (2.5,) * 3), n, labels="block", seed=seed)[0]


def annotation(aid, label, cancelled=False):
    return {"id": aid, "was_cancelled": cancelled, "result": [
        {"from_name": "label", "to_name": "text", "type": "choices",
         "value": {"choices": [label]}}]}


def tasks_of(X, labels=None):
    """Label Studio tasks with ids 100.. and features; ``labels``: {row: label}."""
    labels = labels or {}
    return [{"id": 100 + i, "data": {"text": f"t{i}", "features": x.tolist()},
             "annotations": [annotation(1000 + i, labels[i])] if i in labels else []}
            for i, x in enumerate(X)]


LABELS = {0: "a", 1: "a", 12: "b", 13: "b"}


def settled(pool, tasks):
    """The pool's answer once the round ``tasks`` start has finished (predict never waits for
    a fit: it answers from the last ranking and retrains in the background)."""
    pool.predict(tasks)
    assert pool.wait(120)
    return pool.predict(tasks)


def test_scores_follow_the_engines_pick_order(tmp_path):
    X = blobs()
    pool = TaskPool(CONFIG, BackendSettings(strategy="margin"))
    out = settled(pool, tasks_of(X, LABELS))
    # the same round by hand: same features, labels and seed (random_state + number of labels)
    al = ActiveLearner(X.astype(np.float32), "logreg", "margin", classes=["a", "b"],
                       random_state=0)
    al.set_labels(sorted(LABELS), [LABELS[i] for i in sorted(LABELS)])
    picks = al.step(20, random_state=0 + 4)
    scores = np.array([o["score"] for o in out])
    assert scores[picks].tolist() == [i / 20 for i in range(20)]  # p_i gets i / n, n = 20
    assert scores[sorted(LABELS)].tolist() == [1.0] * 4
    margin = np.abs(np.diff(np.sort(al.model.predict_proba(X.astype(np.float32)), axis=1)))[:, 0]
    unlabeled = np.setdiff1d(np.arange(24), sorted(LABELS))
    assert np.all(np.diff(margin[unlabeled][np.argsort(scores[unlabeled])]) >= -1e-12)
    predicted = [o["result"][0]["value"]["choices"][0] for o in out]
    assert predicted[:12].count("a") >= 10 and predicted[12:].count("b") >= 10
    # one version per change: the pool grew once, 4 tasks got labels
    assert {o["model_version"] for o in out} == {"labelwise-margin-logreg-4-labels-v5"}


def test_cold_start_before_two_classes_and_no_result_without_a_model():
    X = blobs()
    pool = TaskPool(CONFIG, BackendSettings(strategy="margin"))
    out = pool.predict(tasks_of(X, {0: "a"}))
    assert pool.info["cold_start"] and pool.info["strategy"] == "random"
    assert all(o["result"] == [] for o in out)
    assert sorted(o["score"] for o in out)[:-1] == [i / 23 for i in range(23)]


def test_batch_selector_orders_max_ranked_picks_and_ties_the_rest():
    X = blobs(10)
    labels = {0: "a", 5: "b"}
    pool = TaskPool(CONFIG, BackendSettings(strategy="badge", max_ranked=3))
    scores = np.array([o["score"] for o in settled(pool, tasks_of(X, labels))])
    assert sorted(scores.tolist()) == [0, 1 / 8, 2 / 8] + [3 / 8] * 5 + [1, 1]


def test_labels_majority_updates_skips_and_deletes():
    X = blobs(6)
    pool = TaskPool(CONFIG, BackendSettings())
    pool.add_tasks(tasks_of(X))
    assert pool.set_annotation(100, {**annotation(1, "a"), "task": 100})
    assert not pool.set_annotation(100, annotation(1, "a"))  # unchanged: same version
    pool.set_annotation(100, annotation(2, "b"))
    pool.set_annotation(100, annotation(3, "b"))
    rows, y = pool.labeled()
    assert rows.tolist() == [0] and y.tolist() == ["b"]  # 2 of 3
    pool.set_annotation(100, annotation(3, "b", cancelled=True))  # skipped: withdrawn
    assert pool.labeled()[1].tolist() == ["a"]  # 1-1 tie: the earliest annotation wins
    v = pool.version
    assert pool.delete_annotations([1, 99]) and pool.version == v + 1
    assert pool.labeled()[1].tolist() == ["b"]
    assert pool.set_task_annotations(100, []) and len(pool.labeled()[0]) == 0
    assert pool.labeled()[0].dtype == np.int64


def test_refresh_retrains_only_on_change():
    X = blobs()
    pool = TaskPool(CONFIG, BackendSettings())
    settled(pool, tasks_of(X, LABELS))
    model = pool._engine.model
    pool.predict(tasks_of(X, LABELS)[:3])  # nothing changed: the same model answers
    assert pool._engine.model is model
    pool.set_annotation(105, annotation(7, "a"))
    pool.refresh()
    assert pool._engine.model is not model and pool.info["n_labeled"] == 5


@pytest.mark.parametrize("name", strategy_names() + ["margin+ft", "badge+ft"])
def test_every_strategy_ranks_every_unlabeled_task(name):
    strategy = get_strategy(name)
    learner = next(n for n in ("logreg", "mlp", "supcon", "lossnet")
                   if strategy.needs <= LEARNERS[n].capabilities)
    if learner != "logreg" or strategy.finetune:
        pytest.importorskip("torch", reason=f"{name} needs the torch learner {learner}")
    params = {} if learner == "logreg" else {"max_epochs": 20}
    pool = TaskPool(CONFIG, BackendSettings(strategy=name, learner=learner,
                                            learner_params=params))
    out = settled(pool, tasks_of(blobs(), LABELS))
    assert pool.info["strategy"] == name and not pool.info["cold_start"]
    assert sorted(o["score"] for o in out) == [i / 20 for i in range(20)] + [1.0] * 4
