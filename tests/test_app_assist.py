"""The page's help beside an item: the model's suggestion and the one-sentence reason per family."""

import numpy as np
import pytest

from labelwise.app.assist import family, item_assist, why_picked
from labelwise.app.create import create_project
from labelwise.app.project import Project


def test_uncertainty_names_the_two_most_likely_classes():
    proba = {"cat": 0.41, "dog": 0.48, "bird": 0.11}
    assert why_picked("margin", False, 0.07, proba) == \
        "the model is torn between dog (48%) and cat (41%)"
    assert why_picked("entropy+ft", False, 0.9, proba) == \
        "the model is torn between dog (48%) and cat (41%)"
    assert why_picked("alamp", False, 0.3, proba) == ("the model changed its mind about it most "
                                                      "since last round and is torn between dog "
                                                      "(48%) and cat (41%)")


def test_a_model_now_confident_is_not_called_torn():
    # gap 0.93 - 0.05 > 0.5: the newer model has made up its mind since the pick
    assert why_picked("least_confidence", False, 0.45, {"dog": 0.93, "cat": 0.05, "x": 0.02}) \
        == "last round's model was unsure of it; the model now says dog (93%)"


def test_without_a_model_the_stored_score_speaks():
    assert why_picked("margin", False, 0.07) == \
        "the model was unsure: its two most likely classes were 7 points apart"
    assert why_picked("least_confidence", False, 0.48) == \
        "the model's best guess had only 52% confidence"
    assert why_picked("entropy", False, None) == "the model was unsure of it"


def test_diversity_cold_start_and_unknown_strategies():
    assert why_picked("coreset", False, 2.5) == "far from everything labeled so far"
    assert why_picked("random", True) == "picked at random to get started"
    assert why_picked("random", False) == "picked at random"
    assert why_picked("typiclust", True) == \
        "typical of a dense region not yet labeled (to get started)"
    assert why_picked("probcover", False) == "typical of a dense region not yet labeled"
    assert why_picked("mine", False, 0.5) == "picked by the mine strategy (score 0.5)"
    assert family("badge+ft") == "badge" and family("mine") is None


@pytest.fixture
def project(tmp_path, make_blobs):
    X, _ = make_blobs(((0.0,) * 3, (6.0,) * 3), 60, labels="block", dtype=np.float32)
    labels = ["a" if i in (0, 1) else "b" if i in (58, 59) else None for i in range(60)]
    return create_project(tmp_path / "p", [f"i{i}" for i in range(60)], X, ["a", "b"],
                          labels=labels, batch_size=4)


def test_item_assist_reads_the_projects_model_and_the_stored_pick(project):
    item = project.queue()[0]["item"]
    fresh = item_assist(project, item)
    assert fresh["picked_by"] == "margin" and fresh["cold_start"] is False
    project.prepare_next_batch()  # the worker's round: the project now keeps a trained model
    out = item_assist(project, item)
    model = project.engine().model
    p = model.predict_proba(project.features[item:item + 1])[0]
    assert out["probabilities"] == pytest.approx(dict(zip(["a", "b"], p, strict=True)))
    assert out["suggestion"] == {"label": ["a", "b"][int(p.argmax())],
                                 "probability": pytest.approx(p.max())}
    assert out["why"] == why_picked("margin", False, out["score"], out["probabilities"])
    restarted = item_assist(Project(project.path), item)  # no model in memory: no suggestion
    assert restarted["suggestion"] is None and restarted["probabilities"] is None
    assert restarted["score"] == out["score"] and restarted["why"].startswith("the model was")


def test_an_item_outside_the_queue_has_no_reason(project):
    out = item_assist(project, 0)  # labeled at creation, never queued
    assert out["why"] is None and out["picked_by"] is None


def test_the_reason_comes_from_the_strategys_registration(monkeypatch):
    from labelwise.strategies import STRATEGIES, register, strategy_names

    assert all(STRATEGIES[n].family and STRATEGIES[n].reason for n in strategy_names())
    monkeypatch.setitem(STRATEGIES, "mine", None)  # restored after the test
    register("mine", needs={"proba"}, score=lambda ctx: ctx.proba[:, 0], family="odd",
             reason="odd one out", score_reason="odd by {pct:.0f} points")
    assert why_picked("mine", False) == "odd one out"
    assert why_picked("mine+ft", True) == "odd one out (to get started)"
    assert why_picked("mine", False, 0.25) == "odd by 25 points"
    assert family("mine+ft") == "odd"
