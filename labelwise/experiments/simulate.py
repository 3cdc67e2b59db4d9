"""Run a grid of simulated active-learning runs and write the tidy results.

``simulate()`` is what ``labelwise run`` calls: every (strategy, seed) pair is one independent run
of :func:`labelwise.loop.run_active_learning`; runs go to worker processes, and the results are one
row per (strategy, seed, round).
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

from labelwise.validation import LabelwiseError

if TYPE_CHECKING:  # pandas is imported where used: worker processes of a grid don't need it
    import pandas as pd

DEFAULT_STRATEGIES = ("random", "least_confidence", "margin", "entropy", "coreset")


@dataclass(frozen=True)
class RunSpec:
    """One simulated run: everything needed to reproduce it.

    ``dataset_params`` and ``learner_params`` are tuples of (name, value) pairs (hashable, so a
    spec can key the results store); ``budget`` overrides ``rounds`` (docs/methods.md, section "The
    loop"); ``tag`` names the setting in the results (column ``setting``; default: the data set).
    A ``dataset`` named in :data:`labelwise.experiments.benchdata.BENCH_DATASETS` is a benchmark
    construction built from ``dataset_params``; any other name goes to ``load_dataset``.
    """

    dataset: str
    strategy: str
    learner: str
    seed: int
    seed_size: int = 20
    batch_size: int = 10
    rounds: int = 20
    pool_subsample: int | None = None
    seed_set: str = "balanced"
    dataset_params: tuple = ()
    learner_params: tuple = ()
    budget: int | None = None
    tag: str = ""
    #: encoder of the raw images/texts (labelwise.encoders); None = the data set's default
    #: (its own features, pixels for images; "minilm" for texts)
    encoder: str | None = None
    #: compute the cross-validated accuracy the accuracy-plateau stopping criterion reads (5 more
    #: fits a round); None or False = not computed (see run_active_learning)
    stopping_cv: bool | None = None


@lru_cache(maxsize=4)
def _cached_dataset(name: str, params: tuple = (), encoder: str | None = None):
    from labelwise.experiments.benchdata import BENCH_DATASETS, build_bench_dataset

    if name in BENCH_DATASETS:
        return build_bench_dataset(name, **dict(params))
    from labelwise.data import load_dataset

    return load_dataset(name, encoder=encoder, **dict(params))


def _round_evaluator(ds, spec: RunSpec):
    """Extra per-round metrics for what the data set carries (docs/methods.md, section "Metrics").

    Always: sampling bias and imbalance ratio of the labeled set (Krishnan et al. 2021; Aggarwal et
    al. 2022). With test groups: per-group and worst-group accuracy (Pretrained Models Are Good
    Active Learners, 2021). With ``info["minority"]``: the minority class's average precision (An
    Empirical Study of Deep Active Learning, 2021). With ``info["X_ood"]``: on the last round, the
    AUROC of the strategy's own score for telling OOD inputs from the test set (Krishnan et al.
    2021).
    """
    from labelwise import metrics as M

    K = ds.n_classes
    final_n = spec.budget
    if final_n is None:
        final_n = min(len(ds.y_train), spec.seed_size + spec.rounds * spec.batch_size)

    from labelwise.experiments.executors import report_progress

    def evaluate(model, labeled, proba) -> dict:
        report_progress(len(labeled), final_n)
        out = {}
        y_lab = ds.y_train[labeled]
        out["sampling_bias"] = M.sampling_bias(y_lab, K)
        out["imbalance_ratio"] = M.imbalance_ratio(M.class_counts(y_lab, K))
        if ds.groups_test is not None:
            accs = M.per_group_accuracy(ds.y_test, proba.argmax(1), ds.groups_test)
            out.update({f"acc_group_{g}": a for g, a in accs.items()})
            out["worst_group_accuracy"] = min(accs.values())
        if "minority" in ds.info:
            out["minority_ap"] = M.minority_average_precision(ds.y_test, proba,
                                                              ds.info["minority"])
        if ds.groups_train is not None and "noisy_group" in ds.info:
            out["clean_fraction_labeled"] = M.clean_pick_fraction(
                ds.groups_train[labeled] == ds.info["noisy_group"])
        if "X_ood" in ds.info and len(labeled) >= final_n:
            from labelwise.experiments.ood import strategy_ood_auroc

            out["ood_auroc"] = strategy_ood_auroc(spec.strategy, model, ds.X_test,
                                                  ds.info["X_ood"], ds.X_train[labeled],
                                                  y_lab, random_state=spec.seed)
        return {k: float(v) for k, v in out.items()}

    return evaluate


def _pseudo_label_columns(info: dict | None) -> dict:
    """What "+ft" fine-tuning did in a round, as result columns (none without "+ft")."""
    if info is None:
        return {}
    n = info.get("n_confident", info.get("n_pseudo_labels"))
    return {"ft_pseudo_labels": float("nan") if n is None else float(n),
            "ft_skipped": bool(info.get("skipped", False))}


def run_one(spec: RunSpec) -> dict[str, list[dict]]:
    """Execute one run; returns {"results": rows, "picks": pick rows} (lists of dicts).

    Results: one row per round with every metric, how the seed set was drawn (``seed_set``) and
    the stopping monitor's flat row (each criterion's value, threshold and verdict, and the
    recommended stop with its reason; see :func:`labelwise.stopping.flat_row`); picks: one row
    per picked item with its label (and its group when the data set has groups).
    """
    from labelwise.loop import run_active_learning

    ds = _cached_dataset(spec.dataset, spec.dataset_params, spec.encoder)
    learner_params = dict(spec.learner_params)
    if "items" in ds.info and spec.learner.startswith("finetune"):
        learner_params["items"] = ds.info["items"]  # X holds indices into these raw items
    records = run_active_learning(
        ds.X_train, ds.y_train, ds.X_test, ds.y_test,
        strategy=spec.strategy, learner=spec.learner, seed_size=spec.seed_size,
        seed_set=spec.seed_set, batch_size=spec.batch_size, rounds=spec.rounds,
        budget=spec.budget, pool_subsample=spec.pool_subsample, random_state=spec.seed,
        learner_params=learner_params or None,
        evaluate=_round_evaluator(ds, spec), stopping_cv=spec.stopping_cv,
    )
    name = Path(spec.dataset).name if os.sep in spec.dataset else spec.dataset
    keys = {"dataset": name, "setting": spec.tag or name, "strategy": spec.strategy,
            "learner": spec.learner, "seed": spec.seed}
    rows, picks = [], []
    for rec in records:
        rows.append({**keys, "seed_set": spec.seed_set, "round": rec.round,
                     "n_labeled": rec.n_labeled, **rec.metrics,
                     "query_seconds": rec.query_seconds, "train_seconds": rec.train_seconds,
                     **rec.stopping, "stopping_seconds": rec.stopping_seconds,
                     **_pseudo_label_columns(rec.pseudo_labels)})
        for order, idx in enumerate(rec.picks.tolist()):
            row = {**keys, "round": rec.round, "order": order, "pool_index": idx,
                   "label": int(ds.y_train[idx])}
            if ds.groups_train is not None:
                row["group"] = int(ds.groups_train[idx])
            picks.append(row)
    return {"results": rows, "picks": picks}


PICK_COLUMNS = ["dataset", "setting", "strategy", "learner", "seed", "round", "order",
                "pool_index", "label"]


def run_grid(specs: list[RunSpec], n_jobs: int | None = None, progress: bool = True,
             executor: str = "local", ray_address: str | None = None,
             store: str | Path | None = None):
    """Run every spec with :func:`labelwise.experiments.executors.execute`.

    With ``store`` (a folder), finished runs are saved as they finish and an interrupted grid
    resumes. Returns (results DataFrame, picks DataFrame), sorted by strategy order, seed and
    round.
    """

    from labelwise.experiments.executors import execute

    outputs = execute(specs, run_one, executor=executor, n_jobs=n_jobs,
                      ray_address=ray_address, store=store, progress=progress)
    return grid_tables(specs, outputs)


def grid_tables(specs: list[RunSpec], outputs: list[dict]):
    """(results, picks) DataFrames from the outputs of :func:`run_one` for ``specs`` (in the same
    order), sorted by strategy order, seed and round."""
    import pandas as pd

    rows = [r for out in outputs for r in out["results"]]
    picks = [p for out in outputs for p in out["picks"]]
    order = {}
    for s in specs:
        order.setdefault(s.strategy, len(order))
    extra = sorted({k for p in picks for k in p} - set(PICK_COLUMNS))
    results = pd.DataFrame(rows)
    sort_keys = [c for c in ("strategy", "seed", "round") if c in results]
    results = _sort(results, sort_keys, order)
    picks_df = _sort(pd.DataFrame(picks, columns=PICK_COLUMNS + extra),
                     ["strategy", "seed", "round", "order"], order)
    return results.reset_index(drop=True), picks_df.reset_index(drop=True)


def _sort(df: pd.DataFrame, keys: list[str], order: dict) -> pd.DataFrame:
    # stable sort keeps the spec order (e.g. data-set variants) within equal keys
    if df.empty:
        return df
    return df.sort_values(keys, kind="stable",
                          key=lambda c: c.map(order) if c.name == "strategy" else c)


def simulate(
    dataset: str = "mnist5k",
    strategies=DEFAULT_STRATEGIES,
    seeds: int = 3,
    seed_size: int = 20,
    batch_size: int = 10,
    rounds: int = 20,
    learner: str = "logreg",
    pool_subsample: int | None = None,
    seed_set: str = "balanced",
    out: str | Path | None = None,
    n_jobs: int | None = None,
    progress: bool = True,
    executor: str = "local",
    ray_address: str | None = None,
    encoder: str | None = None,
    learner_params: dict | None = None,
) -> pd.DataFrame:
    """Simulate active learning for every strategy and seed on one data set; write the outputs.

    ``encoder`` (a name in ``labelwise.encoders.ENCODERS``) computes the features from the data
    set's raw images or texts, once, cached on disk; None keeps the data set's default.
    ``learner_params`` are the learner's settings (e.g. ``{"C": 0.5}``), checked before any work.

    Validates every name before any work, runs the grid, and (when ``out`` is given) writes
    ``results.csv``, ``results.parquet``, ``picks.csv``, ``curves.png`` and ``summary.md``.

    Returns:
        The results table: one row per (strategy, seed, round).
    """
    from labelwise.data import DATASETS, load_dataset
    from labelwise.learners import LEARNERS, make_learner
    from labelwise.loop import check_capabilities
    from labelwise.strategies import get_strategy
    from labelwise.validation import check_positive_int

    strategies = list(dict.fromkeys(strategies))
    if not strategies:
        raise LabelwiseError("no strategies given")
    strats = [get_strategy(s) for s in strategies]
    learner_params = dict(learner_params or {})
    # raises the unknown-learner, missing-torch or bad-parameters error before any work
    make_learner(learner, 2, **learner_params)
    for s in strats:
        check_capabilities(s, LEARNERS[learner].cls)
    seeds = check_positive_int(seeds, "seeds")
    check_positive_int(seed_size, "seed size")
    check_positive_int(batch_size, "batch size")
    check_positive_int(rounds, "rounds", minimum=0)
    if pool_subsample is not None:
        check_positive_int(pool_subsample, "pool subsample")
    if n_jobs is not None:
        check_positive_int(n_jobs, "n_jobs")
    encoder = _encoder_for(learner, encoder)
    _check_seed_set(seed_set, encoder)
    if dataset not in DATASETS:
        load_dataset(dataset, encoder=encoder)  # a clear error for bad names/files before forking
    specs = [RunSpec(dataset, s, learner, seed, seed_size, batch_size, rounds, pool_subsample,
                     seed_set, learner_params=tuple(sorted(learner_params.items())),
                     encoder=encoder) for s in strategies for seed in range(seeds)]
    # fail fast on bad options (seed size, batch size...) with one quick round in this process;
    # this also embeds the data once (cached on disk), so worker processes read the cache
    ds = _cached_dataset(dataset, (), encoder)
    if seed_size > len(ds.X_train):
        raise LabelwiseError(f"seed size {seed_size} is larger than the pool ({len(ds.X_train)})")
    from contextlib import nullcontext

    from labelwise.experiments.executors import lock_folder

    # one grid per folder: a second run on the same --out would redo the runs not stored yet
    with lock_folder(out) if out is not None else nullcontext():
        results, picks = run_grid(specs, n_jobs=n_jobs, progress=progress, executor=executor,
                                  ray_address=ray_address, store=out)
        if out is not None:
            write_outputs(results, picks, out, {**asdict(specs[0]), "strategies": strategies,
                                                "seeds": seeds})
    return results


def _check_seed_set(seed_set: str, encoder: str | None) -> None:
    """A known seed-set kind, and features for the kinds that pick from them."""
    from labelwise.loop import SEED_SETS

    if seed_set not in SEED_SETS:
        raise LabelwiseError(f"seed set must be one of {', '.join(SEED_SETS)}; got {seed_set!r}")
    if encoder == "items" and seed_set in ("typiclust", "probcover"):
        raise LabelwiseError(f"a {seed_set} seed set is picked from features, and the finetune-* "
                             "learners read raw items; use --seed-set random or balanced")


def _encoder_for(learner: str, encoder: str | None) -> str | None:
    """The fine-tuning learners read raw items (``encoder="items"``), every other learner reads
    features; reject a mismatch with a clear error."""
    fine_tuning = learner.startswith("finetune")
    if fine_tuning and encoder in (None, "items"):
        return "items"
    if fine_tuning:
        raise LabelwiseError(f"learner {learner!r} fine-tunes its own network on the raw items; "
                             f"leave out --encoder (got {encoder!r})")
    if encoder == "items":
        raise LabelwiseError(f"encoder 'items' is only for the finetune-* learners, "
                             f"not {learner!r}")
    return encoder


def write_outputs(results: pd.DataFrame, picks: pd.DataFrame, out: str | Path,
                  config: dict | None = None) -> Path:
    """Write the results table, the picks, the learning curves and the summary into ``out``."""
    import json

    from labelwise.experiments.report import plot_learning_curves, write_summary

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    results.to_csv(out / "results.csv", index=False)
    results.to_parquet(out / "results.parquet", index=False)
    picks.to_csv(out / "picks.csv", index=False)
    plot_learning_curves(results, out / "curves.png")
    write_summary(results, out / "summary.md")
    if config is not None:
        config = {k: v for k, v in config.items() if k not in ("strategy", "seed")}
        (out / "config.json").write_text(json.dumps(config, indent=2, default=str))
    return out


