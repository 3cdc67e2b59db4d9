"""Stopping criteria on sequences worked out by hand."""

import math

import numpy as np
import pytest

from labelwise.stopping import (
    CRITERIA,
    StoppingMonitor,
    accuracy_plateau,
    agreement_kappa,
    draw_stop_set,
    first_stop_round,
    flat_row,
    max_confidence,
    overall_uncertainty,
    stabilizing_predictions,
)
from labelwise.validation import LabelwiseError


def test_kappa_by_hand():
    # agreement 3/4; class 0 rates 1/2 and 1/4 -> chance 1/2 * 1/4 + 1/2 * 3/4 = 1/2
    # kappa = (3/4 - 1/2) / (1 - 1/2) = 1/2
    assert agreement_kappa([0, 0, 1, 1], [0, 1, 1, 1]) == pytest.approx(0.5)
    # agreement 1/2 equals chance (1/2 * 1/2 + 1/2 * 1/2): 0
    assert agreement_kappa([0, 1, 0, 1], [0, 0, 1, 1]) == pytest.approx(0.0)


def test_kappa_of_constant_predictions():
    assert agreement_kappa([2, 2, 2], [2, 2, 2]) == 1.0  # 0/0 in the formula
    assert agreement_kappa([1, 1, 1], [2, 2, 2]) == 0.0
    with pytest.raises(LabelwiseError, match="same items"):
        agreement_kappa([0, 1], [0, 1, 1])


def test_mean_of_the_last_three_kappas_crosses_the_threshold_at_a_known_round():
    kappas = [0.8, 0.95, 0.99, 0.995, 0.998, 0.999]
    rows = [stabilizing_predictions(kappas[: i + 1]) for i in range(len(kappas))]
    assert [math.isnan(r["value"]) for r in rows[:2]] == [True, True]
    # (0.8 + 0.95 + 0.99) / 3 = 0.91333;  (0.95 + 0.99 + 0.995) / 3 = 0.97833;
    # (0.99 + 0.995 + 0.998) / 3 = 0.99433 > 0.99
    np.testing.assert_allclose([r["value"] for r in rows[2:5]], [0.913333, 0.978333, 0.994333],
                               rtol=1e-5)
    assert [r["stop"] for r in rows] == [False, False, False, False, True, True]
    assert first_stop_round(rows) == 4
    # exactly 0.99 does not stop (the paper: "exceeds")
    assert not stabilizing_predictions([0.99, 0.99, 0.99])["stop"]


def test_overall_uncertainty_and_max_confidence_by_hand():
    h = -(0.5 * math.log(0.5)) * 2  # entropy of (1/2, 1/2) = ln 2
    pool = np.array([[0.5, 0.5], [1.0, 0.0]])
    assert overall_uncertainty(pool) == {"value": pytest.approx(h / 2), "stop": False}
    assert overall_uncertainty(pool, threshold=0.4)["stop"]  # ln 2 / 2 = 0.3466 < 0.4
    picks = np.array([[0.9, 0.1], [1.0, 0.0]])
    h09 = -(0.9 * math.log(0.9) + 0.1 * math.log(0.1))  # 0.3251
    assert max_confidence(picks)["value"] == pytest.approx(h09)
    assert not max_confidence(picks)["stop"]
    assert max_confidence(np.array([[1.0, 0.0], [0.99995, 0.00005]]))["stop"]  # 0.00054 < 0.001
    assert math.isnan(overall_uncertainty(np.zeros((0, 2)))["value"])


def test_plateau_rule_by_hand():
    acc = [0.5, 0.6, 0.7, 0.703, 0.704, 0.702]
    rows = [accuracy_plateau(acc[: i + 1]) for i in range(len(acc))]
    # gains of the best of the last 3 over the best before: 0.703 - 0.5, 0.704 - 0.6,
    # 0.704 - 0.7 = 0.004 <= 0.005 -> stop at position 5
    np.testing.assert_allclose([r["value"] for r in rows[3:]], [0.203, 0.104, 0.004], atol=1e-12)
    assert first_stop_round(rows) == 5
    # missing estimates are skipped, a drop is no gain
    assert accuracy_plateau([0.7, None, 0.6, float("nan"), 0.65, 0.69])["stop"]


def test_stop_set_is_drawn_once_seeded_and_capped():
    a = draw_stop_set(5000, 1000, 3)
    assert len(a) == 1000 and len(np.unique(a)) == 1000 and np.all(np.diff(a) > 0)
    np.testing.assert_array_equal(a, draw_stop_set(5000, 1000, 3))
    np.testing.assert_array_equal(draw_stop_set(40, 1000, 3), np.arange(40))


def test_monitor_rows_and_first_stop():
    m = StoppingMonitor()
    base = np.array([0, 1] * 50)
    flips = [base.copy() for _ in range(5)]
    flips[1][:10] = 1 - flips[1][:10]  # round 1 differs from round 0 on 10 items
    rows = []
    for t, pred in enumerate(flips):
        proba = np.tile([0.5, 0.5], (4, 1)) if t < 4 else np.tile([1.0, 0.0], (4, 1))
        rows.append(m.update(stop_set_pred=pred, pool_proba=proba, picks_proba=proba[:2],
                             cv_accuracy=[0.5, 0.7, 0.8, 0.801, 0.802][t]))
    assert set(rows[0]) == set(CRITERIA)
    assert math.isnan(rows[0]["stabilizing_predictions"]["value"])
    # kappas: rounds 0-1 differ on 10 of 100 (kappa 0.8), 1-2 likewise, then 1, 1
    np.testing.assert_allclose(m.kappas, [0.8, 0.8, 1.0, 1.0])
    assert rows[3]["stabilizing_predictions"]["value"] == pytest.approx((0.8 + 0.8 + 1) / 3)
    assert first_stop_round(rows, "stabilizing_predictions") is None  # (0.8 + 1 + 1) / 3
    assert first_stop_round(rows, "overall_uncertainty") == 4
    assert first_stop_round(rows, "max_confidence") == 4
    # accuracy gains: 0.801 - 0.5, then 0.802 - 0.7
    assert first_stop_round(rows, "accuracy_plateau") is None
    flat = [flat_row(r) for r in rows]
    assert first_stop_round(flat, "overall_uncertainty") == 4
    assert flat[4]["max_confidence_value"] == 0.0
    with pytest.raises(LabelwiseError, match="same fixed stop set"):
        m.update(stop_set_pred=base[:50])


def test_monitor_reports_nan_for_what_it_was_not_given():
    row = StoppingMonitor().update(cv_accuracy=0.9)
    assert all(math.isnan(row[c]["value"]) and not row[c]["stop"] for c in CRITERIA)
