"""The strategy registry: every strategy named as a score (or representation) + a selector.

This is the one place that knows the strategies: the engine, the CLI, the benchmark suites, the
OOD metric and the labeling app all read it. A strategy is a per-item ``score(ctx)`` and/or a
batch selector ``select(ctx, k) -> positions``, plus the learner capabilities it needs. Adding one
is a function in ``scores.py`` (or ``selectors.py``) and one :func:`register` line; every
registered name, also one registered from user code, has a "+ft" variant at lookup
(``get_strategy("margin+ft")``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np

from labelwise.learners.base import (
    CONTRASTIVE,
    EMA,
    EMBEDDING,
    LOSS_PREDICTION,
    PROBA,
    PSEUDO_LABEL_FT,
    SAMPLES,
)
from labelwise.strategies import kmeanspp, scores, selectors
from labelwise.strategies.cluster_margin import select_cluster_margin
from labelwise.strategies.context import SelectionContext
from labelwise.validation import LabelwiseError, unknown_name_error

SelectFn = Callable[[SelectionContext, int], np.ndarray]
ScoreFn = Callable[[SelectionContext], np.ndarray]


@dataclass(frozen=True)
class Strategy:
    """A named acquisition strategy: a per-item score and/or a batch selector.

    Attributes:
        name: the registry name (``labelwise run --strategies NAME``).
        select: ``(ctx, k) -> (k,)`` unique positions into ``ctx.X_candidates``.
        needs: learner capabilities the strategy reads from ``ctx`` (empty: no model at all, as
            for random and the cold-start strategies).
        description: one line for ``labelwise strategies``.
        paper: keys of :mod:`labelwise.papers`, comma-separated ("all" for the random baseline).
        score: ``ctx -> (n,)`` the per-candidate score the strategy ranks by, or None for batch-only
            selectors (BADGE, LHD). It feeds OOD AUROC and the labeling app's "why this item".
        largest: whether a larger ``score`` means "pick first" (False for margin, SCAL).
        compares_rounds: the strategy reads last round's model (``ctx.previous_proba``).
        finetune: the "+ft" variant (Khosla et al. 2022, Algorithm 2): the engine fine-tunes the
            learner on confident pseudo-labels right after ``fit``, before evaluation and selection.
    """

    name: str
    select: SelectFn
    needs: frozenset[str]
    description: str
    paper: str = ""
    score: ScoreFn | None = None
    largest: bool = True
    compares_rounds: bool = False
    finetune: bool = False


STRATEGIES: dict[str, Strategy] = {}
FT_SUFFIX = "+ft"


def register(name: str, select: SelectFn | None = None, needs=(), description: str = "",
             paper: str = "", score: ScoreFn | None = None, largest: bool = True,
             compares_rounds: bool = False) -> Strategy:
    """Add a strategy to the registry and return it.

    Give ``score`` alone for a strategy that takes the top k of a per-item score, ``select`` alone
    for a batch selector, or both (the score then explains the picks and feeds OOD AUROC). The
    "+ft" variant of every registered name exists at lookup (:func:`get_strategy`).
    """
    if not name or not isinstance(name, str) or name.endswith(FT_SUFFIX):
        raise LabelwiseError(f"a strategy name must be a non-empty string not ending in "
                             f"{FT_SUFFIX!r}, got {name!r}")
    if select is None:
        if score is None:
            raise LabelwiseError(f"strategy {name!r} needs a score or a select function")
        select = top_of_score(score, largest)
    STRATEGIES[name] = Strategy(name, select, frozenset(needs), description, paper, score,
                                largest, compares_rounds)
    return STRATEGIES[name]


def top_of_score(score: ScoreFn, largest: bool = True) -> SelectFn:
    """The selector that takes the k best of ``score(ctx)`` (ties by the lower position)."""
    return lambda ctx, k: selectors.top_k(ctx.score_of(score), k, largest=largest)


def on_proba(score_fn: Callable[[np.ndarray], np.ndarray]) -> ScoreFn:
    """Lift a score of probabilities ``(n, K) -> (n,)`` to a score of the context."""
    return lambda ctx: score_fn(ctx.proba)


def with_finetune(strategy: Strategy) -> Strategy:
    """The "+ft" variant of ``strategy``: the same selection after fine-tuning on confident
    pseudo-labels (Khosla et al. 2022, Algorithm 2); it also needs ``pseudo_label_ft``."""
    papers = [p.strip() for p in strategy.paper.split(",") if p.strip() not in ("", "all")]
    return replace(
        strategy,
        name=strategy.name + FT_SUFFIX,
        needs=strategy.needs | {PSEUDO_LABEL_FT},
        description=f"{strategy.name} after fine-tuning on confident pseudo-labels",
        paper=", ".join(dict.fromkeys([*papers, "khosla2022"])),
        finetune=True,
    )


def get_strategy(name: str) -> Strategy:
    """Look a strategy up by name, with an error listing the valid names.

    ``"x+ft"`` gives the fine-tuning variant of any registered ``"x"`` (see :func:`with_finetune`),
    also for strategies registered after import.
    """
    if isinstance(name, Strategy):
        return name
    if isinstance(name, str):
        if name in STRATEGIES:
            return STRATEGIES[name]
        if name.endswith(FT_SUFFIX) and name[: -len(FT_SUFFIX)] in STRATEGIES:
            return with_finetune(STRATEGIES[name[: -len(FT_SUFFIX)]])
    raise unknown_name_error("strategy", name, [*STRATEGIES, "NAME+ft"])


def strategy_names(finetune: bool = False) -> list[str]:
    """Every registered name, and with ``finetune`` also every "+ft" variant."""
    names = list(STRATEGIES)
    return names + [n + FT_SUFFIX for n in names] if finetune else names


def ranked(score: np.ndarray, largest: bool = True) -> np.ndarray:
    """All positions ordered by ``score`` (n,), best first, ties by the lower index."""
    return np.argsort(-score if largest else score, kind="stable")


# --- per-item scores of the context (what each strategy ranks by) -----------------------------


def _random_score(ctx: SelectionContext) -> np.ndarray:
    return ctx.rng.random(ctx.n_candidates)


def _coreset_score(ctx: SelectionContext) -> np.ndarray:
    """Distance to the nearest labeled item: the quantity k-center greedy maximises first."""
    return scores.min_distance(ctx.embedding, ctx.labeled_embedding)


def _bald_score(ctx: SelectionContext) -> np.ndarray:
    return scores.bald(ctx.samples)


def _variation_ratio_score(ctx: SelectionContext) -> np.ndarray:
    return scores.variation_ratio(ctx.samples)


def _alamp_score(ctx: SelectionContext) -> np.ndarray:
    return scores.alamp(*ctx.compared_proba)


def _feature_similarity_score(ctx: SelectionContext) -> np.ndarray:
    return scores.feature_similarity(ctx.embedding, ctx.predicted_class, ctx.labeled_embedding,
                                     ctx.labeled_class_idx)


def _dfm_score(ctx: SelectionContext) -> np.ndarray:
    return scores.dfm(ctx.embedding, ctx.predicted_class, ctx.labeled_embedding,
                      ctx.labeled_class_idx)


def _learning_loss_score(ctx: SelectionContext) -> np.ndarray:
    return np.asarray(ctx.predicted_loss)


# --- batch selectors ------------------------------------------------------------------------


def _random(ctx: SelectionContext, k: int) -> np.ndarray:
    return selectors.random_choice(ctx.n_candidates, k, ctx.rng)


def _coreset(ctx: SelectionContext, k: int) -> np.ndarray:
    return selectors.kcenter_greedy(ctx.embedding, k, ctx.labeled_embedding, ctx.rng)


def _variation_ratio(ctx: SelectionContext, k: int) -> np.ndarray:
    s = ctx.samples
    return selectors.top_k_lex(scores.variation_ratio(s), scores.entropy(scores.mean_proba(s)), k)


def _badge(ctx: SelectionContext, k: int) -> np.ndarray:
    return kmeanspp.kmeanspp_seeding(ctx.embedding, k, ctx.rng, R=scores.badge_residual(ctx.proba))


def _lhd(ctx: SelectionContext, k: int) -> np.ndarray:
    return kmeanspp.kmeanspp_seeding(scores.lhd_embedding(ctx.ema_outputs), k, ctx.rng)


def _alamp_div(ctx: SelectionContext, k: int) -> np.ndarray:
    groups = ctx.previous_predicted_class
    if groups is None:  # first round: no previous model, use the current prediction
        groups = ctx.predicted_class
    return selectors.diversify(ranked(_alamp_score(ctx)), groups, k)


def _rand_div(ctx: SelectionContext, k: int) -> np.ndarray:
    return selectors.diversify(ctx.rng.permutation(ctx.n_candidates), ctx.predicted_class, k)


def _marg_div(ctx: SelectionContext, k: int) -> np.ndarray:
    return selectors.diversify(ranked(scores.margin(ctx.proba), largest=False),
                               ctx.predicted_class, k)


def _feature_similarity(ctx: SelectionContext, k: int) -> np.ndarray:
    return selectors.per_class_quota(_feature_similarity_score(ctx), ctx.predicted_class,
                                     ctx.n_classes, k, largest=False)


def _typiclust(ctx: SelectionContext, k: int) -> np.ndarray:
    from labelwise.strategies.typiclust import typiclust_candidates

    return typiclust_candidates(ctx.X_candidates, ctx.X_covered, k, ctx.rng)


def _probcover(ctx: SelectionContext, k: int) -> np.ndarray:
    from labelwise.strategies.coldstart import prepare_features
    from labelwise.strategies.probcover import estimate_delta, probcover_candidates

    # the radius depends on the pool only: estimated once per pool (and class count) over the
    # whole pool, as the authors do, and reused in every round
    key = ("probcover_delta", len(ctx.X_pool), ctx.n_classes)
    if key not in ctx.pool_cache:
        ctx.pool_cache[key] = estimate_delta(prepare_features(ctx.X_pool), ctx.n_classes,
                                             random_state=ctx.rng, normalize=False)
    return probcover_candidates(ctx.X_candidates, ctx.X_covered, k, ctx.pool_cache[key],
                                ctx.rng)


register("random", _random, description="uniform at random (the baseline)",
         paper="pretrained, deep-al-study, khosla2022, aggarwal2022, krishnan2021",
         score=_random_score)
register("least_confidence", needs={PROBA}, description="highest 1 - max_c p_c",
         paper="pretrained, khosla2022", score=on_proba(scores.least_confidence))
register("margin", needs={PROBA}, description="smallest gap between the two most likely classes",
         paper="khosla2022, aggarwal2022", score=on_proba(scores.margin), largest=False)
register("entropy", needs={PROBA}, description="highest predictive entropy",
         paper="pretrained, krishnan2021", score=on_proba(scores.entropy))
register("coreset", _coreset, {EMBEDDING},
         "k-center greedy on the embedding, labeled points as centres",
         "deep-al-study, khosla2022, aggarwal2022", score=_coreset_score)
register("bald", needs={SAMPLES},
         description="highest mutual information H[mean p] - mean H[p] over T stochastic "
         "predictions", paper="khosla2022, krishnan2021", score=_bald_score)
register("variation_ratio", _variation_ratio, {SAMPLES},
         "highest 1 - modal votes / N over ensemble members, ties by entropy of the mean",
         "deep-al-study", score=_variation_ratio_score)
register("badge", _badge, {PROBA, EMBEDDING},
         "k-means++ seeding on the gradient embedding (p - onehot) x h, never materialised",
         "khosla2022, ash2020")
register("lhd", _lhd, {EMA}, "k-means++ seeding on |l_ema - l_main| * (h_ema - h_main)",
         "khosla2022")
register("alamp", needs={PROBA},
         description="largest relative shift of margin towards uncertainty since last round",
         paper="aggarwal2022", score=_alamp_score, compares_rounds=True)
register("alamp_div", _alamp_div, {PROBA}, "alamp order diversified by last round's predicted "
         "class", "aggarwal2022", score=_alamp_score, compares_rounds=True)
register("rand_div", _rand_div, {PROBA}, "random order diversified by the predicted class",
         "aggarwal2022")
register("marg_div", _marg_div, {PROBA}, "margin order diversified by the predicted class",
         "aggarwal2022", score=on_proba(scores.margin), largest=False)
register("scal", _feature_similarity, {PROBA, EMBEDDING, CONTRASTIVE},
         "per-class quota of lowest cosine similarity to labeled items, contrastive features",
         "krishnan2021", score=_feature_similarity_score, largest=False)
register("featuresim", _feature_similarity, {PROBA, EMBEDDING},
         "per-class quota of lowest cosine similarity to labeled items of the predicted class",
         "krishnan2021", score=_feature_similarity_score, largest=False)
register("dfm", needs={PROBA, EMBEDDING},
         description="largest class-conditional PCA reconstruction error (97% variance)",
         paper="krishnan2021", score=_dfm_score)
register("learning_loss", needs={LOSS_PREDICTION},
         description="largest loss predicted by the Learning Loss module",
         paper="krishnan2021, yoo2019", score=_learning_loss_score)
register("typiclust", _typiclust, (),
         "cold start without a model: the most typical point of the largest cluster holding the "
         "fewest labels (k-means on the features)", "hacohen2022")
register("probcover", _probcover, (),
         "cold start without a model: greedy maximum coverage of delta-balls on the features, "
         "delta from 95% ball purity", "yehuda2022")
register("cluster_margin", select_cluster_margin, {PROBA},
         "the 10 k lowest-margin candidates visited by cluster round-robin, smallest cluster "
         "first (average-linkage HAC of the pool, once)", "citovsky2021",
         score=on_proba(scores.margin), largest=False)
