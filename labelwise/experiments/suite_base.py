"""What every benchmark suite is made of: :class:`Suite`, the registry ``SUITES``, the
:func:`suite` decorator that fills it, and :func:`grid`, which spells a grid of runs.

Each suite lives in a module of its own (``*_suite.py`` beside this one) that imports from here;
:mod:`labelwise.experiments.suites` imports them all and runs them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import pandas as pd

from labelwise.experiments.simulate import RunSpec

SUITES: dict[str, Suite] = {}


@dataclass
class Suite:
    """A named benchmark: ``specs(quick, seeds)`` builds the grid, ``claims(results, picks)``
    checks the paper's claims on the results (a list of :class:`~.claims.Claim`); ``seed_set``
    says how the paper draws its seed set and how the grid follows it (printed in the report)."""

    name: str
    paper: str
    description: str
    specs: Callable[[bool, int], list[RunSpec]]
    claims: Callable[[pd.DataFrame, pd.DataFrame], list]
    data: str = ""
    seed_set: str = ""
    notes: list[str] = field(default_factory=list)


def suite(name: str, paper: str, description: str, data: str = "", seed_set: str = ""):
    """Register the suite that the decorated function builds: it returns (specs, claims)."""
    def deco(fn):
        specs_fn, claims_fn = fn()
        SUITES[name] = Suite(name, paper, description, specs_fn, claims_fn, data, seed_set)
        return fn
    return deco


#: learner settings of the ``--quick`` grids for the torch MLP heads (mlp, ensemble, supcon,
#: lossnet): at most 100 epochs per fit instead of 200. It binds only on fits where the loss-ratio
#: stopping rule has not fired by then (in the quick runs here most fits stopped earlier, and
#: final accuracies moved by < 0.01), so it bounds the time of the slowest fits.
QUICK_MLP = (("max_epochs", 100),)


def grid(settings, strategies, seeds, **common) -> list[RunSpec]:
    """Specs for every (setting, strategy, seed); a setting is (tag, dataset, params, overrides)
    and a strategy is a name or (name, learner)."""
    out = []
    for tag, dataset, params, over in settings:
        for strat in strategies:
            name, learner = strat if isinstance(strat, tuple) else (strat, common["learner"])
            kw = {**common, **over, "learner": learner}
            for seed in range(seeds):
                out.append(RunSpec(dataset=dataset, strategy=name, seed=seed,
                                   dataset_params=tuple(sorted(params.items())), tag=tag, **kw))
    return out
