"""How hard a spurious-correlation benchmark is, measured before any active learning runs.

Two checks for the setting of Pretrained Models Are Good Active Learners (2021):

- :func:`random_sampling_gap`: the learner trained on a random labeled set of the budget (a
  balanced seed set plus uniform random picks, exactly what the suite's ``random`` runs label),
  scored on the test set: average accuracy, worst-group accuracy and the gap between them. If
  random sampling's worst group is already close to its average, there is nothing for uncertainty
  sampling to disambiguate.
- :func:`feature_spread`: whether a feature set is collapsed (every input mapped to nearly the
  same vector): mean pairwise cosine similarity of the raw features and effective rank of the
  centred ones. A random-init control whose features are collapsed measures nothing.

``python -m labelwise.experiments.difficulty [--quick]`` prints both for the ``pretrained``
suite's constructions (a markdown table).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from labelwise.validation import LabelwiseError, check_positive_int


@dataclass(frozen=True)
class Gap:
    """Random sampling at one budget, over seeds: ``accuracy``, ``worst_group`` (n_seeds,) each;
    ``group_accuracy`` (n_seeds, n_groups) in sorted group order."""

    budget: int
    accuracy: np.ndarray
    worst_group: np.ndarray
    group_accuracy: np.ndarray

    @property
    def gap(self) -> float:
        """Mean over seeds of average − worst-group accuracy."""
        return float(np.mean(self.accuracy - self.worst_group))


def random_sampling_gap(X_pool: np.ndarray, y_pool: np.ndarray, X_test: np.ndarray,
                        y_test: np.ndarray, groups_test: np.ndarray, budget: int,
                        seeds: int = 5, learner: str = "logreg", seed_size: int = 10,
                        seed_set: str = "balanced", learner_params: dict | None = None) -> Gap:
    """Average and worst-group test accuracy of ``learner`` on random labeled sets of ``budget``.

    Each seed labels a ``seed_set`` seed set of ``seed_size`` and ``budget - seed_size`` uniform
    random picks (one round of :func:`labelwise.loop.run_active_learning` with ``random``: the
    same labeled sets as a suite's random runs, whatever their batch size), fits the learner and
    scores it.

    Args:
        X_pool, y_pool: (n, d) features, (n,) labels of the pool.
        X_test, y_test, groups_test: (m, d), (m,), (m,) test features, labels and groups.
        budget: labels in all, seed set included.

    Returns:
        a :class:`Gap` with one value per seed.
    """
    from labelwise.loop import run_active_learning
    from labelwise.metrics import per_group_accuracy

    budget = check_positive_int(budget, "budget")
    seeds = check_positive_int(seeds, "seeds")
    if not seed_size < budget <= len(y_pool):
        raise LabelwiseError(f"budget must lie in ({seed_size}, {len(y_pool)}] (the seed set "
                             f"to the pool size), got {budget}")
    groups_test = np.asarray(groups_test)
    if len(groups_test) != len(y_test):
        raise LabelwiseError(f"groups_test has {len(groups_test)} entries for "
                             f"{len(y_test)} test items")
    accs, worst, per_group = [], [], []
    for seed in range(seeds):
        last = {}

        def evaluate(model, labeled, proba, last=last):
            last["groups"] = per_group_accuracy(y_test, proba.argmax(1), groups_test)
            return {}

        records = run_active_learning(
            X_pool, y_pool, X_test, y_test, strategy="random", learner=learner,
            seed_size=seed_size, seed_set=seed_set, batch_size=budget - seed_size, rounds=1,
            random_state=seed, learner_params=learner_params, evaluate=evaluate)
        accs.append(records[-1].metrics["accuracy"])
        group_acc = [last["groups"][g] for g in sorted(last["groups"])]
        worst.append(min(group_acc))
        per_group.append(group_acc)
    return Gap(budget, np.array(accs), np.array(worst), np.array(per_group))


def effective_rank(X: np.ndarray) -> float:
    """exp(entropy) of the normalised singular values of the centred ``X`` (n, d) (Roy &
    Vetterli 2007): 1 when every row lies on one line, min(n - 1, d) when the spread is even."""
    X = np.asarray(X, dtype=np.float64)
    if X.ndim != 2 or len(X) < 2:
        raise LabelwiseError(f"effective rank needs an (n >= 2, d) array, got shape {X.shape}")
    s = np.linalg.svd(X - X.mean(axis=0), compute_uv=False)
    if s.sum() <= 0:
        return 1.0
    p = s / s.sum()
    p = p[p > 0]
    return float(np.exp(-(p * np.log(p)).sum()))


def mean_cosine_similarity(X: np.ndarray) -> float:
    """Mean cosine similarity over all pairs of distinct rows of ``X`` (n, d), uncentred."""
    X = np.asarray(X, dtype=np.float64)
    if X.ndim != 2 or len(X) < 2:
        raise LabelwiseError(f"cosine similarity needs an (n >= 2, d) array, got {X.shape}")
    U = X / np.maximum(np.linalg.norm(X, axis=1, keepdims=True), 1e-12)
    n = len(U)
    total = np.square(U.sum(axis=0)).sum() - np.square(U).sum()  # sum over i != j of u_i.u_j
    return float(total / (n * (n - 1)))


def feature_spread(X: np.ndarray, sample: int = 1000, random_state=0) -> dict[str, float]:
    """{"mean_cosine", "effective_rank"} of a seeded sample of ``sample`` rows of ``X`` (n, d)."""
    X = np.asarray(X)
    if len(X) > sample:
        X = X[np.random.default_rng(random_state).choice(len(X), sample, replace=False)]
    return {"mean_cosine": mean_cosine_similarity(X), "effective_rank": effective_rank(X)}


def _checks(quick: bool) -> list[tuple[str, str, dict, bool]]:
    """(label, bench data set, params at pool agreement 0.95, with the random-init control) of
    the ``pretrained`` suite's constructions; without ``quick``, also the weaker image cues that
    show how its strength was chosen, and the sentiment corpus tried first for texts."""
    from labelwise.experiments.pretrained_suite import PRETRAINED_DATA

    image, text = PRETRAINED_DATA["image"], PRETRAINED_DATA["text"]
    out = [(f"image, {image['cue']} strength {image['strength']}", "spurious", image, True),
           (f"text ({text['source']}), phrase x{text['repeats']}", "spurious-text", text, True)]
    if not quick:
        out[1:1] = [("image, tint strength 1.0 (the earlier cue)", "spurious",
                     {**image, "cue": "tint", "strength": 1.0}, False),
                    ("image, stripes strength 0.5", "spurious", {**image, "strength": 0.5},
                     False)]
        out.append(("text (rotten-tomatoes sentiment), phrase x1", "spurious-text",
                    {**text, "source": "rotten-tomatoes", "pool": 2000, "test": 800}, False))
    return out


def report(quick: bool = False, seeds: int = 5) -> str:
    """A markdown table: for each construction of the ``pretrained`` suite (pool agreement 0.95,
    test 0.5), random sampling's average and worst-group accuracy at the quick and full budgets
    on the features the suite uses, and the spread of the raw and the suite's features."""
    from labelwise.experiments.benchdata import build_bench_dataset
    from labelwise.experiments.pretrained_suite import PRETRAINED_ROUNDS, RANDOM_INIT

    lines = ["| construction | encoder | budget | random: accuracy | worst group | gap | "
             "pool agreement 0.5: accuracy | worst group | raw: mean cosine | raw: effective "
             "rank | as used: mean cosine | as used: effective rank |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for label, name, params, control in _checks(quick):
        for enc in [params["encoder"]] + ([RANDOM_INIT[params["encoder"]]] if control else []):
            used = {**params, "encoder": enc, "agreement": 0.95}
            raw = build_bench_dataset(name, **{**used, "standardized": False})
            ds = build_bench_dataset(name, **used)
            # the same images or texts with a cue that says nothing: do the features carry the
            # core at all?
            even = build_bench_dataset(name, **{**used, "agreement": 0.5})
            spread = [feature_spread(np.concatenate([d.X_train, d.X_test])) for d in (raw, ds)]
            cells = " | ".join(f"{sp['mean_cosine']:.3f} | {sp['effective_rank']:.0f}"
                               for sp in spread)
            for seed_size, rounds in PRETRAINED_ROUNDS.values():
                budget = seed_size + 10 * rounds
                g, e = (random_sampling_gap(d.X_train, d.y_train, d.X_test, d.y_test,
                                            d.groups_test, budget, seeds, seed_size=seed_size)
                        for d in (ds, even))
                lines.append(f"| {label} | {enc} | {budget} | {g.accuracy.mean():.3f} | "
                             f"{g.worst_group.mean():.3f} | {g.gap:+.3f} | "
                             f"{e.accuracy.mean():.3f} | {e.worst_group.mean():.3f} | {cells} |")
    return "\n".join(lines)


def main(argv=None) -> None:
    import argparse

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="the suite's constructions only")
    ap.add_argument("--seeds", type=int, default=5)
    args = ap.parse_args(argv)
    print(report(args.quick, args.seeds))


if __name__ == "__main__":
    main()
