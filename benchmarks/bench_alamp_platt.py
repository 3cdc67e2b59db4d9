"""alamp on the round where the SVM switches from softmax to Platt probabilities.

alamp (Aggarwal et al. 2022 scores a candidate by (m_prev - m_cur) / (m_prev + m_cur),
the margins of last round's and this round's models. ``SVMLearner(probability="auto")`` maps its
decision values to probabilities by a softmax until every class has 5 labels and by Platt scaling
from then on, so on that round the two margins come from two different scales. This script runs
alamp with the SVM on a synthetic 10-class problem (seed set of 2 per class, batches of 10) up to
the switch round and prints, there and on the rounds around it:

* the fraction of candidates with a positive alamp score, mixed scales ("as is": previous softmax
  vs current Platt) and one scale ("shared": both softmax, ``predict_proba_as``);
* the overlap of the top-10 picks of the two.

    python benchmarks/bench_alamp_platt.py            # 5 seeds, about a minute on 2 cores
    python benchmarks/bench_alamp_platt.py --seeds 2
"""

from __future__ import annotations

import argparse

import numpy as np


def problem(seed: int, n: int = 2500):
    """A 10-class, 20-feature Gaussian-cluster problem (scikit-learn's make_classification)."""
    from sklearn.datasets import make_classification

    return make_classification(n_samples=n, n_features=20, n_informative=12, n_redundant=0,
                               n_classes=10, n_clusters_per_class=1, class_sep=1.5,
                               random_state=seed)


def rounds_around_switch(seed: int, batch: int = 10, max_rounds: int = 30) -> list[dict]:
    """Run alamp (scores on one scale) until the round after the switch; one dict per round."""
    from labelwise.learners import make_learner
    from labelwise.loop import initial_labeled_set
    from labelwise.protocol import shared_proba_mapping
    from labelwise.strategies.scores import alamp

    X, y = problem(seed)
    labeled = list(initial_labeled_set(y, 20, 10, "balanced", random_state=seed))
    previous, out = None, []
    for r in range(max_rounds):
        model = make_learner("svm", 10, random_state=seed).fit(X[labeled], y[labeled])
        cand = np.setdiff1d(np.arange(len(y)), labeled)
        if previous is not None:
            as_is = alamp(previous.predict_proba(X[cand]), model.predict_proba(X[cand]))
            mapping = shared_proba_mapping(previous, model)
            if mapping is None:
                shared = as_is
            else:
                shared = alamp(previous.predict_proba_as(X[cand], mapping),
                               model.predict_proba_as(X[cand], mapping))
            top_a, top_s = np.argsort(-as_is)[:batch], np.argsort(-shared)[:batch]
            out.append({"round": r, "n_labeled": len(labeled),
                        "mappings": f"{previous.proba_mapping_}->{model.proba_mapping_}",
                        "pos_as_is": float((as_is > 0).mean()),
                        "pos_shared": float((shared > 0).mean()),
                        "overlap": len(set(top_a.tolist()) & set(top_s.tolist())) / batch})
            if previous.proba_mapping_ == "platt":  # the round after the switch: done
                return out
            picks = cand[top_s]
        else:
            picks = cand[np.argsort(-alamp(None, model.predict_proba(X[cand])))[:batch]]
        labeled += picks.tolist()
        previous = model
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=5)
    args = parser.parse_args()
    switch, around = [], []
    print(f"{'seed':>4} {'round':>5} {'labels':>6} {'mappings':>16} {'pos as is':>9} "
          f"{'pos shared':>10} {'top-10 overlap':>14}")
    for seed in range(args.seeds):
        rows = rounds_around_switch(seed)
        for row in rows[-3:]:
            print(f"{seed:>4} {row['round']:>5} {row['n_labeled']:>6} {row['mappings']:>16} "
                  f"{row['pos_as_is']:>9.3f} {row['pos_shared']:>10.3f} {row['overlap']:>14.1f}")
            (switch if row["mappings"] == "softmax->platt" else around).append(row)
    for name, rows in [("switch round", switch), ("rounds around it", around)]:
        if rows:
            mean = {k: np.mean([r[k] for r in rows]) for k in ("pos_as_is", "pos_shared",
                                                                "overlap")}
            print(f"{name} (mean of {len(rows)}): positive as is {mean['pos_as_is']:.3f}, "
                  f"shared {mean['pos_shared']:.3f}; top-10 overlap {mean['overlap']:.2f}")


if __name__ == "__main__":
    main()
