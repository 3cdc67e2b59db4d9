"""Difficulty checks of the spurious-correlation benchmarks: random sampling's group gap and the
spread of a feature set."""

import numpy as np
import pytest

from labelwise.data import spurious as C
from labelwise.experiments.difficulty import (
    effective_rank,
    feature_spread,
    mean_cosine_similarity,
    random_sampling_gap,
)
from labelwise.validation import LabelwiseError


def test_effective_rank_by_hand():
    line = np.outer(np.arange(10.0), [1.0, 2.0, 3.0])  # every row on one line
    assert effective_rank(line) == pytest.approx(1.0)
    square = np.array([[1.0, 0], [-1, 0], [0, 1], [0, -1]])  # two equal singular values
    assert effective_rank(square) == pytest.approx(2.0)
    skew = np.array([[3.0, 0], [-3, 0], [0, 1], [0, -1]])  # singular values 3:1 -> p = .75, .25
    assert effective_rank(skew) == pytest.approx(np.exp(-(0.75 * np.log(0.75)
                                                          + 0.25 * np.log(0.25))))


def test_mean_cosine_by_hand():
    X = np.array([[1.0, 0], [0, 1], [2, 2]])  # pairs: 0, 1/sqrt2, 1/sqrt2
    assert mean_cosine_similarity(X) == pytest.approx(2 / np.sqrt(2) / 3)
    collapsed = np.ones((5, 4)) + 1e-9 * np.arange(20).reshape(5, 4)
    spread = feature_spread(collapsed)
    assert spread["mean_cosine"] == pytest.approx(1.0)
    with pytest.raises(LabelwiseError):
        mean_cosine_similarity(np.ones((1, 3)))


def _attribute_only(n, agreement, seed):
    """Features that see only the attribute (the core is invisible), as a fully spurious cue."""
    core = np.repeat([0, 1], n // 2)
    attr = C.spurious_attribute(core, agreement, seed)
    rng = np.random.default_rng(seed)
    X = np.column_stack([attr * 4.0, np.zeros(n)]) + 0.1 * rng.standard_normal((n, 2))
    return X, core, C.group_of(core, attr)


def test_gap_when_only_the_cue_is_visible():
    X, y, _ = _attribute_only(400, 0.95, 0)
    Xt, yt, gt = _attribute_only(200, 0.5, 1)
    gap = random_sampling_gap(X, y, Xt, yt, gt, budget=40, seeds=3)
    # the model predicts the cue: right on the agreeing groups, wrong on the others
    np.testing.assert_allclose(gap.group_accuracy, [[1.0, 0.0, 0.0, 1.0]] * 3)
    np.testing.assert_allclose(gap.accuracy, 0.5)
    np.testing.assert_allclose(gap.worst_group, 0.0)
    assert gap.gap == pytest.approx(0.5)


def test_no_gap_when_the_core_is_visible():
    X, y, _ = _attribute_only(400, 0.95, 0)
    Xt, yt, gt = _attribute_only(200, 0.5, 1)
    X[:, 1], Xt[:, 1] = 10.0 * y, 10.0 * yt  # a second feature that is the core itself
    gap = random_sampling_gap(X, y, Xt, yt, gt, budget=40, seeds=2)
    assert gap.worst_group.min() == 1.0 and gap.gap == 0.0


def test_gap_checks_its_budget():
    X, y, g = _attribute_only(100, 0.95, 0)
    with pytest.raises(LabelwiseError, match="budget"):
        random_sampling_gap(X, y, X, y, g, budget=5)
    with pytest.raises(LabelwiseError, match="groups_test"):
        random_sampling_gap(X, y, X, y, g[:10], budget=20)
