"""The ``sampling-bias`` suite (Krishnan et al. 2021): sampling bias, calibration, query time
and OOD separation of seven strategies on balanced and long-tailed Fashion-MNIST."""

from __future__ import annotations

from labelwise.experiments.simulate import RunSpec
from labelwise.experiments.suite_base import QUICK_MLP, grid, suite


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
        return grid(settings, strategies, seeds, learner="mlp", seed_size=20,
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
