"""Suites: claims computed by hand on tiny tables, and a tiny suite end to end."""

import numpy as np
import pandas as pd
import pytest

from labelwise.experiments import claims as C
from labelwise.experiments import suite_report as R
from labelwise.experiments import suites as S
from labelwise.experiments.low_budget_suite import FINETUNE_SEEDS
from labelwise.validation import LabelwiseError


def _table(values: dict) -> pd.DataFrame:
    """values: {(strategy, seed): [metric at 10, 20, 30 labels]}."""
    rows = []
    for (strategy, seed), vals in values.items():
        for r, v in enumerate(vals):
            rows.append({"setting": "s", "strategy": strategy, "seed": seed, "round": r,
                         "n_labeled": 10 * (r + 1), "accuracy": v, "query_seconds": 0.1})
    return pd.DataFrame(rows)


def test_compare_hand_computed():
    t = _table({("a", 0): [0.5, 0.6, 0.9], ("a", 1): [0.5, 0.6, 0.8], ("a", 2): [0.5, 0.7, 0.9],
                ("b", 0): [0.5, 0.6, 0.7], ("b", 1): [0.5, 0.6, 0.7], ("b", 2): [0.5, 0.6, 0.8]})
    c = C.compare(t, "s", "a", "b", "accuracy", "a beats b", "fig")
    # final differences 0.2, 0.1, 0.1: mean 0.1333
    assert "+0.133" in c.measured and c.verdict in ("holds", "direction only")
    assert C.compare(t, "s", "b", "a", "accuracy", "b beats a", "fig").verdict == "does not hold"
    assert C.compare(t, "s", "a", "zzz", "accuracy", "x", "fig").verdict == "not run"
    # area under the budget curve of a seed 0: (0.55 + 0.75) / 2 = 0.65; of b seed 0: 0.6
    aubc = C._per_seed(t, "s", "a", "accuracy", how="aubc")
    assert aubc[0] == pytest.approx(0.65)


def test_compare_significance():
    t = _table({**{("a", s): [0.5, 0.9 + 0.01 * s] for s in range(5)},
                **{("b", s): [0.5, 0.7 + 0.012 * s] for s in range(5)}})
    c = C.compare(t, "s", "a", "b", "accuracy", "x", "fig")
    assert c.verdict == "holds" and c.p_value < 0.001


def test_labels_saved_claim_exact():
    # 10, 20, 30, 40 labels; random's final accuracy (the target) is 0.8 on every seed
    t = _table({("random", 0): [0.5, 0.8, 0.7, 0.8], ("al", 0): [0.5, 0.7, 0.9, 0.9],
                ("random", 1): [0.5, 0.6, 0.7, 0.8], ("al", 1): [0.5, 0.85, 0.9, 0.9],
                ("random", 2): [0.6, 0.7, 0.9, 0.8], ("al", 2): [0.6, 0.9, 0.9, 0.95]})
    c = C.labels_saved_claim(t, "s", "al", "random", "x", "fig")
    # al reaches 0.8 at 25 (seed 0), 10 + 10 * 0.3 / 0.35 = 18.571 (1), 10 + 10 * 0.2 / 0.3 =
    # 16.667 (2). Full budget: 40 / those = 1.6, 2.1538, 2.4; geometric mean
    # (1.6 * 2.1538 * 2.4)^(1/3) = 2.0223; log sd 0.20995, t(0.975, 2) = 4.3027: half-width
    # 4.3027 * 0.20995 / sqrt(3) = 0.52155 -> 2.0223 / e^0.52155 = 1.2005 to 2.0223 * e^0.52155
    # = 3.4068
    assert "full budget 2.02x (95% interval 1.20x to 3.41x, 3 seeds)" in c.measured
    # first crossing: random first touches 0.8 at 20 (seed 0), 40 (1), 25 (2): 20 / 25 = 0.8,
    # 2.1538, 25 / 16.667 = 1.5; geometric mean 1.3724, interval 0.3952 to 4.7658
    assert "first crossing 1.37x (95% interval 0.40x to 4.77x, 3 seeds)" in c.measured
    # seed-mean curves: random 0.533, 0.7, 0.767, 0.8 (target 0.8 at 40); al 0.533, 0.817, ...
    # reaches 0.8 at 10 + 10 * 0.2667 / 0.2833 = 19.412: 40 / 19.412 = 2.06
    assert "full budget on the seed-mean curves 2.06x" in c.measured
    # paired t-test of the log full-budget ratios: t = 0.7042 / (0.20995 / sqrt 3) = 5.81, 2 df
    assert c.p_value == pytest.approx(0.0284, abs=2e-4) and c.verdict == "holds"
    assert "*First crossing* = n_r / n_s" in c.note


def test_labels_saved_claim_seeds_that_never_reach():
    t = _table({("random", 0): [0.5, 0.6, 0.8], ("al", 0): [0.5, 0.8, 0.9],   # 30 / 20 = 1.5
                ("random", 1): [0.5, 0.6, 0.8], ("al", 1): [0.5, 0.7, 0.75]})  # < 30 / 30
    c = C.labels_saved_claim(t, "s", "al", "random", "x", "fig")
    # geometric mean of 1.5 and the bound 1.0: sqrt(1.5) = 1.22, an upper bound
    assert "full budget ≤ 1.22x (reached in 1 of 2 seeds" in c.measured
    assert c.verdict == "direction only"
    never = _table({("random", 0): [0.5, 0.6, 0.8], ("al", 0): [0.5, 0.6, 0.7],
                    ("random", 1): [0.5, 0.8, 0.8], ("al", 1): [0.5, 0.6, 0.7]})
    c = C.labels_saved_claim(never, "s", "al", "random", "x", "fig")
    # bounds 30 / 30 (full budget); first crossing 30 / 30 and 20 / 30
    assert "full budget not reached (< 1.00x) in any of 2 seeds" in c.measured
    assert "first crossing not reached (< 1.00x) in any of 2 seeds" in c.measured
    assert c.verdict == "does not hold"
    assert C.labels_saved_claim(t, "s", "al", "zzz", "x", "fig").verdict == "not run"


def test_oversampling_and_clean_claims():
    picks = pd.DataFrame({"setting": "s", "strategy": ["u"] * 8 + ["r"] * 8,
                          "seed": [0, 0, 0, 0, 1, 1, 1, 1] * 2,
                          "group": [1, 2, 0, 3, 1, 0, 0, 3, 0, 0, 0, 1, 0, 0, 0, 0],
                          "label": 0})
    o = C.oversampling_claim(picks, "s", "u", (1, 2), 0.25, "x", "fig")
    # seed 0: 2/4 picks in groups 1,2 -> 0.5/0.25 - 1 = 1; seed 1: 1/4 -> 0: mean 0.5
    assert "+0.50" in o.measured
    cl = C.clean_claim(picks, "s", "r", "u", "x", "fig")
    # clean = group 0: r 7/8, u 3/8
    assert "87.5%" in cl.measured and "37.5%" in cl.measured


def test_every_suite_has_specs_and_claims():
    assert set(S.SUITES) == {"pretrained", "pretrained-finetune", "uncertainty-vs-diversity",
                             "heteroskedastic", "heteroskedastic-scratch", "low-budget",
                             "sampling-bias", "cold-start"}
    for s in S.SUITES.values():
        quick, full = s.specs(True, 2), s.specs(False, 2)
        assert 0 < len(quick) <= len(full)
        assert len({(x.tag, x.strategy, x.seed, x.learner) for x in full}) == len(full)


@pytest.mark.parametrize("quick", [True, False])
def test_seed_sets_as_each_paper_draws_them(quick):
    # random everywhere the papers say so; class-balanced for the pretrained-models paper (its
    # public code) and the 2-D Gaussians (a random 5-label warm-up can hold one class)
    def kinds(name):
        return {(sp.tag, sp.seed_set) for sp in S.SUITES[name].specs(quick, 2)}

    for name in ("heteroskedastic", "heteroskedastic-scratch", "low-budget", "sampling-bias"):
        assert {k for _, k in kinds(name)} == {"random"}, name
    assert {k for _, k in kinds("pretrained")} == {"balanced"}
    assert {k for _, k in kinds("pretrained-finetune")} == {"balanced"}
    assert kinds("uncertainty-vs-diversity") == {
        ("gaussians", "balanced"), ("mnist5k low query", "random"),
        ("mnist5k high query", "random"), ("imbalanced binary", "random")}
    # cold-start: each kind picks its own seed set; margin continues from each of them
    cold = S.SUITES["cold-start"].specs(quick, 2)
    assert {(sp.strategy, sp.seed_set) for sp in cold} == {
        ("random", "random"), ("typiclust", "typiclust"), ("probcover", "probcover"),
        ("margin", "random"), ("margin", "typiclust"), ("margin", "probcover")}
    assert all(s.seed_set for s in S.SUITES.values())  # each says why, in its report


def test_heteroskedastic_scratch_is_the_cnn_on_raw_pixels_with_the_same_claims():
    scratch = S.SUITES["heteroskedastic-scratch"]
    assert scratch.claims is S.SUITES["heteroskedastic"].claims
    for quick, n in ((True, 3 * 6 * 3), (False, 3 * 13 * 3)):
        specs = scratch.specs(quick, 3)
        assert len(specs) == n and {sp.learner for sp in specs} == {"cnn"}
        assert {dict(sp.dataset_params)["encoder"] for sp in specs} == {"identity"}
        # seed by seed, the claims' strategies first within a seed: an interrupted grid leaves
        # what the paired claims compare
        assert [sp.seed for sp in specs] == sorted(sp.seed for sp in specs)
        assert {(sp.strategy, sp.seed) for sp in specs[:12]} == {
            (s, 0) for s in ("coreset", "least_confidence", "least_confidence+ft", "lhd+ft")}


def test_unknown_suite():
    with pytest.raises(LabelwiseError, match="low-budget"):
        S.run_suite("nope")


def test_tiny_suite_end_to_end(tmp_path, monkeypatch):
    def specs(quick, seeds):
        return S._grid([("gaussians", "gaussians", {"n": 300, "n_test": 200}, {})],
                       ["random", "margin", "no_such_strategy"], seeds, learner="logreg",
                       seed_size=4, batch_size=4, rounds=3)

    def claims(results, picks):
        return [C.compare(results, "gaussians", "margin", "random", "accuracy", "m > r", "f"),
                C.compare(results, "gaussians", "no_such_strategy", "random", "accuracy",
                          "absent", "f"),
                C.labels_saved_claim(results, "gaussians", "margin", "random", "saves", "f"),
                C.labels_saved_claim(results, "gaussians", "margin", "random", "again", "f")]

    monkeypatch.setitem(S.SUITES, "tiny", S.Suite("tiny", "deep-al-study", "tiny", specs, claims,
                                                  "toy"))
    out = S.run_suite("tiny", seeds=2, out=tmp_path, n_jobs=1, progress=False)
    res = pd.read_csv(out / "results.csv")
    assert len(res) == 2 * 2 * 4 and set(res.strategy) == {"random", "margin"}
    report = (out / "report.md").read_text()
    assert "| m > r (f) |" in report and "**not run**" in report
    # the definition of labels saved is printed once under the table, however many claims use it
    assert report.count("*Full budget* (the paper's reading) = B / n_s") == 1
    assert "\nSeed sets: balanced, 4 labels.\n" in report
    assert "run_seconds" in report.split("## Final round")[1]  # time per run (Khosla et al. 2022)
    assert "no_such_strategy" in report.split("## Not run here")[1]
    assert (out / "accuracy.png").exists() and (out / "composition.png").exists()
    assert len(list((out / "runs").glob("*.json"))) == 4
    np.testing.assert_allclose(res.sampling_bias.dropna().between(0, 1), True)
    # --report-only: nothing runs, the report covers the finished runs and says what is missing
    next((out / "runs").glob("*.json")).unlink()
    S.run_suite("tiny", seeds=2, out=tmp_path, report_only=True, progress=False)
    assert "**Partial**: 1 run of the grid" in (out / "report.md").read_text()
    assert len(pd.read_csv(out / "results.csv")) == 3 * 4
    for f in (out / "runs").glob("*.json"):
        f.unlink()
    with pytest.raises(LabelwiseError, match="no finished runs"):
        S.run_suite("tiny", seeds=2, out=tmp_path, report_only=True, progress=False)


def test_compare_across_settings():
    t = pd.concat([_table({("r", 0): [0.5, 0.9], ("r", 1): [0.5, 0.8]}),
                   _table({("r", 0): [0.5, 0.6], ("r", 1): [0.5, 0.7]}).assign(setting="t")])
    c = C.compare(t, "s", "r", "r", "accuracy", "svm beats ft", "fig", setting_b="t")
    # final differences 0.3 and 0.1: mean +0.200
    assert "+0.200" in c.measured and "r (s) − r (t)" in c.measured
    assert c.verdict in ("holds", "direction only")


def _fake_tables(specs, rng):
    """Results and picks shaped like run_one's for every spec, with random metric values."""
    rows, picks = [], []
    metrics = ("accuracy", "worst_group_accuracy", "minority_ap", "sampling_bias",
               "imbalance_ratio", "ece", "brier", "ood_auroc")
    from labelwise.stopping import CRITERIA, value_column
    for sp in specs:
        keys = {"setting": sp.tag, "strategy": sp.strategy, "learner": sp.learner,
                "seed": sp.seed}
        for r in range(sp.rounds + 1):
            rows.append({**keys, "round": r, "n_labeled": sp.seed_size + r * sp.batch_size,
                         "query_seconds": rng.random(), "seed_set": sp.seed_set,
                         **{m: rng.random() for m in metrics},
                         **{value_column(c): rng.random() for c in CRITERIA},
                         **{f"{c}_stop": bool(r >= 1) for c in CRITERIA}})
            picks += [{**keys, "round": r, "label": int(rng.integers(2)),
                       "group": int(rng.integers(4))} for _ in range(3)]
    return pd.DataFrame(rows), pd.DataFrame(picks)


@pytest.mark.parametrize("quick", [True, False])
@pytest.mark.parametrize("name", sorted(S.SUITES))
def test_every_claim_finds_its_runs_in_the_grid(name, quick):
    # the claims name settings and strategies: each must be in the suite's own grid (the quick
    # grid leaves out fine-tuning only)
    suite = S.SUITES[name]
    results, picks = _fake_tables(suite.specs(quick, 3), np.random.default_rng(0))
    claims = suite.claims(results, picks)
    assert claims
    for c in claims:
        if quick and "fine-tuning the network" in c.text:
            assert c.verdict == "not run"
            continue
        assert c.verdict in ("holds", "direction only", "does not hold"), (c.text, c.measured)


def test_full_low_budget_grid_fine_tunes_on_raw_images():
    ft = [s for s in S.SUITES["low-budget"].specs(False, 2) if s.learner == "finetune-image"]
    assert {s.strategy for s in ft} == {"random", "margin"}
    assert all(dict(s.dataset_params)["encoder"] == "items" for s in ft)
    assert {s.tag for s in ft} == {"balanced fine-tuned"}


def test_low_budget_fine_tuning_runs_stop_at_their_seed_cap():
    specs = S.SUITES["low-budget"].specs(False, 5)
    ft_seeds = {s.seed for s in specs if s.learner == "finetune-image"}
    svm_seeds = {s.seed for s in specs if s.learner == "svm"}
    assert ft_seeds == set(range(FINETUNE_SEEDS)) and svm_seeds == set(range(5))


def test_balanced_items_dataset_indexes_raw_images(monkeypatch):
    from labelwise.experiments import benchdata

    raw = np.arange(5 * 4 * 4, dtype=np.uint8).reshape(5, 4, 4)
    monkeypatch.setattr(benchdata, "_source",
                        lambda *a, **k: (raw[:3], np.array([0, 1, 0]), raw[3:],
                                         np.array([1, 0]), ["a", "b"]))
    ds = benchdata.build_bench_dataset("balanced", encoder="items")
    assert ds.X_train[:, 0].tolist() == [0, 1, 2] and ds.X_test[:, 0].tolist() == [3, 4]
    assert len(ds.info["items"]) == 5
    np.testing.assert_array_equal(ds.info["items"][4], raw[4])


def test_plot_settings_skips_settings_without_the_metric(tmp_path):
    t = pd.concat([_table({("a", 0): [0.5, 0.6]}).assign(minority_ap=0.3),
                   _table({("a", 0): [0.5, 0.7]}).assign(setting="t")])  # no minority_ap
    assert R.plot_settings(t, tmp_path / "ap.png", "minority_ap", "x") == tmp_path / "ap.png"
    assert (tmp_path / "ap.png").stat().st_size > 0
    assert R.plot_settings(t, tmp_path / "no.png", "ece", "x") is None


def test_cold_start_budgets_are_rounds_of_k_labels():
    specs = S.SUITES["cold-start"].specs(False, 5)
    cold = [sp for sp in specs if sp.strategy == sp.seed_set]
    # K labels (one per class on average) a round: rounds 0, 1, 4 are 1, 2 and 5 per class
    assert {(sp.tag, sp.seed_size, sp.batch_size, sp.rounds) for sp in cold} == {
        ("mnist5k", 10, 10, 4), ("fashion-mnist", 10, 10, 4), ("bbc-news", 5, 5, 4)}
    assert all(sp.learner == "logreg" for sp in specs)
    assert len(specs) == 3 * 6 * 5


def test_compare_at_round_by_hand():
    t = _table({("t", 0): [0.6, 0.9], ("t", 1): [0.5, 0.9],
                ("r", 0): [0.4, 0.9], ("r", 1): [0.4, 0.8]})
    c = C.compare_at_round(t, "s", "t", "r", "accuracy", 0, "t beats r", "fig")
    # at round 0 (10 labels): differences 0.2 and 0.1, mean +0.150; t 0.55, r 0.40
    assert c.measured.startswith("accuracy at 10 labels: t 0.550 ± ")
    assert "vs r 0.400 ± 0.000; difference +0.150 ± " in c.measured
    assert c.verdict in ("holds", "direction only")
    assert C.compare_at_round(t, "s", "t", "r", "accuracy", 5, "x", "f").verdict == "not run"
    # b from another setting: the same strategy from another start
    u = pd.concat([t, t[t.strategy == "r"].assign(setting="u", strategy="t")])
    c = C.compare_at_round(u, "s", "t", "t", "accuracy", 0, "x", "f", setting_b="u")
    assert "t (s) 0.550" in c.measured and "vs t (u) 0.400" in c.measured


def test_seed_set_line_lists_every_kind_of_a_setting():
    specs = S._grid([("toy", "gaussians", {}, {})], ["random"], 1, learner="logreg",
                    seed_set="random", seed_size=4)
    specs += S._grid([("toy", "gaussians", {}, {})], ["typiclust"], 1, learner="logreg",
                     seed_set="typiclust", seed_size=4)
    suite = S.Suite("tiny", "x", "tiny", lambda q, s: specs, lambda r, p: [], "toy")
    assert R._seed_set_line(suite, True, 1).startswith(
        "Seed sets: random, 4 labels / typiclust, 4 labels.")


def _stop_table(stops_per_seed, accs):
    t = _table({("m", seed): accs for seed in range(len(stops_per_seed))})
    t["stabilizing_predictions_kappa"] = 0.5
    t["stabilizing_predictions_stop"] = [s for stops in stops_per_seed for s in stops]
    return t


def test_stopping_claim_by_hand():
    # both seeds stop at round 1 (20 labels): accuracy 0.80 there, 0.805 at the end
    t = _stop_table([[False, True, False], [False, True, True]], [0.7, 0.8, 0.805])
    c = C.stopping_claim(t, ["s"], "stabilizing_predictions", "little lost", "fig")
    assert "fired in 2/2 runs, at round 1.0 (20 of 30 labels)" in c.measured
    assert "+0.005" in c.measured
    assert c.verdict == "holds"  # 0.01 - 0.005 > 0 on both seeds: p = 0
    lossy = _stop_table([[False, True, False], [False, True, True]], [0.7, 0.8, 0.9])
    assert C.stopping_claim(lossy, ["s"], "stabilizing_predictions", "x", "f").verdict == (
        "does not hold")
    # firing in fewer than half the runs is no stopping rule
    rare = _stop_table([[False, False, True], [False, False, False], [False] * 3],
                       [0.7, 0.8, 0.8])
    c = C.stopping_claim(rare, ["s"], "stabilizing_predictions", "x", "f")
    assert c.verdict == "does not hold" and "fired in 1/3 runs" in c.measured
    never = _stop_table([[False] * 3], [0.7, 0.8, 0.8])
    c = C.stopping_claim(never, ["s"], "stabilizing_predictions", "x", "f")
    assert c.measured == "never fired within the budget (1 runs)"
    assert C.stopping_claim(never, ["other"], "stabilizing_predictions", "x", "f").verdict == (
        "not run")


def test_suite_report_says_when_to_stop(tmp_path):
    t = _stop_table([[False, True, False], [False, True, True]], [0.7, 0.8, 0.805])
    suite = S.Suite("tiny", "hacohen2022", "tiny", lambda q, s: [], lambda r, p: [], "toy")
    R.write_suite_report(suite, t, pd.DataFrame(columns=["setting", "strategy", "label"]),
                         tmp_path, skipped={}, seconds=1.0, quick=True, seeds=2,
                         executor="local")
    text = (tmp_path / "report.md").read_text().split("## When to stop")[1]
    assert "| s | m | round 1.0 (20 of 30 labels): +0.005 ± 0.000 (2/2) |" in text


def test_panels_wrap_four_to_a_row(tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from labelwise.experiments.report import panels

    fig, axes = panels(plt, 6)
    assert len(axes) == 6 and fig.get_size_inches().tolist() == pytest.approx([16.8, 7.2])
    assert sum(ax.get_visible() for ax in fig.axes) == 6  # the 2 spare panels are hidden
    plt.close(fig)


@pytest.mark.parametrize("quick", [True, False])
@pytest.mark.parametrize("name", ["pretrained", "pretrained-finetune"])
def test_pretrained_claims_find_their_settings(name, quick):
    # a results/picks table with every (setting, strategy, seed) of the grid: no claim may read
    # "not run" (a tag that a claim looks for and the grid does not make, or the reverse)
    specs = S.SUITES[name].specs(quick, 2)
    rows, picks = [], []
    for sp in specs:
        for r in range(3):
            rows.append({"setting": sp.tag, "strategy": sp.strategy, "seed": sp.seed, "round": r,
                         "n_labeled": 10 * (r + 1), "accuracy": 0.5 + 0.1 * r + 0.01 * sp.seed,
                         "worst_group_accuracy": 0.2 + 0.1 * r + 0.001 * len(sp.tag) * (
                             sp.strategy == "random")})
        picks += [{"setting": sp.tag, "strategy": sp.strategy, "seed": sp.seed, "group": g,
                   "label": g // 2} for g in (0, 1, 2, 3)]
    claims = S.SUITES[name].claims(pd.DataFrame(rows), pd.DataFrame(picks))
    assert claims and not [c.text for c in claims if c.verdict == "not run"]
    tags = {sp.tag for sp in specs}
    if name == "pretrained-finetune":  # both networks fine-tuned, on the raw items
        assert {dict(sp.learner_params)["pretrained"] for sp in specs} == {True, False}
        assert {sp.learner for sp in specs} == {"finetune-image", "finetune-text"}
        assert {dict(sp.dataset_params)["encoder"] for sp in specs} == {"items"}
        return
    assert len(claims) == 10
    assert {"image random-init agreement=0.95", "text random-init agreement=0.95"} <= tags
    agreements = {t.split("=")[1] for t in tags if t.startswith("image agreement=")}
    assert agreements == ({"0.5", "0.95"} if quick else {"0.5", "0.7", "0.8", "0.9", "0.95"})
