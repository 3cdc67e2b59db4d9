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
    estimated_gain,
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
    assert overall_uncertainty(pool) == {"value": pytest.approx(h / 2), "threshold": 0.01,
                                         "stop": False}
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
    assert set(rows[0]) == {*CRITERIA, "recommended", "n_labeled", "stop_set_size"}
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
    assert flat[4]["max_confidence_largest_entropy"] == 0.0
    assert flat[4]["max_confidence_threshold"] == 0.001
    with pytest.raises(LabelwiseError, match="same fixed stop set"):
        m.update(stop_set_pred=base[:50])


def test_monitor_reports_nan_for_what_it_was_not_given():
    row = StoppingMonitor().update(cv_accuracy=0.9)
    assert all(math.isnan(row[c]["value"]) and not row[c]["stop"] for c in CRITERIA)


# ---- the recommended stop ------------------------------------------------------------------
def test_estimated_gain_by_hand():
    proba = np.array([[0.9, 0.1], [0.4, 0.6], [0.5, 0.5]])
    # item 0 kept class 0: 0; item 1 moved 0 -> 1: 0.6 - 0.4 = 0.2; item 2 a tie: 0
    assert estimated_gain(proba, [0, 0, 1]) == pytest.approx(0.2 / 3)
    assert estimated_gain(proba, proba.argmax(axis=1)) == 0.0


class _Model:
    """predict_proba returns a fixed table per row (a stand-in for a fitted learner)."""

    def __init__(self, table):
        self.table = np.asarray(table, dtype=float)

    def predict_proba(self, X):
        return self.table[np.asarray(X[:, 0], dtype=int)]


def _round_tables(n=40):
    """Five models on a 40-item pool: the first two disagree on 8 items, then settle."""
    base = np.tile([0.8, 0.2], (n, 1))
    base[n // 2:] = [0.3, 0.7]
    moved = base.copy()
    moved[:8] = [0.45, 0.55]  # 8 items moved from class 0 to class 1, with little conviction
    return [moved, base, base, base, base]


def test_recommended_stop_reads_models_gain_labels_apart():
    X = np.arange(40)[:, None]
    m = StoppingMonitor(gain_labels=20, gain_threshold=0.01, kappa_window=1)
    rows = [m.observe(_Model(t), X, np.arange(10 * (r + 1)))
            for r, t in enumerate(_round_tables())]
    rec = [r["recommended"] for r in rows]
    # 10, 20 labels: no model 20 labels back yet
    assert [math.isnan(r["value"]) for r in rec[:2]] == [True, True]
    assert "too few rounds" in rec[0]["reason"]
    # 30 labels vs 10: the 8 items moved back to class 0, which the current model prefers by
    # 0.8 - 0.2 = 0.6: gain = 8 * 0.6 / 40 = 0.12, above 0.01
    assert rec[2]["value"] == pytest.approx(0.12) and not rec[2]["stop"]
    assert rec[2]["reason"].startswith("go on: the last 20 labels")
    # 40 labels vs 20: no change, gain 0 < 0.01: stop, and the sentence says why
    assert rec[3]["value"] == 0.0 and rec[3]["stop"]
    assert rec[3]["reason"].startswith("stop: the last 20 labels improved predictions on 40 "
                                       "items by an estimated 0.00 accuracy points (< 1.00)")
    flat = flat_row(rows[3])
    assert flat["recommended_stop"] and flat["recommended_threshold"] == 0.01
    assert flat["stabilizing_predictions_kappa"] == 1.0 and flat["stop_set_size"] == 40


def test_a_restored_monitor_continues_exactly_where_it_stopped():
    X = np.arange(40)[:, None]
    tables = _round_tables()
    whole = StoppingMonitor(gain_labels=20, random_state=3)
    full = [whole.observe(_Model(t), X, np.arange(10 * (r + 1)), picks=[30, 31])
            for r, t in enumerate(tables)]
    half = StoppingMonitor(gain_labels=20, random_state=3)
    for r, t in enumerate(tables[:2]):
        half.observe(_Model(t), X, np.arange(10 * (r + 1)), picks=[30, 31])
    again = StoppingMonitor.from_json(half.to_json())
    rest = [again.observe(_Model(t), X, np.arange(10 * (r + 3)), picks=[30, 31])
            for r, t in enumerate(tables[2:])]
    assert all(_same(a, b) for a, b in zip(again.rows, full, strict=True))
    assert all(_same(a, b) for a, b in zip(rest, full[2:], strict=True))
    np.testing.assert_array_equal(again.stop_set, whole.stop_set)
    assert again.kappas == whole.kappas


def _same(a, b) -> bool:
    fa, fb = flat_row(a), flat_row(b)
    return fa.keys() == fb.keys() and all(
        (isinstance(fa[k], float) and math.isnan(fa[k]) and math.isnan(fb[k])) or fa[k] == fb[k]
        for k in fa)


def test_a_round_counts_once_per_label_count():
    X = np.arange(40)[:, None]
    m = StoppingMonitor()
    first = m.observe(_Model(_round_tables()[0]), X, np.arange(10))
    assert m.observe(_Model(_round_tables()[1]), X, np.arange(10)) is first
    assert len(m.rows) == 1


def test_clear_messages_instead_of_silent_nans():
    X = np.arange(40)[:, None]
    with pytest.raises(LabelwiseError, match=r"stop set \(100 items\) is larger than the pool "
                                             r"\(40 items\)"):
        StoppingMonitor(stop_set_size=100).observe(_Model(_round_tables()[0]), X, [0])
    row = StoppingMonitor().observe(None, X, [0, 1])  # labels of one class: no model
    assert row["recommended"]["reason"].startswith("no model yet: the labels cover fewer than 2")
    assert row["stop_set_size"] == 40  # the default stop set is the whole of a small pool
    with pytest.raises(LabelwiseError, match="not a saved stopping monitor"):
        StoppingMonitor.from_json('{"params": {}}')


# ---- one monitor everywhere ------------------------------------------------------------------
def test_library_app_and_label_studio_give_the_same_rows_for_the_same_labels(tmp_path):
    """``labelwise run``, the labeling app's model step and the Label Studio backend feed the
    same monitor: for the same labels each round they write the same stopping row (max
    confidence aside: it reads the next batch's picks, which each caller draws with its own
    seed, and the Label Studio pool has no batch)."""
    from labelwise.app.create import create_project
    from labelwise.integrations.label_studio import label_config, parse_label_config
    from labelwise.integrations.label_studio_pool import BackendSettings, TaskPool
    from labelwise.loop import initial_labeled_set, run_active_learning

    rng = np.random.default_rng(0)
    y = np.repeat([0, 1], 100)
    X = (rng.normal(size=(200, 3)) + 1.5 * y[:, None]).astype(np.float32)
    names = np.array(["a", "b"])
    recs = run_active_learning(X, y, X, y, strategy="margin", learner="logreg", seed_size=4,
                               batch_size=10, rounds=7, random_state=0)
    seed = initial_labeled_set(y, 4, 2, "balanced", 0)  # the loop's own seed set
    labeled = [np.union1d(seed, np.concatenate([seed] + [r.picks for r in recs[:i]]))
               for i in range(len(recs))]
    assert [len(lab) for lab in labeled] == [r.n_labeled for r in recs]

    project = create_project(tmp_path / "p", [f"i{i}" for i in range(200)], X, list(names),
                             batch_size=10, prepare=False)
    pool = TaskPool(parse_label_config(label_config(list(names), "text")),
                    BackendSettings(strategy="margin"))
    pool.add_tasks([{"id": i, "data": {"text": f"t{i}", "features": x.tolist()}}
                    for i, x in enumerate(X)])
    skip = ("max_confidence_largest_entropy", "max_confidence_stop")
    for r, (rec, idx) in enumerate(zip(recs, labeled, strict=True)):
        engine = project.engine()
        engine.set_labels(idx, names[y[idx]])
        engine.step(10, np.setdiff1d(np.arange(200), idx), random_state=r)
        app = flat_row(_none_to_nan(project._stopping(project.conn, engine, r + 1, len(idx))))
        for i in idx:
            pool.set_annotation(int(i), {"id": 10_000 + int(i), "result": [
                {"from_name": "label", "to_name": "text", "type": "choices",
                 "value": {"choices": [str(names[y[i]])]}}]})
        pool.refresh()
        for other in (app, pool.info["stopping"]):
            assert other.keys() == rec.stopping.keys()
            for k, v in rec.stopping.items():
                if k in skip:
                    continue
                if isinstance(v, float):
                    assert other[k] == pytest.approx(v, abs=1e-9, nan_ok=True), (r, k)
                else:
                    assert other[k] == v, (r, k)
    # the rows did reach the recommended stop's horizon (50 labels back) and the kappa
    assert recs[-1].stopping["recommended_value"] >= 0
    assert np.isfinite(recs[-1].stopping["stabilizing_predictions_kappa"])


def _none_to_nan(out: dict) -> dict:
    from labelwise.stopping import _none_to_nan as f

    return f([out["stopping"]])[0]


def test_a_run_says_why_it_cannot_judge_instead_of_silent_nans():
    from labelwise.loop import run_active_learning

    rng = np.random.default_rng(0)
    y = np.repeat([0, 1], 60)
    X = rng.normal(size=(120, 2)) + 3.0 * y[:, None]
    with pytest.raises(LabelwiseError, match=r"stop set \(500 items\) is larger than the pool "
                                             r"\(120 items\)"):
        run_active_learning(X, y, X, y, seed_size=4, rounds=1, stop_set_size=500)
    # a random seed set of one item is of one class: no model, and the row says so
    recs = run_active_learning(X, y, X, y, strategy="random", seed_set="random", seed_size=1,
                               batch_size=2, rounds=1, random_state=0)
    assert recs[0].stopping["recommended_reason"].startswith("no model yet: the labels cover "
                                                              "fewer than 2 classes")
    assert math.isnan(recs[0].stopping["stabilizing_predictions_kappa"])
