"""An exponential moving average (EMA) of network weights and LHD's snapshot trigger (paper 002).

LHD (paper 002, Algorithm 1) compares a model with the EMA of its own iterates. The EMA is updated
after every optimiser step with the warm-up decay of the public code (the mean-teacher rule):
``beta <- a * beta + (1 - a) * theta`` with ``a = min(1 - 1/(step + 1), decay)``, ``step`` counting
optimiser steps from 1, so the first update averages the initial and the first trained weights.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence


def ema_decay(step: int, decay: float = 0.999) -> float:
    """The warm-up decay ``min(1 - 1/(step + 1), decay)`` after optimiser step ``step`` >= 1."""
    return min(1.0 - 1.0 / (step + 1), decay)


def snapshot_epoch(gaps: Sequence[float], patience: int = 5) -> int | None:
    """The epoch at which LHD takes its snapshot, or None (then: at the end of training).

    ``gaps[t]`` is the train-accuracy gap (main model minus EMA model) after epoch t. The snapshot
    is taken at the first epoch t where the gap has shrunk (strictly) ``patience`` times in a row,
    i.e. ``gaps[t-patience] > ... > gaps[t]`` (the trigger of paper 002's public code).

    Returns:
        the 0-based epoch index t, or None if the gap never shrank ``patience`` epochs in a row.
    """
    run = 0
    for t in range(1, len(gaps)):
        run = run + 1 if gaps[t] < gaps[t - 1] else 0
        if run >= patience:
            return t
    return None


class WeightEMA:
    """The EMA copy of a torch module, updated in place with :func:`ema_decay`.

    Buffers (e.g. batch-norm statistics) are copied, not averaged.

    Args:
        net: the main network; its current weights are the EMA's starting point.
        decay: the cap on the decay (paper 002: 0.999).
    """

    def __init__(self, net, decay: float = 0.999):
        self.model = copy.deepcopy(net)
        for p in self.model.parameters():
            p.requires_grad_(False)
        self.decay = decay
        self.step = 0

    def update(self, net) -> None:
        """One EMA step after one optimiser step of ``net``."""
        import torch

        self.step += 1
        a = ema_decay(self.step, self.decay)
        with torch.no_grad():
            for b, p in zip(self.model.parameters(), net.parameters(), strict=True):
                b.mul_(a).add_(p.detach(), alpha=1.0 - a)
            for b, p in zip(self.model.buffers(), net.buffers(), strict=True):
                b.copy_(p)


def same_weights(net_a, net_b) -> bool:
    """Whether two modules of one architecture hold exactly the same parameters."""
    import torch

    return all(torch.equal(a, b) for a, b in
               zip(net_a.parameters(), net_b.parameters(), strict=True))
