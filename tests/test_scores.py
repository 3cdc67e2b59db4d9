"""Hand-computed values of the uncertainty scores and the top-k selector."""

import numpy as np
import pytest

from labelwise.strategies import scores
from labelwise.strategies.selectors import top_k

# a 3-class example: confident, split between two classes, uniform
P = np.array([[0.7, 0.2, 0.1], [0.4, 0.4, 0.2], [1 / 3, 1 / 3, 1 / 3]])


def test_least_confidence_by_hand():
    np.testing.assert_allclose(scores.least_confidence(P), [0.3, 0.6, 2 / 3])


def test_margin_by_hand():
    np.testing.assert_allclose(scores.margin(P), [0.5, 0.0, 0.0], atol=1e-12)


def test_entropy_by_hand():
    # row 0: 0.7 ln(1/0.7) + 0.2 ln 5 + 0.1 ln 10
    expected = [0.7 * 0.356675 + 0.2 * 1.609438 + 0.1 * 2.302585,
                2 * 0.4 * 0.916291 + 0.2 * 1.609438,
                np.log(3)]
    np.testing.assert_allclose(scores.entropy(P), expected, rtol=1e-5)


def test_entropy_of_a_one_hot_row_is_zero_not_nan():
    assert scores.entropy(np.array([[1.0, 0.0, 0.0]]))[0] == pytest.approx(0.0)


def test_binary_scores_give_the_same_order():
    # footnote of Pretrained Models Are Good Active Learners (2021): for two classes least
    # confidence, margin and entropy coincide in order
    rng = np.random.default_rng(0)
    p1 = rng.uniform(size=200)
    p = np.column_stack([p1, 1 - p1])
    lc = top_k(scores.least_confidence(p), 200)
    mg = top_k(scores.margin(p), 200, largest=False)
    en = top_k(scores.entropy(p), 200)
    np.testing.assert_array_equal(lc, mg)
    np.testing.assert_array_equal(lc, en)


def test_top_k_breaks_ties_by_index_and_orders_best_first():
    s = np.array([0.5, 0.9, 0.5, 0.9, 0.1, 0.5])
    np.testing.assert_array_equal(top_k(s, 3), [1, 3, 0])
    np.testing.assert_array_equal(top_k(s, 4, largest=False), [4, 0, 2, 5])
    np.testing.assert_array_equal(top_k(s, 6), [1, 3, 0, 2, 5, 4])
