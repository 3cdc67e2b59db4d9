"""MC dropout: T stochastic forward passes with the dropout layers on (Gal et al. 2017; BALD in
Khosla et al. 2022 and Krishnan et al. 2021).

Only the dropout modules are switched to train mode; everything else (batch norm) stays in eval
mode, so the passes differ by their dropout masks alone.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from labelwise.validation import LabelwiseError


def mc_dropout_layers(net) -> list:
    """The dropout modules of ``net`` with a rate above 0 (what MC dropout switches on)."""
    import torch.nn as nn

    return [m for m in net.modules() if isinstance(m, nn.modules.dropout._DropoutNd) and m.p > 0]


def mc_dropout_samples(net, X: np.ndarray, n_samples: int, n_classes: int, seed: int,
                       device: str, forward: Callable, owner: str = "the network",
                       batch: int = 8192) -> np.ndarray:
    """MC-dropout class probabilities of ``net`` on X (n, d), shape (T, n, K) float32.

    Each input batch is repeated T times and passed once (one call for all T masks). Seeded by
    ``seed`` without touching torch's global RNG, so repeated calls give the same samples; the
    network is left in eval mode.

    Args:
        net: the fitted network.
        X: (n, d) inputs.
        n_samples: T.
        n_classes: K.
        seed: seeds the dropout masks.
        device: where ``net`` lives.
        forward: ``(net, xb) -> logits`` (n, K).
        owner: named in the error message.

    Raises:
        LabelwiseError: if ``net`` has no dropout layer with a rate above 0 (the samples would all
            be identical and BALD silently zero).
    """
    import torch

    from labelwise.learners.trainer import rng_devices

    drops = mc_dropout_layers(net)
    if not drops:
        raise LabelwiseError(
            f"{owner} has no dropout layer (torch.nn.Dropout) with rate > 0, so MC-dropout "
            "samples would be identical; add dropout (e.g. dropout > 0) or use the 'ensemble' "
            "learner"
        )
    T = n_samples
    out = np.empty((T, len(X), n_classes), dtype=np.float32)
    step = max(1, batch // T)
    net.eval()
    for m in drops:
        m.train()
    try:
        with torch.random.fork_rng(devices=rng_devices(device)), torch.no_grad():
            torch.manual_seed(seed)
            for start in range(0, len(X), step):
                xb = torch.as_tensor(X[start:start + step], dtype=torch.float32, device=device)
                xb = xb.repeat(T, *([1] * (xb.dim() - 1)))  # one pass for all T samples
                p = forward(net, xb).softmax(dim=1).reshape(T, -1, n_classes)
                out[:, start:start + step] = p.cpu().numpy()
    finally:
        net.eval()
    return out
