"""OOD AUROC from a strategy's own acquisition score (paper 004, Fig. 4a).

The score each strategy ranks candidates by, computed on a mixture of in-distribution test inputs
and out-of-distribution inputs; the AUROC says how well "pick first" separates OOD inputs.
"""

from __future__ import annotations

import numpy as np

from labelwise.metrics import ood_auroc


def _min_distance(h: np.ndarray, h_labeled: np.ndarray, block: int = 4096) -> np.ndarray:
    from sklearn.metrics import pairwise_distances_argmin_min

    return np.concatenate([pairwise_distances_argmin_min(h[i:i + block], h_labeled)[1]
                           for i in range(0, len(h), block)])


def strategy_score(strategy: str, ctx) -> tuple[np.ndarray, bool] | None:
    """(score (n,), higher_means_pick_first) of ``strategy`` on the context's candidates, or None
    when the strategy has no per-item score (batch-only selectors such as BADGE and LHD)."""
    from labelwise.strategies import scores

    base = strategy.removesuffix("+ft")
    if base in ("least_confidence", "entropy"):
        return getattr(scores, base)(ctx.proba), True
    if base in ("margin", "marg_div"):
        return scores.margin(ctx.proba), False
    if base == "random":
        return ctx.rng.random(ctx.n_candidates), True
    if base == "bald":
        return scores.bald(ctx.samples), True
    if base == "variation_ratio":
        return scores.variation_ratio(ctx.samples), True
    if base == "coreset":
        return _min_distance(ctx.embedding, ctx.labeled_embedding), True
    if base == "dfm":
        return scores.dfm(ctx.embedding, ctx.proba.argmax(1), ctx.labeled_embedding,
                          ctx.labeled_class_idx), True
    if base in ("scal", "featuresim"):
        return scores.feature_similarity(ctx.embedding, ctx.proba.argmax(1),
                                         ctx.labeled_embedding, ctx.labeled_class_idx), False
    if base == "learning_loss":
        return np.asarray(ctx.predicted_loss), True
    return None


def strategy_ood_auroc(strategy: str, model, X_in: np.ndarray, X_out: np.ndarray,
                       X_labeled: np.ndarray, y_labeled: np.ndarray, random_state=None) -> float:
    """AUROC of ``strategy``'s score for OOD ``X_out`` (n_out, d) vs ``X_in`` (n_in, d), with the
    fitted ``model`` and its labeled set; NaN for strategies without a per-item score."""
    from labelwise.strategies import SelectionContext

    X = np.concatenate([X_in, X_out]).astype(np.float32)
    ctx = SelectionContext(model, X, X_labeled, y_labeled, random_state=random_state)
    got = strategy_score(strategy, ctx)
    if got is None:
        return float("nan")
    s, higher = got
    s = np.nan_to_num(np.asarray(s, dtype=float), posinf=1e300, neginf=-1e300)
    return ood_auroc(s[:len(X_in)], s[len(X_in):], higher_means_ood=higher)
