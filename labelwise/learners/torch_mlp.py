"""A small torch MLP head on features: the learner that stochastic strategies build on.

torch is imported only when this module is used, so ``import labelwise`` stays fast.
"""

from __future__ import annotations

import numpy as np

from labelwise.learners.base import EMBEDDING, PROBA, BaseLearner


def resolve_device(device: str = "auto") -> str:
    """``"auto"`` picks CUDA when a GPU is visible, else the CPU; any other value is kept."""
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return device


def build_mlp(n_features: int, n_classes: int, hidden: int, dropout: float):
    """Linear -> ReLU -> Dropout -> Linear; ``net.body`` gives h(x) (n, hidden)."""
    import torch.nn as nn

    class MLPHead(nn.Module):
        def __init__(self):
            super().__init__()
            self.body = nn.Sequential(nn.Linear(n_features, hidden), nn.ReLU())
            self.dropout = nn.Dropout(dropout)
            self.head = nn.Linear(hidden, n_classes)

        def forward(self, x):
            return self.head(self.dropout(self.body(x)))

    return MLPHead()


class TorchMLPLearner(BaseLearner):
    """One-hidden-layer MLP on features, trained from the same seeded initial state every round.

    Training follows paper 000's stopping rule: Adam on mini-batches until the epoch's mean
    training loss falls below ``stop_ratio`` x the loss of the first step, or ``max_epochs``.

    Args:
        hidden: width of the hidden layer (the embedding dimension d).
        dropout: dropout rate before the output layer.
        lr, weight_decay: Adam settings.
        batch_size: mini-batch size.
        max_epochs: cap on training epochs.
        stop_ratio: the relative loss at which training stops (paper 000: 0.001).
        device: ``"auto"`` (CUDA if present), ``"cpu"`` or ``"cuda"``.
    """

    capabilities = frozenset({PROBA, EMBEDDING})

    def __init__(self, classes, random_state=None, hidden: int = 256, dropout: float = 0.2,
                 lr: float = 1e-3, weight_decay: float = 1e-4, batch_size: int = 64,
                 max_epochs: int = 200, stop_ratio: float = 1e-3, device: str = "auto"):
        super().__init__(classes, random_state, hidden=hidden, dropout=dropout, lr=lr,
                         weight_decay=weight_decay, batch_size=batch_size,
                         max_epochs=max_epochs, stop_ratio=stop_ratio, device=device)

    def _seed(self) -> int:
        return 0 if self.random_state is None else int(self.random_state)

    def _new_network(self, n_features: int, seed: int):
        import torch

        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            net = build_mlp(n_features, self.n_classes, self.params["hidden"],
                            self.params["dropout"])
        return net.to(self.device_)

    def _train(self, net, X, y_idx, seed: int) -> dict:
        """Train ``net`` in place with the stopping rule; returns a small training log."""
        import torch
        import torch.nn.functional as F

        p = self.params
        Xt = torch.as_tensor(X, dtype=torch.float32, device=self.device_)
        yt = torch.as_tensor(y_idx, dtype=torch.long, device=self.device_)
        opt = torch.optim.Adam(net.parameters(), lr=p["lr"], weight_decay=p["weight_decay"])
        gen = torch.Generator().manual_seed(seed)
        n, first_loss, epoch_loss, epochs = len(Xt), None, float("nan"), 0
        net.train()
        for epochs in range(1, p["max_epochs"] + 1):
            order = torch.randperm(n, generator=gen).to(self.device_)
            total = 0.0
            for start in range(0, n, p["batch_size"]):
                idx = order[start:start + p["batch_size"]]
                loss = F.cross_entropy(net(Xt[idx]), yt[idx])
                opt.zero_grad()
                loss.backward()
                opt.step()
                if first_loss is None:
                    first_loss = loss.item()
                total += loss.item() * len(idx)
            epoch_loss = total / n
            if epoch_loss < p["stop_ratio"] * first_loss:
                break
        net.eval()
        return {"epochs": epochs, "first_loss": first_loss, "final_loss": epoch_loss}

    def _fit(self, X, y_idx):
        import torch

        self.device_ = resolve_device(self.params["device"])
        self.net_ = self._new_network(X.shape[1], self._seed())
        # dropout masks draw from the global generator: seed it so every fit is identical
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self._seed())
            self.train_log_ = self._train(self.net_, X, y_idx, self._seed())

    def _forward(self, net, X, fn, batch: int = 8192) -> np.ndarray:
        import torch

        out = []
        with torch.no_grad():
            for start in range(0, len(X), batch):
                xb = torch.as_tensor(X[start:start + batch], dtype=torch.float32,
                                     device=self.device_)
                out.append(fn(net, xb).cpu().numpy())
        return np.concatenate(out).astype(np.float64 if out[0].shape[1] else np.float32)

    def _predict_proba(self, X):
        self.net_.eval()
        return self._forward(self.net_, X, lambda net, xb: net(xb).softmax(dim=1))

    def _embed(self, X):
        self.net_.eval()
        return self._forward(self.net_, X, lambda net, xb: net.body(xb)).astype(np.float32)
