"""labelwise: pool-based active learning.

The public API, imported lazily so that ``import labelwise`` stays fast::

    from labelwise import ActiveLearner, make_learner, query, run_active_learning, load_dataset

Extension points: :func:`register_strategy` (a score and/or a selector reading a
:class:`SelectionContext`), :func:`register_learner` and :func:`as_learner` (any scikit-learn
classifier), the :class:`Learner` protocol and the capability names (``PROBA``, ``EMBEDDING``, ...)
from :mod:`labelwise.protocol`.
"""

from __future__ import annotations

import importlib

__version__ = "0.1.0"

_CAPABILITIES = ("PROBA", "EMBEDDING", "SAMPLES", "EMA", "CONTRASTIVE", "LOSS_PREDICTION",
                 "PSEUDO_LABEL_FT")

_EXPORTS = {
    "ActiveLearner": "labelwise.engine",
    "query": "labelwise.loop",
    "run_active_learning": "labelwise.loop",
    "initial_labeled_set": "labelwise.loop",
    "RoundRecord": "labelwise.loop",
    "make_learner": "labelwise.learners",
    "load_dataset": "labelwise.data",
    "read_features": "labelwise.data",
    "as_learner": "labelwise.learners",
    "register_learner": "labelwise.learners",
    "Learner": "labelwise.learners",
    "STRATEGIES": "labelwise.strategies",
    "Strategy": "labelwise.strategies",
    "SelectionContext": "labelwise.strategies",
    "get_strategy": "labelwise.strategies",
    "register_strategy": "labelwise.strategies",
    **{name: "labelwise.learners.base" for name in _CAPABILITIES},
    "LabelwiseError": "labelwise.validation",
    "ShardedPool": "labelwise.sharded",
    "simulate": "labelwise.experiments.simulate",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'labelwise' has no attribute {name!r}")
