"""OOD AUROC from a strategy's own acquisition score (Krishnan et al. 2021, Fig. 4a).

The score each strategy ranks candidates by (its registry ``score``), computed on a mixture of
in-distribution test inputs and out-of-distribution inputs; the AUROC says how well "pick first"
separates OOD inputs. Strategies without a per-item score (BADGE, LHD) give NaN.
"""

from __future__ import annotations

import numpy as np

from labelwise.metrics import ood_auroc


def strategy_ood_auroc(strategy, model, X_in: np.ndarray, X_out: np.ndarray,
                       X_labeled: np.ndarray, y_labeled: np.ndarray, random_state=None) -> float:
    """AUROC of ``strategy``'s score for OOD ``X_out`` (n_out, d) vs ``X_in`` (n_in, d), with the
    fitted ``model`` and its labeled set; NaN for strategies without a per-item score."""
    from labelwise.strategies import SelectionContext, get_strategy

    strat = get_strategy(strategy)
    if strat.score is None:
        return float("nan")
    X = np.concatenate([X_in, X_out]).astype(np.float32)
    ctx = SelectionContext(model, X, X_labeled, y_labeled, random_state=random_state)
    s = np.nan_to_num(np.asarray(strat.score(ctx), dtype=float), posinf=1e300, neginf=-1e300)
    return ood_auroc(s[:len(X_in)], s[len(X_in):], higher_means_ood=strat.largest)
