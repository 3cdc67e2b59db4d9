"""The one training loop of the torch learners, and the torch plumbing around it.

:class:`Trainer` trains a network in place: Adam on seeded mini-batches until the epoch's mean loss
falls below ``stop_ratio`` x the loss of the first step ("Pretrained Models Are Good Active
Learners", 2021: 0.001), or ``max_epochs``. What a learner adds to training (an EMA of the
weights, LHD's snapshot, a stop on train accuracy) comes in as *hooks*: objects with
``after_step(net)`` and/or ``after_epoch(net, epoch, Xt, yt) -> bool`` (True stops training).

Every network here has two parts: ``net.features(x)`` gives the representation h(x) (n, d) and
``net.head(h)`` the logits (n, K); the learners never call ``forward``.

torch is imported inside the functions, so ``import labelwise`` stays fast.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence

import numpy as np


def resolve_device(device: str = "auto") -> str:
    """``"auto"`` picks CUDA when a GPU is visible, else the CPU; any other value is kept."""
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return device


def rng_devices(device: str) -> list[int]:
    """The CUDA devices whose RNG ``torch.random.fork_rng`` must save for ``device``."""
    import torch

    return [torch.device(device).index or 0] if device.startswith("cuda") else []


@contextlib.contextmanager
def torch_threads(n: int | None):
    """Run the block with ``n`` torch CPU threads (None: leave as is), restoring the count after.

    Small heads train faster on one thread: per-step work is tiny and thread hand-offs dominate
    (measured here: 2.3 ms vs 66 ms per Adam step of a 64-256-10 MLP on a busy 2-core machine).
    """
    import torch

    before = torch.get_num_threads()
    if n is not None:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def seeded_network(build: Callable[[], object], seed: int, device: str):
    """``build()`` under ``torch.manual_seed(seed)``, moved to ``device``; the global RNG is
    left as it was, so the same seed gives the same initial weights every fit."""
    import torch

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        net = build()
    return net.to(device)


def logits(net, xb):
    """The network's logits ``head(features(x))``."""
    return net.head(net.features(xb))


def forward_numpy(net, X: np.ndarray, fn: Callable, device: str, batch: int = 8192) -> np.ndarray:
    """``fn(net, xb)`` over X (n, d) in batches without gradients, as a numpy array (n, ...).

    The network is put in eval mode; float64 for 2-D outputs (probabilities), else float32.
    """
    import torch

    net.eval()
    out = []
    with torch.no_grad():
        for start in range(0, len(X), batch):
            xb = torch.as_tensor(X[start:start + batch], dtype=torch.float32, device=device)
            out.append(fn(net, xb).cpu().numpy())
    return np.concatenate(out).astype(np.float64 if out[0].shape[1] else np.float32)


def proba_numpy(net, X: np.ndarray, device: str) -> np.ndarray:
    """Class probabilities (n, K) float64 of ``net`` in eval mode."""
    return forward_numpy(net, X, lambda m, xb: logits(m, xb).softmax(dim=1), device)


def embed_numpy(net, X: np.ndarray, device: str) -> np.ndarray:
    """The representation h(x) = ``net.features(x)``, (n, d) float32."""
    return forward_numpy(net, X, lambda m, xb: m.features(xb), device).astype(np.float32)


def train_accuracy(net, Xt, yt) -> float:
    """Accuracy of ``net`` (eval mode, no gradients) on tensors Xt (n, d), yt (n,); the
    network is left in train mode, as it is found during training."""
    import torch

    net.eval()
    with torch.no_grad():
        acc = (logits(net, Xt).argmax(dim=1) == yt).float().mean().item()
    net.train()
    return acc


class FeatureAugment:
    """Feature-space augmentation for frozen embeddings: Gaussian noise, then input dropout.

    The noise of feature j is ``noise_std`` x the standard deviation of feature j on the set given
    to :meth:`fit`; input dropout zeroes a feature with probability ``input_dropout`` (survivors
    scaled by 1/(1-p)). It stands in for the image augmentations (RandAugment, Cutout) of Khosla
    et al. 2022, which frozen features cannot take. Uses torch's global RNG (the trainer seeds it).
    """

    def __init__(self, noise_std: float, input_dropout: float):
        self.noise_std = noise_std
        self.input_dropout = input_dropout
        self.scale = None

    def fit(self, X: np.ndarray, device: str) -> FeatureAugment:
        """Set the per-feature scale (1, d) from X (n, d); a single row gives zero noise."""
        import torch

        Xt = torch.as_tensor(X, dtype=torch.float32, device=device)
        self.scale = (Xt.std(dim=0, keepdim=True).nan_to_num(0.0) if len(Xt) > 1
                      else 0.0 * Xt[:1])
        return self

    def __call__(self, xb):
        import torch
        import torch.nn.functional as F

        if self.noise_std > 0:
            xb = xb + self.noise_std * self.scale * torch.randn_like(xb)
        if self.input_dropout > 0:
            xb = F.dropout(xb, self.input_dropout, training=True)
        return xb


def mean_loss(net, X: np.ndarray, y_idx: np.ndarray, loss_fn: Callable, device: str,
              batch: int = 8192) -> float:
    """The mean of ``loss_fn(net, xb, yb, 1)`` (its monitored part) over X (n, d), y_idx (n,)
    in batches, in eval mode, without gradients."""
    import torch

    net.eval()
    total = 0.0
    with torch.no_grad():
        for start in range(0, len(X), batch):
            xb = torch.as_tensor(X[start:start + batch], dtype=torch.float32, device=device)
            yb = torch.as_tensor(y_idx[start:start + batch], dtype=torch.long, device=device)
            out = loss_fn(net, xb, yb, 1)
            total += float((out[1] if isinstance(out, tuple) else out).item()) * len(xb)
    return total / len(X)


def cross_entropy_loss(net, xb, yb, epoch: int):
    """The default objective: mean cross-entropy of ``head(features(x))``."""
    import torch.nn.functional as F

    return F.cross_entropy(logits(net, xb), yb)


class Trainer:
    """One training loop for every torch learner (seeded, restartable, with hooks).

    Adam on mini-batches (one full batch when the set is at most ``batch_size``); shuffling,
    dropout masks and augmentation noise are seeded by the ``seed`` given to :meth:`fit`, so two
    fits of the same initial network on the same data give the same weights. Training stops when
    the epoch's mean (monitored) loss falls below ``stop_ratio`` x the first step's, when a hook
    asks to stop, or after ``max_epochs``.

    Args:
        lr, weight_decay: Adam settings.
        batch_size: mini-batch size.
        max_epochs: the cap on epochs.
        stop_ratio: the relative loss at which training stops (0.001).
        threads: torch CPU threads while training (None: leave as is).
        device: where the network and the batches live (already resolved, e.g. ``"cpu"``).
    """

    def __init__(self, lr: float, weight_decay: float, batch_size: int, max_epochs: int,
                 stop_ratio: float, threads: int | None, device: str):
        self.lr = lr
        self.weight_decay = weight_decay
        self.batch_size = batch_size
        self.max_epochs = max_epochs
        self.stop_ratio = stop_ratio
        self.threads = threads
        self.device = device

    def fit(self, net, X: np.ndarray, y_idx: np.ndarray, seed: int, *,
            loss_fn: Callable | None = None, parameters=None, lr: float | None = None,
            max_epochs: int | None = None, batch_size: int | None = None,
            stop_rule: bool = True, transform: Callable | None = None,
            hooks: Sequence = (), optimizer=None, max_steps: int | None = None,
            train_mode: Callable | None = None, stop_loss: float | None = None) -> dict:
        """Train ``net`` in place on X (n, d) and class indices y_idx (n,); returns a log.

        Args:
            seed: seeds the shuffling, dropout masks and augmentation noise.
            loss_fn: ``(net, xb, yb, epoch) -> loss`` or ``(loss, monitored loss)`` (default:
                :func:`cross_entropy_loss`); ``epoch`` counts from 1.
            parameters: what Adam updates (default: all of ``net``).
            lr, max_epochs, batch_size: override the trainer's settings for this call.
            stop_rule: stop on the relative loss (off: a hook or ``max_epochs`` ends training).
            stop_loss: the loss to stop below instead of ``stop_ratio`` x the first step's (a
                warm start: its first loss is already low, so the fresh fit's target is given).
            transform: applied to every input batch (e.g. a :class:`FeatureAugment`).
            hooks: ``after_step(net)`` after every optimiser step; ``after_epoch(net, epoch,
                Xt, yt) -> bool`` after every epoch, on the whole (unaugmented) training set.
            optimizer: a built torch optimiser to step instead of Adam on ``parameters`` (e.g.
                AdamW with one learning rate for a pretrained backbone and one for the head).
            max_steps: a cap on optimiser steps, which may end training inside an epoch (the
                fine-tuning learners count steps, not epochs).
            train_mode: ``(net) -> None`` puts the network in training mode each epoch (default
                ``net.train()``; fine-tuning keeps batch norm frozen).

        Returns:
            ``{"epochs", "steps", "first_loss", "final_loss", "stopped"}`` with ``stopped`` one
            of ``"loss"``, ``"hook"``, ``"max_epochs"``, ``"max_steps"``.
        """
        import torch

        loss_fn = loss_fn or cross_entropy_loss
        Xt = torch.as_tensor(X, dtype=torch.float32, device=self.device)
        yt = torch.as_tensor(y_idx, dtype=torch.long, device=self.device)
        opt = optimizer
        if opt is None:
            params = list(net.parameters() if parameters is None else parameters)
            opt = torch.optim.Adam(params, lr=self.lr if lr is None else lr,
                                   weight_decay=self.weight_decay)
        gen = torch.Generator().manual_seed(seed)
        max_epochs = self.max_epochs if max_epochs is None else max_epochs
        bs = self.batch_size if batch_size is None else batch_size
        steppers = [h for h in hooks if hasattr(h, "after_step")]
        watchers = [h for h in hooks if hasattr(h, "after_epoch")]
        n, first_loss, epoch_loss, epochs, stopped = len(Xt), None, float("nan"), 0, "max_epochs"
        steps = 0
        with torch.random.fork_rng(devices=rng_devices(self.device)), torch_threads(self.threads):
            torch.manual_seed(seed)
            for epochs in range(1, max_epochs + 1):
                net.train() if train_mode is None else train_mode(net)
                order = torch.randperm(n, generator=gen).to(self.device)
                total, seen = 0.0, 0
                for start in range(0, n, bs):
                    idx = order[start:start + bs]
                    xb = Xt[idx] if transform is None else transform(Xt[idx])
                    out = loss_fn(net, xb, yt[idx], epochs)
                    loss, monitor = out if isinstance(out, tuple) else (out, out)
                    opt.zero_grad()
                    loss.backward()
                    opt.step()
                    for h in steppers:
                        h.after_step(net)
                    steps += 1
                    if first_loss is None:
                        first_loss = monitor.item()
                    total += monitor.item() * len(idx)
                    seen += len(idx)
                    if max_steps is not None and steps >= max_steps:
                        break
                epoch_loss = total / seen
                # every watcher sees every epoch (no short-circuit: LHD's gaps must stay whole)
                asks = [h.after_epoch(net, epochs, Xt, yt) for h in watchers]
                if any(asks):
                    stopped = "hook"
                    break
                target = self.stop_ratio * first_loss if stop_loss is None else stop_loss
                if stop_rule and epoch_loss < target:
                    stopped = "loss"
                    break
                if max_steps is not None and steps >= max_steps:
                    stopped = "max_steps"
                    break
        net.eval()
        return {"epochs": epochs, "steps": steps, "first_loss": first_loss,
                "final_loss": epoch_loss, "stopped": stopped}
