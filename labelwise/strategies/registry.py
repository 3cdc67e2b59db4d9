"""The strategy registry: every strategy named as a score (or representation) + a selector.

This is the one place that knows the strategies: the engine, the CLI, the benchmark suites, the
OOD metric and the labeling app all read it. A strategy is a per-item ``score(ctx)`` and/or a
batch selector ``select(ctx, k) -> positions``, plus the learner capabilities it needs. Adding one
is a function in ``scores.py`` (or ``selectors.py``) and one :func:`register` line; every
registered name, also one registered from user code, has a "+ft" variant at lookup
(``get_strategy("margin+ft")``).
"""

from __future__ import annotations

import functools
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
        family: the kind of reason it picks by, for the labeling app: "uncertain", "disagree"
            and "shift" (the model's uncertainty: the page names the two most likely classes),
            "random", or any other word (empty: unknown).
        reason: one sentence saying why it picked an item, as the labeling app shows it.
        score_reason: the sentence when the pick's score is known, a ``str.format`` template
            with ``score``, ``pct`` (100 score) and ``rest_pct`` (100 (1 - score)); empty: none.
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
    family: str = ""
    reason: str = ""
    score_reason: str = ""

    def citation(self) -> str:
        """The papers as ``labelwise strategies`` shows them: short citations of known keys,
        other text as given, "no paper given" when empty."""
        from labelwise.papers import cite, work

        if self.paper == "all":
            return "the baseline of every paper"
        parts = []
        for key in (k.strip() for k in self.paper.split(",") if k.strip()):
            try:
                work(key)
            except LabelwiseError:  # not in labelwise's table: a plugin's own citation
                parts.append(key)
            else:
                parts.append(cite(key, parenthetical=True))
        return "; ".join(parts) or "no paper given"


STRATEGIES: dict[str, Strategy] = {}
FT_SUFFIX = "+ft"
#: the names this module registers; another registration under one of them needs replace=True
BUILTIN: set[str] = set()
_registering_builtins = True


def register(name: str, select: SelectFn | None = None, needs=(), description: str = "",
             paper: str = "", score: ScoreFn | None = None, largest: bool = True,
             compares_rounds: bool = False, replace: bool = False, family: str = "",
             reason: str = "", score_reason: str = "") -> Strategy:
    """Add a strategy to the registry and return it.

    Give ``score`` alone for a strategy that takes the top k of a per-item score, ``select`` alone
    for a batch selector, or both (the score then explains the picks and feeds OOD AUROC). The
    "+ft" variant of every registered name exists at lookup (:func:`get_strategy`). ``paper`` is
    optional for your own strategies (keys of :mod:`labelwise.papers`, or any citation text).
    Registering under a built-in name (``margin``...) needs ``replace=True``: a plugin cannot
    swap a built-in by accident. ``family``, ``reason`` and ``score_reason`` explain its picks on
    the labeling app's page (see :class:`Strategy`).
    """
    if not name or not isinstance(name, str) or name.endswith(FT_SUFFIX):
        raise LabelwiseError(f"a strategy name must be a non-empty string not ending in "
                             f"{FT_SUFFIX!r}, got {name!r}")
    if name in BUILTIN and not replace and not _registering_builtins:
        raise LabelwiseError(f"strategy {name!r} is built in: choose another name, or pass "
                             "replace=True to register over it")
    if _registering_builtins:
        BUILTIN.add(name)
    if select is None:
        if score is None:
            raise LabelwiseError(f"strategy {name!r} needs a score or a select function")
        select = top_of_score(score, largest)
    STRATEGIES[name] = Strategy(name, _none_for_zero(select), frozenset(needs), description,
                                paper, score, largest, compares_rounds, family=family,
                                reason=reason, score_reason=score_reason)
    return STRATEGIES[name]


def _none_for_zero(select: SelectFn) -> SelectFn:
    """``select`` that answers k = 0 with no picks (some selectors reject k < 1 outright). It
    keeps ``select``'s name and attributes, which say what kind of selector it is (the sharded
    executor runs a top-of-score selector shard by shard)."""
    @functools.wraps(select)
    def none_for_zero(ctx, k):
        return np.zeros(0, np.int64) if k == 0 else select(ctx, k)

    return none_for_zero


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

    X, rows = ctx.candidate_source()  # the pool and the candidates' rows: no gathered copy
    return typiclust_candidates(X, ctx.X_covered, k, ctx.rng, rows)


def _probcover(ctx: SelectionContext, k: int) -> np.ndarray:
    from labelwise.strategies.coldstart import prepare_features
    from labelwise.strategies.probcover import estimate_delta, probcover_candidates

    # the radius depends on the pool only: estimated once per pool (and class count) over the
    # whole pool, as the authors do, and reused in every round
    key = ("probcover_delta", len(ctx.X_pool), ctx.n_classes)
    if key not in ctx.pool_cache:
        ctx.pool_cache[key] = estimate_delta(prepare_features(ctx.X_pool), ctx.n_classes,
                                             random_state=ctx.rng, normalize=False)
    X, rows = ctx.candidate_source()  # the pool and the candidates' rows: no gathered copy
    return probcover_candidates(X, ctx.X_covered, k, ctx.pool_cache[key], ctx.rng, rows)


# what the labeling app says about a pick, where several strategies say the same
_MARGIN_POINTS = "the model was unsure: its two most likely classes were {pct:.0f} points apart"
_SAMPLES_DISAGREE = "the model's samples disagreed about it"
_CHANGED_MIND = "the model changed its mind about it most since last round"
_UNLIKE = "unlike the labeled items of the class the model predicts for it"
_TYPICAL = "typical of a dense region not yet labeled"

register("random", _random, description="uniform at random (the baseline)",
         paper="pretrained, deep-al-study, khosla2022, aggarwal2022, krishnan2021",
         score=_random_score, family="random", reason="picked at random")
register("least_confidence", needs={PROBA}, description="highest 1 - max_c p_c",
         paper="pretrained, khosla2022", score=on_proba(scores.least_confidence),
         family="uncertain", reason="the model was unsure of it",
         score_reason="the model's best guess had only {rest_pct:.0f}% confidence")
register("margin", needs={PROBA}, description="smallest gap between the two most likely classes",
         paper="khosla2022, aggarwal2022", score=on_proba(scores.margin), largest=False,
         family="uncertain", reason="the model was unsure of it", score_reason=_MARGIN_POINTS)
register("entropy", needs={PROBA}, description="highest predictive entropy",
         paper="pretrained, krishnan2021", score=on_proba(scores.entropy),
         family="uncertain", reason="the model was unsure of it")
register("coreset", _coreset, {EMBEDDING},
         "k-center greedy on the embedding, labeled points as centres",
         "deep-al-study, khosla2022, aggarwal2022", score=_coreset_score, family="far",
         reason="far from everything labeled so far")
register("bald", needs={SAMPLES},
         description="highest mutual information H[mean p] - mean H[p] over T stochastic "
         "predictions", paper="khosla2022, krishnan2021", score=_bald_score, family="disagree",
         reason=_SAMPLES_DISAGREE)
register("variation_ratio", _variation_ratio, {SAMPLES},
         "highest 1 - modal votes / N over ensemble members, ties by entropy of the mean",
         "deep-al-study", score=_variation_ratio_score, family="disagree",
         reason=_SAMPLES_DISAGREE)
register("badge", _badge, {PROBA, EMBEDDING},
         "k-means++ seeding on the gradient embedding (p - onehot) x h, never materialised",
         "khosla2022, ash2020", family="badge",
         reason="the model is unsure of it and it is unlike the rest of this batch")
register("lhd", _lhd, {EMA}, "k-means++ seeding on |l_ema - l_main| * (h_ema - h_main)",
         "khosla2022", family="lhd",
         reason="the model and its running average disagree most about it")
register("alamp", needs={PROBA},
         description="largest relative shift of margin towards uncertainty since last round",
         paper="aggarwal2022", score=_alamp_score, compares_rounds=True, family="shift",
         reason=_CHANGED_MIND)
register("alamp_div", _alamp_div, {PROBA}, "alamp order diversified by last round's predicted "
         "class", "aggarwal2022", score=_alamp_score, compares_rounds=True, family="shift",
         reason=_CHANGED_MIND)
register("rand_div", _rand_div, {PROBA}, "random order diversified by the predicted class",
         "aggarwal2022", family="random",
         reason="picked at random among the classes the model predicts")
register("marg_div", _marg_div, {PROBA}, "margin order diversified by the predicted class",
         "aggarwal2022", score=on_proba(scores.margin), largest=False,
         family="uncertain", reason="the model was unsure of it", score_reason=_MARGIN_POINTS)
register("scal", _feature_similarity, {PROBA, EMBEDDING, CONTRASTIVE},
         "per-class quota of lowest cosine similarity to labeled items, contrastive features",
         "krishnan2021", score=_feature_similarity_score, largest=False, family="unlike",
         reason=_UNLIKE)
register("featuresim", _feature_similarity, {PROBA, EMBEDDING},
         "per-class quota of lowest cosine similarity to labeled items of the predicted class",
         "krishnan2021", score=_feature_similarity_score, largest=False, family="unlike",
         reason=_UNLIKE)
register("dfm", needs={PROBA, EMBEDDING},
         description="largest class-conditional PCA reconstruction error (97% variance)",
         paper="krishnan2021", score=_dfm_score, family="reconstruction",
         reason="poorly explained by the labeled items of the class the model predicts")
register("learning_loss", needs={LOSS_PREDICTION},
         description="largest loss predicted by the Learning Loss module",
         paper="krishnan2021, yoo2019", score=_learning_loss_score, family="loss",
         reason="the model expects to be most wrong about it")
register("typiclust", _typiclust, (),
         "cold start without a model: the most typical point of the largest cluster holding the "
         "fewest labels (k-means on the features)", "hacohen2022", family="typical",
         reason=_TYPICAL)
register("probcover", _probcover, (),
         "cold start without a model: greedy maximum coverage of delta-balls on the features, "
         "delta from 95% ball purity", "yehuda2022", family="typical", reason=_TYPICAL)
register("cluster_margin", select_cluster_margin, {PROBA},
         "the 1.25 k lowest-margin candidates visited by cluster round-robin, smallest "
         "cluster first (average-linkage HAC of the pool, once)", "citovsky2021",
         score=on_proba(scores.margin), largest=False, family="uncertain",
         reason="the model was unsure of it, and its cluster had few picks yet",
         score_reason=_MARGIN_POINTS)

_registering_builtins = False  # keep last: registrations after this line are the users'
