"""The strategy registry: every strategy named as a score (or representation) + a selector.

A strategy is a function ``select(ctx, k) -> positions`` plus the capabilities it needs from the
learner. Adding one is one function in ``scores.py`` (or ``selectors.py``) and one ``register`` line.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from labelwise.learners.base import EMBEDDING, PROBA
from labelwise.strategies import scores, selectors
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
    """

    name: str
    select: SelectFn
    needs: frozenset[str]
    description: str
    paper: str = ""


STRATEGIES: dict[str, Strategy] = {}


def register(name: str, select: SelectFn, needs=(), description: str = "", paper: str = ""):
    """Add a strategy to the registry; returns it."""
    STRATEGIES[name] = Strategy(name, select, frozenset(needs), description, paper)
    return STRATEGIES[name]


def top_of(score_fn: Callable[[np.ndarray], np.ndarray], largest: bool = True) -> SelectFn:
    """A strategy that scores ``ctx.proba`` with ``score_fn`` and takes the top k."""
    return lambda ctx, k: selectors.top_k(score_fn(ctx.proba), k, largest=largest)


def get_strategy(name: str) -> Strategy:
    """Look a strategy up by name, with an error listing the valid names."""
    if name not in STRATEGIES:
        raise unknown_name_error("strategy", name, STRATEGIES)
    return STRATEGIES[name]


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
         {EMBEDDING}, "k-center greedy on the embedding, labeled points as centres", "001, 002, 003")
