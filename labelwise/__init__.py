"""labelwise: pool-based active learning.

The public API, imported lazily so that ``import labelwise`` stays fast::

    from labelwise import make_learner, query, run_active_learning, load_dataset
"""

from __future__ import annotations

import importlib

__version__ = "0.1.0"

_EXPORTS = {
    "query": "labelwise.loop",
    "run_active_learning": "labelwise.loop",
    "initial_labeled_set": "labelwise.loop",
    "RoundRecord": "labelwise.loop",
    "make_learner": "labelwise.learners",
    "load_dataset": "labelwise.data",
    "read_features": "labelwise.data",
    "STRATEGIES": "labelwise.strategies",
    "LabelwiseError": "labelwise.validation",
    "simulate": "labelwise.experiments.simulate",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'labelwise' has no attribute {name!r}")
