"""The EMA of network weights and LHD's snapshot (Khosla et al. 2022, "Neural Active Learning on
Heteroskedastic Distributions", Algorithm 1).

LHD compares a model with the exponential moving average (EMA) of its own iterates. The EMA is
updated after every optimiser step with the warm-up decay of the authors' public code (the
mean-teacher rule): ``beta <- a * beta + (1 - a) * theta`` with
``a = min(1 - 1/(step + 1), decay)``, ``step`` counting optimiser steps from 1, so the first
update averages the EMA's starting weights and the first trained weights equally.

Where the EMA starts, and whether its step counter restarts (``ema_mode`` of the torch learners):

- ``"public"`` (default), as the public code: the EMA network has its own seeded initial weights
  (not a copy of the main network's), and its step counter is never reset: it runs on through
  +FT and into the next round (``learner.clone()`` of a fitted learner carries it, and so does a
  second ``fit`` of the same learner). From the second round on, the decay is at its cap from the
  first step, so the EMA leaves its own initialisation slowly (after s steps it still holds
  ``decay ** s`` of it). The public code also redraws both networks' weights every round; here
  both restart from the same seeded weights every fit, as every torch learner does.
- ``"fresh"``: the EMA starts as a copy of the main network's initial weights and the warm-up
  restarts every fit (Algorithm 1 as written: "the initial EMA model F_theta1").
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence

import numpy as np

from labelwise.learners.trainer import embed_numpy, proba_numpy, train_accuracy
from labelwise.validation import LabelwiseError

#: the values of ``ema_mode``
EMA_MODES = ("public", "fresh")
#: offset from the learner's seed to the seed of the separately initialised EMA network
EMA_SEED_OFFSET = 7919


def ema_decay(step: int, decay: float = 0.999) -> float:
    """The warm-up decay ``min(1 - 1/(step + 1), decay)`` after optimiser step ``step`` >= 1."""
    return min(1.0 - 1.0 / (step + 1), decay)


def snapshot_epoch(gaps: Sequence[float], patience: int = 5) -> int | None:
    """The epoch at which LHD takes its snapshot, or None (then: at the end of training).

    ``gaps[t]`` is the train-accuracy gap (main model minus EMA model) after epoch t. The snapshot
    is taken at the first epoch t where the gap has shrunk (strictly) ``patience`` times in a row,
    i.e. ``gaps[t-patience] > ... > gaps[t]`` (the trigger of Khosla et al.'s public code, which
    also compares the first epoch's gap with 0: that differs only when the EMA is the more
    accurate model after the first epoch).

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

    Buffers (e.g. batch-norm statistics) are copied from the main network, not averaged.

    Args:
        start: the network whose current weights the EMA starts from (it is copied).
        decay: the cap on the decay (Khosla et al. 2022: 0.999).
        step: optimiser steps already taken (the warm-up continues from there).
    """

    def __init__(self, start, decay: float = 0.999, step: int = 0):
        self.model = copy.deepcopy(start)
        for p in self.model.parameters():
            p.requires_grad_(False)
        self.decay = decay
        self.step = step

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


def start_ema(net, mode: str, decay: float, step: int, build_separate: Callable[[], object]):
    """The EMA for a fresh main network ``net`` in ``ema_mode`` ``mode`` (module docstring).

    Args:
        net: the main network, untrained.
        mode: ``"public"`` or ``"fresh"``.
        decay: the cap on the decay.
        step: the step count to continue from (``"public"``; ``"fresh"`` starts at 0).
        build_separate: gives the separately initialised EMA network (``"public"``).
    """
    if mode == "public":
        return WeightEMA(build_separate(), decay, step=step)
    return WeightEMA(net, decay, step=0)


def check_ema_settings(mode: str, decay: float, patience: int) -> None:
    if mode not in EMA_MODES:
        raise LabelwiseError(f"ema_mode must be one of {', '.join(EMA_MODES)}, got {mode!r}")
    if not 0.0 < decay < 1.0:
        raise LabelwiseError(f"ema_decay must be in (0, 1), got {decay}")
    if int(patience) != patience or patience < 1:
        raise LabelwiseError(f"snapshot_patience must be an integer >= 1, got {patience}")


class LHDTracker:
    """A training hook: the EMA after every optimiser step and, optionally, LHD's snapshot.

    With ``patience``, after every epoch it records the train-accuracy gap main - EMA and takes
    the snapshot (copies of both networks) at the first epoch :func:`snapshot_epoch` fires;
    :meth:`finish` takes it at the end of training when it never fired. With ``patience=None``
    (fine-tuning) it only updates the EMA.
    """

    def __init__(self, ema: WeightEMA, patience: int | None = 5):
        self.ema = ema
        self.patience = patience
        self.gaps: list[float] = []
        self.snapshot: dict | None = None

    def after_step(self, net) -> None:
        self.ema.update(net)

    def after_epoch(self, net, epoch: int, Xt, yt) -> bool:
        if self.patience is not None and self.snapshot is None:
            self.gaps.append(train_accuracy(net, Xt, yt) - train_accuracy(self.ema.model, Xt, yt))
            if snapshot_epoch(self.gaps, self.patience) == len(self.gaps) - 1:
                self.take(net, epoch)
        return False  # the snapshot never ends training

    def take(self, net, epoch: int | str) -> dict:
        """Snapshot the main and EMA networks now (``epoch``: when, for the training log)."""
        self.snapshot = {"main": copy.deepcopy(net).eval(),
                         "ema": copy.deepcopy(self.ema.model).eval(), "epoch": epoch}
        return self.snapshot

    def finish(self, net, log: dict) -> dict:
        """Take the snapshot at the end if it never fired; note when it was taken in ``log``."""
        if self.snapshot is None:
            self.take(net, log["epochs"])
            log["snapshot"] = "end"
        else:
            log["snapshot"] = self.snapshot["epoch"]
        log["accuracy_gaps"] = self.gaps
        return log


def same_weights(net_a, net_b) -> bool:
    """Whether two modules of one architecture hold exactly the same parameters."""
    import torch

    return all(torch.equal(a, b) for a, b in
               zip(net_a.parameters(), net_b.parameters(), strict=True))


def lhd_outputs(snapshot: dict, X: np.ndarray, device: str) -> dict[str, np.ndarray]:
    """Main and EMA outputs at LHD's snapshot for X (n, d) (Khosla et al. 2022, Algorithm 1).

    Returns:
        ``proba_main`` (n, K), ``embed_main`` (n, d), ``proba_ema`` (n, K), ``embed_ema`` (n, d).

    Raises:
        LabelwiseError: if the EMA equals the main weights (no optimiser step was taken).
    """
    main, ema = snapshot["main"], snapshot["ema"]
    if same_weights(main, ema):
        raise LabelwiseError(
            "the EMA model equals the main model (no optimiser step was taken), so LHD's "
            "state difference would be zero everywhere"
        )
    out = {}
    for tag, net in [("main", main), ("ema", ema)]:
        out[f"proba_{tag}"] = proba_numpy(net, X, device)
        out[f"embed_{tag}"] = embed_numpy(net, X, device)
    return out
