"""Acquisition strategies: scores and selectors as pure functions, one registry, one context."""

from labelwise.strategies.context import SelectionContext
from labelwise.strategies.registry import (
    STRATEGIES,
    Strategy,
    get_strategy,
    on_proba,
    register,
    strategy_names,
)

#: the public name of :func:`labelwise.strategies.registry.register`
register_strategy = register

__all__ = ["STRATEGIES", "SelectionContext", "Strategy", "get_strategy", "on_proba", "register",
           "register_strategy", "strategy_names"]
