"""The strategy registry: every strategy named as a score (or representation) + a selector.

A strategy is a function ``select(ctx, k) -> positions`` plus the capabilities it needs from the
learner. Adding one is one function in ``scores.py`` (or ``selectors.py``) and one ``register``
line. Every registered strategy also has a "+ft" variant (``get_strategy("margin+ft")``).
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
from labelwise.strategies.context import SelectionContext
from labelwise.validation import unknown_name_error

SelectFn = Callable[[SelectionContext, int], np.ndarray]


@dataclass(frozen=True)
class Strategy:
    """A named acquisition strategy.

    Attributes:
        name: the registry name (``labelwise run --strategies NAME``).
        select: ``(ctx, k) -> (k,)`` unique positions into ``ctx.X_candidates``.
        needs: learner capabilities the strategy reads from ``ctx``.
        description: one line for ``labelwise strategies``.
        paper: the seed paper file(s) it comes from.
        finetune: the "+ft" variant (paper 002, Algorithm 2): the loop fine-tunes the learner on
            confident pseudo-labels right after ``fit``, before evaluation and selection.
    """

    name: str
    select: SelectFn
    needs: frozenset[str]
    description: str
    paper: str = ""
    finetune: bool = False


STRATEGIES: dict[str, Strategy] = {}


def register(name: str, select: SelectFn, needs=(), description: str = "", paper: str = ""):
    """Add a strategy to the registry; returns it."""
    STRATEGIES[name] = Strategy(name, select, frozenset(needs), description, paper)
    return STRATEGIES[name]


def top_of(score_fn: Callable[[np.ndarray], np.ndarray], largest: bool = True) -> SelectFn:
    """A strategy that scores ``ctx.proba`` with ``score_fn`` and takes the top k."""
    return lambda ctx, k: selectors.top_k(score_fn(ctx.proba), k, largest=largest)


FT_SUFFIX = "+ft"


def with_finetune(strategy: Strategy) -> Strategy:
    """The "+ft" variant of ``strategy``: the same selection after fine-tuning on confident
    pseudo-labels (paper 002, Algorithm 2); it also needs the ``pseudo_label_ft`` capability."""
    return replace(
        strategy,
        name=strategy.name + FT_SUFFIX,
        needs=strategy.needs | {PSEUDO_LABEL_FT},
        description=f"{strategy.name} after fine-tuning on confident pseudo-labels",
        paper=strategy.paper if "002" in strategy.paper else
        ", ".join(sorted({*strategy.paper.split(", "), "002"} - {"", "all"})),
        finetune=True,
    )


def get_strategy(name: str) -> Strategy:
    """Look a strategy up by name, with an error listing the valid names.

    ``"x+ft"`` gives the fine-tuning variant of any registered ``"x"`` (see :func:`with_finetune`).
    """
    if name in STRATEGIES:
        return STRATEGIES[name]
    base = name[: -len(FT_SUFFIX)] if name.endswith(FT_SUFFIX) else None
    if base in STRATEGIES and not STRATEGIES[base].finetune:
        return with_finetune(STRATEGIES[base])
    raise unknown_name_error("strategy", name, STRATEGIES)


def ranked(score: np.ndarray, largest: bool = True) -> np.ndarray:
    """All positions ordered by ``score`` (n,), best first, ties by the lower index."""
    return np.argsort(-score if largest else score, kind="stable")


register("random", lambda ctx, k: selectors.random_choice(ctx.n_candidates, k, ctx.rng),
         description="uniform at random (the baseline)", paper="all")
register("least_confidence", top_of(scores.least_confidence), {PROBA},
         "highest 1 - max_c p_c", "000, 002")
register("margin", top_of(scores.margin, largest=False), {PROBA},
         "smallest gap between the two most likely classes", "002, 003")
register("entropy", top_of(scores.entropy), {PROBA},
         "highest predictive entropy", "000, 004")
register("coreset",
         lambda ctx, k: selectors.kcenter_greedy(ctx.embedding, k, ctx.labeled_embedding, ctx.rng),
         {EMBEDDING}, "k-center greedy on the embedding, labeled points as centres",
         "001, 002, 003")


# --- strategies of issue 3 ---------------------------------------------------------------


def _bald(ctx: SelectionContext, k: int) -> np.ndarray:
    return selectors.top_k(scores.bald(ctx.samples), k)


def _variation_ratio(ctx: SelectionContext, k: int) -> np.ndarray:
    s = ctx.samples
    return selectors.top_k_lex(scores.variation_ratio(s), scores.entropy(scores.mean_proba(s)), k)


def _badge(ctx: SelectionContext, k: int) -> np.ndarray:
    return kmeanspp.kmeanspp_seeding(ctx.embedding, k, ctx.rng, R=scores.badge_residual(ctx.proba))


def _lhd(ctx: SelectionContext, k: int) -> np.ndarray:
    return kmeanspp.kmeanspp_seeding(scores.lhd_embedding(ctx.ema_outputs), k, ctx.rng)


def _alamp(ctx: SelectionContext, k: int) -> np.ndarray:
    return selectors.top_k(scores.alamp(ctx.previous_proba, ctx.proba), k)


def _alamp_div(ctx: SelectionContext, k: int) -> np.ndarray:
    groups = ctx.previous_predicted_class
    if groups is None:  # first round: no previous model, use the current prediction
        groups = ctx.predicted_class
    return selectors.diversify(ranked(scores.alamp(ctx.previous_proba, ctx.proba)), groups, k)


def _rand_div(ctx: SelectionContext, k: int) -> np.ndarray:
    return selectors.diversify(ctx.rng.permutation(ctx.n_candidates), ctx.predicted_class, k)


def _marg_div(ctx: SelectionContext, k: int) -> np.ndarray:
    return selectors.diversify(ranked(scores.margin(ctx.proba), largest=False),
                               ctx.predicted_class, k)


def _feature_similarity(ctx: SelectionContext, k: int) -> np.ndarray:
    pred = ctx.predicted_class
    s = scores.feature_similarity(ctx.embedding, pred, ctx.labeled_embedding,
                                  ctx.labeled_class_idx)
    return selectors.per_class_quota(s, pred, ctx.n_classes, k, largest=False)


def _dfm(ctx: SelectionContext, k: int) -> np.ndarray:
    s = scores.dfm(ctx.embedding, ctx.predicted_class, ctx.labeled_embedding,
                   ctx.labeled_class_idx)
    return selectors.top_k(s, k)


def _learning_loss(ctx: SelectionContext, k: int) -> np.ndarray:
    return selectors.top_k(np.asarray(ctx.predicted_loss), k)


register("bald", _bald, {SAMPLES},
         "highest mutual information H[mean p] - mean H[p] over T stochastic predictions",
         "002, 004")
register("variation_ratio", _variation_ratio, {SAMPLES},
         "highest 1 - modal votes / N over ensemble members, ties by entropy of the mean", "001")
register("badge", _badge, {PROBA, EMBEDDING},
         "k-means++ seeding on the gradient embedding (p - onehot) x h, never materialised",
         "002 (Ash et al. 2020)")
register("lhd", _lhd, {EMA},
         "k-means++ seeding on |l_ema - l_main| * (h_ema - h_main)", "002")
register("alamp", _alamp, {PROBA},
         "largest relative shift of margin towards uncertainty since last round", "003")
register("alamp_div", _alamp_div, {PROBA},
         "alamp order diversified by last round's predicted class", "003")
register("rand_div", _rand_div, {PROBA},
         "random order diversified by the predicted class", "003")
register("marg_div", _marg_div, {PROBA},
         "margin order diversified by the predicted class", "003")
register("scal", _feature_similarity, {PROBA, EMBEDDING, CONTRASTIVE},
         "per-class quota of lowest cosine similarity to labeled items, contrastive features",
         "004")
register("featuresim", _feature_similarity, {PROBA, EMBEDDING},
         "per-class quota of lowest cosine similarity to labeled items of the predicted class",
         "004")
register("dfm", _dfm, {PROBA, EMBEDDING},
         "largest class-conditional PCA reconstruction error (97% variance)", "004")
register("learning_loss", _learning_loss, {LOSS_PREDICTION},
         "largest loss predicted by the Learning Loss module", "004 (Yoo & Kweon 2019)")

for _name in list(STRATEGIES):
    STRATEGIES[_name + FT_SUFFIX] = with_finetune(STRATEGIES[_name])
