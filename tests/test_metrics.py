"""Every metric of docs/methods.md, section "Metrics" on hand-computed tiny inputs."""

import numpy as np
import pytest

from labelwise import metrics as M
from labelwise.validation import LabelwiseError


def test_classification_metrics_include_calibration():
    y = np.array([0, 1])
    p = np.array([[0.8, 0.2], [0.6, 0.4]])
    m = M.classification_metrics(y, p)
    assert m["accuracy"] == 0.5 and m["balanced_accuracy"] == 0.5
    assert m["brier"] == pytest.approx((0.04 + 0.04 + 0.36 + 0.36) / 2)


def test_ece_hand_computed():
    # confidences 0.9 (correct), 0.9 (wrong), 0.6 (correct): bins 14 and 9 of 15
    y = np.array([0, 1, 0])
    p = np.array([[0.9, 0.1], [0.9, 0.1], [0.6, 0.4]])
    expected = 2 / 3 * abs(0.5 - 0.9) + 1 / 3 * abs(1.0 - 0.6)
    assert M.expected_calibration_error(y, p) == pytest.approx(expected)
    # perfectly calibrated: confidence 1 and always right
    assert M.expected_calibration_error(np.array([1]), np.array([[0.0, 1.0]])) == 0.0


def test_brier_three_classes():
    assert M.brier_score(np.array([2]), np.array([[0.2, 0.3, 0.5]])) == pytest.approx(
        0.04 + 0.09 + 0.25)


def test_brier_equals_scikit_learns():
    # binary: scikit-learn's one-column score (p_1 - y)^2 is halved ([0, 1]); ours sums both
    # columns, twice that, on the same [0, 2] scale as K > 2
    import sklearn
    from sklearn.metrics import brier_score_loss

    rng = np.random.default_rng(0)
    p1 = rng.uniform(size=50)
    y = (rng.uniform(size=50) < p1).astype(int)
    assert M.brier_score(y, np.column_stack([1 - p1, p1])) == pytest.approx(
        2 * brier_score_loss(y, p1))
    if tuple(int(x) for x in sklearn.__version__.split(".")[:2]) < (1, 7):
        pytest.skip("multi-class brier_score_loss needs scikit-learn >= 1.7")
    # K = 5 with class 4 absent from y: it still counts (every column is a label)
    p = rng.dirichlet(np.ones(5), size=40)
    y = rng.integers(0, 4, size=40)
    assert M.brier_score(y, p) == pytest.approx(
        brier_score_loss(y, p, labels=np.arange(5), scale_by_half=False))


def test_brier_accepts_float32_rounding():
    # a float32 row summing to 1 + 1e-7 and a probability a hair above 1 (scikit-learn warns on
    # the first and refuses the second)
    y = np.array([0, 1])
    p = np.array([[0.5, 0.25, 0.25], [0.0, 1.0000001, 0.0]], dtype=np.float32)
    assert M.brier_score(y, p) == pytest.approx((0.25 + 0.0625 + 0.0625) / 2, abs=1e-6)


def test_group_accuracies():
    y = np.array([0, 0, 1, 1, 1])
    pred = np.array([0, 1, 1, 1, 0])
    g = np.array([0, 0, 1, 1, 2])
    assert M.per_group_accuracy(y, pred, g) == {0: 0.5, 1: 1.0, 2: 0.0}
    assert M.worst_group_accuracy(y, pred, g) == 0.0


def test_minority_average_precision():
    y = np.array([0, 1, 0, 1])
    p1 = np.array([0.1, 0.9, 0.8, 0.3])  # ranking: 1(+), 2(-), 3(+), 0(-)
    proba = np.stack([1 - p1, p1], axis=1)
    assert M.minority_average_precision(y, proba) == pytest.approx(0.5 * (1 + 2 / 3))


def test_labels_saved_both_readings_by_hand():
    n = np.array([10, 20, 30, 40])
    rand = np.array([0.5, 0.6, 0.7, 0.8])
    strat = np.array([0.5, 0.8, 0.8, 0.9])
    # random's final accuracy 0.8 is first reached at its full budget: both readings 40 / 20
    assert M.labels_saved(n, rand, n, strat) == (pytest.approx(2.0), True)
    assert M.labels_saved(n, rand, n, strat, "first-crossing") == (pytest.approx(2.0), True)
    # interpolated: strategy 0.5 -> 0.9 between 10 and 20 reaches 0.8 at 17.5
    assert M.labels_saved(n, rand, n, np.array([0.5, 0.9, 0.9, 0.9]))[0] == pytest.approx(
        40 / 17.5)
    assert M.area_under_curve(n, rand) == pytest.approx(0.65)


def test_labels_saved_readings_differ_on_a_noisy_random_curve():
    n = np.array([10, 20, 30, 40])
    rand = np.array([0.5, 0.8, 0.7, 0.8])  # touches its final 0.8 at 20 already
    strat = np.array([0.5, 0.6, 0.8, 0.9])  # reaches 0.8 at 30
    # full budget: 40 / 30; first crossing: 20 / 30
    assert M.labels_saved(n, rand, n, strat)[0] == pytest.approx(4 / 3)
    assert M.labels_saved(n, rand, n, strat, "first-crossing")[0] == pytest.approx(2 / 3)
    # random crosses 0.75 between 10 (0.5) and 20 (0.8) at 10 + 10 * 0.25 / 0.3
    rand2 = np.array([0.5, 0.8, 0.7, 0.75])
    assert M.labels_saved(n, rand2, n, strat, "first-crossing")[0] == pytest.approx(
        (10 + 10 * 0.25 / 0.3) / (20 + 10 * 0.15 / 0.2))
    with pytest.raises(LabelwiseError, match="full-budget"):
        M.labels_saved(n, rand, n, strat, "median")


def test_labels_saved_not_reached_is_an_upper_bound():
    n = np.array([10, 20, 30, 40])
    ratio, reached = M.labels_saved(n, np.array([0.5, 0.6, 0.7, 0.8]), n,
                                    np.array([0.5, 0.6, 0.7, 0.75]))
    # needs more than its budget of 40: ratio < 40 / 40
    assert not reached and ratio == 1.0
    ratio, reached = M.labels_saved(n, np.array([0.5, 0.8, 0.7, 0.8]), n,
                                    np.array([0.5, 0.6, 0.7, 0.75]), "first-crossing")
    assert not reached and ratio == pytest.approx(20 / 40)


def test_geometric_mean_ci_on_log_ratios():
    g, lo, hi = M.geometric_mean_ci([2.0, 8.0])
    assert g == pytest.approx(4.0)
    # log ratios ln 2, ln 8: mean ln 4, sd sqrt(2) ln 2, half-width t(0.975, 1) * sd / sqrt(2)
    # = 12.706 ln 2, so the interval is 4 / 2^12.706 to 4 * 2^12.706
    assert lo == pytest.approx(4 / 2**12.706, rel=1e-3)
    assert hi == pytest.approx(4 * 2**12.706, rel=1e-3)
    assert lo > 0 and lo * hi == pytest.approx(g * g)  # multiplicative: g / f to g * f
    one = M.geometric_mean_ci([3.0])
    assert one[0] == pytest.approx(3.0) and np.isnan(one[1]) and np.isnan(one[2])
    with pytest.raises(LabelwiseError, match="positive"):
        M.geometric_mean_ci([1.0, 0.0])


def test_clean_pick_fraction():
    assert M.clean_pick_fraction(np.array([True, False, False, False])) == 0.75
    assert np.isnan(M.clean_pick_fraction(np.array([], bool)))


def test_group_oversampling():
    pool = np.array([0] * 90 + [1] * 10)
    picks = np.array([0] * 8 + [1] * 2)  # group 1: 20% of picks vs 10% of the pool
    over = M.group_oversampling(picks, pool)
    assert over[1] == pytest.approx(1.0)
    assert over[0] == pytest.approx(0.8 / 0.9 - 1)


def test_imbalance_profile_and_ratio():
    labels = np.array([0, 0, 0, 1, 2, 2])
    np.testing.assert_array_equal(M.imbalance_profile(labels, 4), [3, 2, 1, 0])
    # counts 3, 1, 2: mean 2, population std sqrt(2/3)
    assert M.imbalance_ratio(np.array([3, 1, 2])) == pytest.approx(np.sqrt(2 / 3) / 2)
    assert M.imbalance_ratio(np.array([5, 5])) == 0.0


def test_sampling_bias():
    assert M.sampling_bias(np.array([0, 1, 2, 3]), 4) == pytest.approx(0.0)
    assert M.sampling_bias(np.array([1, 1, 1]), 4) == pytest.approx(1.0)
    # two classes of four, half each: 1 - log 2 / log 4 = 0.5
    assert M.sampling_bias(np.array([0, 1]), 4) == pytest.approx(0.5)


def test_relative_query_time():
    assert M.relative_query_time(3.0, 1.5) == 2.0
    assert np.isnan(M.relative_query_time(1.0, 0.0))


def test_ood_auroc():
    assert M.ood_auroc([0.1, 0.2], [0.9, 0.8]) == 1.0
    assert M.ood_auroc([0.1, 0.9], [0.5, 0.6]) == 0.5
    # a "lowest first" score (e.g. margin) flips the sign
    assert M.ood_auroc([0.9, 0.8], [0.1, 0.2], higher_means_ood=False) == 1.0


def test_mean_ci():
    m, h = M.mean_ci([1.0, 3.0])
    assert m == 2.0 and h == pytest.approx(12.706 * np.sqrt(2) / np.sqrt(2), rel=1e-3)
