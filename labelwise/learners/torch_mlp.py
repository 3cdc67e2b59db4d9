"""A small torch MLP head on features: the learner that stochastic strategies build on.

The head gives class probabilities and its hidden layer h(x); besides, it gives MC-dropout samples
(BALD, paper 002/004), the outputs of an EMA of its weights at LHD's snapshot (paper 002) and
fine-tuning on confident pseudo-labels ("+FT", paper 002 Algorithm 2). The other torch learners
(``ensemble``, ``supcon``, ``lossnet``) reuse its network building, training loop and forward
passes.

torch is imported only when this module is used, so ``import labelwise`` stays fast.
"""

from __future__ import annotations

import contextlib
import copy
import logging

import numpy as np

from labelwise.learners.base import EMA, EMBEDDING, PROBA, PSEUDO_LABEL_FT, SAMPLES, BaseLearner
from labelwise.learners.ema import WeightEMA, same_weights, snapshot_epoch
from labelwise.validation import LabelwiseError, check_positive_int, check_same_length

logger = logging.getLogger(__name__)


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


def feature_augment(x, scale, noise_std: float, input_dropout: float):
    """Feature-space augmentation (METHODS.md "+FT"): Gaussian noise, then input dropout.

    Args:
        x: (n, d) tensor of features.
        scale: (1, d) per-feature standard deviation; the noise is ``noise_std * scale``.
        noise_std: relative noise level.
        input_dropout: probability of zeroing a feature (survivors scaled by 1/(1-p)).

    Returns:
        (n, d) augmented tensor (uses torch's global RNG; seed it around the call).
    """
    import torch
    import torch.nn.functional as F

    if noise_std > 0:
        x = x + noise_std * scale * torch.randn_like(x)
    if input_dropout > 0:
        x = F.dropout(x, input_dropout, training=True)
    return x


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


def mc_dropout_layers(net) -> list:
    """The dropout modules of ``net`` with a rate above 0 (what MC dropout switches on)."""
    import torch.nn as nn

    return [m for m in net.modules() if isinstance(m, nn.modules.dropout._DropoutNd) and m.p > 0]


class TorchMLPLearner(BaseLearner):
    """One-hidden-layer MLP on features, trained from the same seeded initial state every round.

    Training follows paper 000's stopping rule: Adam on mini-batches (one full batch when the
    labeled set is at most ``batch_size``) until the epoch's mean training loss falls below
    ``stop_ratio`` x the loss of the first step, or ``max_epochs``. Initial weights, shuffling and
    dropout masks are seeded, so two fits on the same data give the same weights.

    An EMA of the weights is kept during training (``ema_decay``, paper 002); LHD's snapshot of
    the main and EMA models is taken at the first epoch where the train-accuracy gap main - EMA has
    shrunk ``snapshot_patience`` epochs in a row, else at the end
    (:func:`labelwise.learners.ema.snapshot_epoch`).

    Args:
        hidden: width of the hidden layer (the embedding dimension d).
        dropout: dropout rate before the output layer (MC dropout needs it > 0).
        lr, weight_decay: Adam settings.
        batch_size: mini-batch size.
        max_epochs: cap on training epochs.
        stop_ratio: the relative loss at which training stops (paper 000: 0.001).
        mc_samples: T, the default number of MC-dropout passes (METHODS.md: 20).
        ema_decay: the cap on the EMA decay (paper 002: 0.999).
        snapshot_patience: epochs of shrinking gap that trigger LHD's snapshot (public code: 5).
        ft_epochs: epochs of pseudo-label fine-tuning (paper 002: 500 on images; fewer here).
        ft_min_confident: fine-tuning is skipped when fewer pool items are confident.
        ft_batch_size: mini-batch size for fine-tuning (its sets are large: pseudo-labeled pool).
        noise_std, input_dropout: feature-space augmentation for fine-tuning (noise in units of
            each feature's standard deviation on the fine-tuning set).
        train_threads: torch CPU threads while training (1: fastest for small heads; None: all).
        device: ``"auto"`` (CUDA if present), ``"cpu"`` or ``"cuda"``.
    """

    capabilities = frozenset({PROBA, EMBEDDING, SAMPLES, EMA, PSEUDO_LABEL_FT})

    def __init__(self, classes, random_state=None, hidden: int = 256, dropout: float = 0.2,
                 lr: float = 1e-3, weight_decay: float = 1e-4, batch_size: int = 64,
                 max_epochs: int = 200, stop_ratio: float = 1e-3, mc_samples: int = 20,
                 ema_decay: float = 0.999, snapshot_patience: int = 5, ft_epochs: int = 20,
                 ft_min_confident: int = 10, ft_batch_size: int = 256, noise_std: float = 0.1,
                 input_dropout: float = 0.1,
                 train_threads: int | None = 1, device: str = "auto"):
        if not 0.0 <= dropout < 1.0:
            raise LabelwiseError(f"dropout must be in [0, 1), got {dropout}")
        if not 0.0 <= input_dropout < 1.0:
            raise LabelwiseError(f"input_dropout must be in [0, 1), got {input_dropout}")
        if not 0.0 < ema_decay < 1.0:
            raise LabelwiseError(f"ema_decay must be in (0, 1), got {ema_decay}")
        for name, value in [("hidden", hidden), ("batch_size", batch_size),
                            ("max_epochs", max_epochs), ("mc_samples", mc_samples),
                            ("snapshot_patience", snapshot_patience),
                            ("ft_batch_size", ft_batch_size)]:
            check_positive_int(value, name)
        super().__init__(classes, random_state, hidden=hidden, dropout=dropout, lr=lr,
                         weight_decay=weight_decay, batch_size=batch_size,
                         max_epochs=max_epochs, stop_ratio=stop_ratio, mc_samples=mc_samples,
                         ema_decay=ema_decay, snapshot_patience=snapshot_patience,
                         ft_epochs=ft_epochs, ft_min_confident=ft_min_confident,
                         ft_batch_size=ft_batch_size,
                         noise_std=noise_std, input_dropout=input_dropout,
                         train_threads=train_threads, device=device)

    # ---- building and training ------------------------------------------------------------

    def _seed(self) -> int:
        return 0 if self.random_state is None else int(self.random_state)

    def _rng_devices(self) -> list:
        import torch

        return [torch.device(self.device_).index or 0] if self.device_.startswith("cuda") else []

    def _build(self, n_features: int):
        """The untrained network; subclasses change the architecture here."""
        return build_mlp(n_features, self.n_classes, self.params["hidden"], self.params["dropout"])

    def _new_network(self, n_features: int, seed: int):
        import torch

        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            net = self._build(n_features)
        return net.to(self.device_)

    def _loss(self, net, xb, yb, epoch: int):
        """The training objective on one batch: a loss tensor, or (loss, loss to monitor)."""
        import torch.nn.functional as F

        return F.cross_entropy(net(xb), yb)

    def _train(self, net, X, y_idx, seed: int, *, loss_fn=None, parameters=None,
               max_epochs: int | None = None, stop_rule: bool = True, augment: bool = False,
               batch_size: int | None = None,
               ema: WeightEMA | None = None, snapshot: bool = False) -> dict:
        """Train ``net`` in place; returns a small training log.

        Args:
            net: the module; X (n, d) features; y_idx (n,) class indices.
            seed: seeds the shuffling, dropout masks and augmentation noise.
            loss_fn: ``(net, xb, yb, epoch) -> loss`` or ``(loss, monitored loss)``; default
                ``_loss``.
            parameters: what the optimiser updates (default: all of ``net``).
            max_epochs: cap (default ``max_epochs``).
            stop_rule: stop when the monitored epoch loss < ``stop_ratio`` x the first step's.
            augment: apply :func:`feature_augment` to every batch.
            batch_size: mini-batch size (default ``batch_size``).
            ema: a :class:`WeightEMA` updated after every optimiser step.
            snapshot: track the train-accuracy gap main - EMA and take LHD's snapshot.
        """
        import torch

        p = self.params
        loss_fn = loss_fn or self._loss
        Xt = torch.as_tensor(X, dtype=torch.float32, device=self.device_)
        yt = torch.as_tensor(y_idx, dtype=torch.long, device=self.device_)
        scale = Xt.std(dim=0, keepdim=True).nan_to_num(0.0) if len(Xt) > 1 else 0.0 * Xt[:1]
        self._aug_scale_ = scale
        params = list(net.parameters() if parameters is None else parameters)
        opt = torch.optim.Adam(params, lr=p["lr"], weight_decay=p["weight_decay"])
        gen = torch.Generator().manual_seed(seed)
        n, first_loss, epoch_loss, epochs, gaps = len(Xt), None, float("nan"), 0, []
        max_epochs = p["max_epochs"] if max_epochs is None else max_epochs
        bs = p["batch_size"] if batch_size is None else batch_size
        with torch.random.fork_rng(devices=self._rng_devices()), torch_threads(p["train_threads"]):
            torch.manual_seed(seed)
            for epochs in range(1, max_epochs + 1):
                net.train()
                order = torch.randperm(n, generator=gen).to(self.device_)
                total = 0.0
                for start in range(0, n, bs):
                    idx = order[start:start + bs]
                    xb = Xt[idx]
                    if augment:
                        xb = self._augment(xb)
                    out = loss_fn(net, xb, yt[idx], epochs)
                    loss, monitor = out if isinstance(out, tuple) else (out, out)
                    opt.zero_grad()
                    loss.backward()
                    opt.step()
                    if ema is not None:
                        ema.update(net)
                    if first_loss is None:
                        first_loss = monitor.item()
                    total += monitor.item() * len(idx)
                epoch_loss = total / n
                if snapshot and self.snapshot_ is None:
                    gaps.append(self._accuracy(net, Xt, yt) - self._accuracy(ema.model, Xt, yt))
                    if snapshot_epoch(gaps, p["snapshot_patience"]) == len(gaps) - 1:
                        self._take_snapshot(net, ema, epochs)
                if stop_rule and epoch_loss < p["stop_ratio"] * first_loss:
                    break
        net.eval()
        log = {"epochs": epochs, "first_loss": first_loss, "final_loss": epoch_loss}
        if snapshot:
            log["accuracy_gaps"] = gaps
        return log

    def _augment(self, xb):
        return feature_augment(xb, self._aug_scale_, self.params["noise_std"],
                               self.params["input_dropout"])

    @staticmethod
    def _accuracy(net, Xt, yt) -> float:
        import torch

        net.eval()
        with torch.no_grad():
            acc = (net(Xt).argmax(dim=1) == yt).float().mean().item()
        net.train()
        return acc

    def _take_snapshot(self, net, ema: WeightEMA, epoch: int) -> None:
        self.snapshot_ = {"main": copy.deepcopy(net).eval(), "ema": copy.deepcopy(ema.model).eval(),
                          "epoch": epoch}

    def _fit(self, X, y_idx):
        self.device_ = resolve_device(self.params["device"])
        self.net_ = self._new_network(X.shape[1], self._seed())
        self.train_log_ = self._fit_network(self.net_, X, y_idx, self._seed())

    def _fit_network(self, net, X, y_idx, seed: int) -> dict:
        """Train a fresh network with the EMA and LHD's snapshot (else taken at the end)."""
        self.ema_ = WeightEMA(net, self.params["ema_decay"])
        self.snapshot_ = None
        log = self._train(net, X, y_idx, seed, ema=self.ema_, snapshot=True)
        if self.snapshot_ is None:
            self._take_snapshot(net, self.ema_, log["epochs"])
            log["snapshot"] = "end"
        else:
            log["snapshot"] = self.snapshot_["epoch"]
        return log

    # ---- outputs ------------------------------------------------------------------------

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

    def sample_proba(self, X, n_samples: int | None = None) -> np.ndarray:
        """MC-dropout class probabilities, shape (T, n, K) float32 (papers 002, 004: BALD).

        T stochastic forward passes with every dropout layer ON and everything else (batch norm)
        in eval mode; seeded by ``random_state``, so repeated calls give the same samples.

        Args:
            X: (n, d) pool features.
            n_samples: T (default ``mc_samples``, 20).

        Raises:
            LabelwiseError: if the network has no dropout layer with a rate above 0 (its samples
                would all be identical and BALD would be silently zero).
        """
        import torch

        X = self._check_predict_input(X)
        T = check_positive_int(self.params["mc_samples"] if n_samples is None else n_samples,
                               "number of MC-dropout samples")
        net = self.net_
        drops = mc_dropout_layers(net)
        if not drops:
            raise LabelwiseError(
                f"{type(self).__name__} has no dropout layer with rate > 0, so MC-dropout samples "
                "would be identical; set dropout > 0 or use the 'ensemble' learner"
            )
        out = np.empty((T, len(X), self.n_classes), dtype=np.float32)
        batch = max(1, 8192 // T)
        net.eval()
        for m in drops:
            m.train()
        try:
            with torch.random.fork_rng(devices=self._rng_devices()), torch.no_grad():
                torch.manual_seed(self._seed() + 1)
                for start in range(0, len(X), batch):
                    xb = torch.as_tensor(X[start:start + batch], dtype=torch.float32,
                                         device=self.device_)
                    xb = xb.repeat(T, 1)  # one pass for all T samples of the batch
                    p = net(xb).softmax(dim=1).reshape(T, -1, self.n_classes)
                    out[:, start:start + batch] = p.cpu().numpy()
        finally:
            net.eval()
        return out

    def ema_outputs(self, X) -> dict[str, np.ndarray]:
        """Main and EMA model outputs at LHD's snapshot (paper 002, Algorithm 1).

        Returns:
            ``proba_main`` (n, K), ``embed_main`` (n, d), ``proba_ema`` (n, K) and
            ``embed_ema`` (n, d).

        Raises:
            LabelwiseError: if the learner keeps no EMA, or the EMA equals the main weights.
        """
        if EMA not in self.capabilities:
            raise LabelwiseError(f"{type(self).__name__} keeps no EMA of its weights")
        X = self._check_predict_input(X)
        main, ema = self.snapshot_["main"], self.snapshot_["ema"]
        if same_weights(main, ema):
            raise LabelwiseError(
                "the EMA model equals the main model (no optimiser step was taken), so LHD's "
                "state difference would be zero everywhere"
            )
        out = {}
        for tag, net in [("main", main), ("ema", ema)]:
            out[f"proba_{tag}"] = self._forward(net, X, lambda m, xb: m(xb).softmax(dim=1))
            out[f"embed_{tag}"] = self._forward(net, X, lambda m, xb: m.body(xb)).astype(
                np.float32)
        return out

    # ---- fine-tuning on confident pseudo-labels ("+FT") ---------------------------------------

    def finetune_pseudo_labels(self, X_unlabeled, X_labeled, y_labeled,
                               gamma: float = 0.8) -> dict:
        """Train further on confident pseudo-labels plus L, in place (paper 002, Algorithm 2).

        Items of ``X_unlabeled`` whose max probability exceeds ``gamma`` get the model's argmax as
        label; the model trains ``ft_epochs`` more epochs on them plus ``(X_labeled, y_labeled)``,
        with feature-space augmentation (Gaussian noise + input dropout) and the EMA updated after
        every step; LHD's snapshot is then retaken at the end. Deviations: the labeled set is
        included (METHODS.md) and the pseudo-label is the main model's argmax (Algorithm 2 uses the
        EMA model's); the stopping rule is off (a fixed number of epochs, as in the paper).
        Skipped, with a logged message, when fewer than ``ft_min_confident`` items qualify.

        Args:
            X_unlabeled: (u, d) pool features to pseudo-label.
            X_labeled: (m, d) labeled features; y_labeled: (m,) their labels.
            gamma: the confidence threshold (paper 002: 0.8).

        Returns:
            ``{"skipped": bool, "n_confident": int, "n_train": int, "epochs": int}``.
        """
        if not 0.0 <= gamma < 1.0:
            raise LabelwiseError(f"gamma must be in [0, 1), got {gamma}")
        X_u = self._check_predict_input(X_unlabeled)
        X_l = self._check_predict_input(X_labeled)
        check_same_length(X_l, y_labeled, "labeled features", "labels")
        y_l = self.encode(y_labeled)
        proba = self.predict_proba(X_u) if len(X_u) else np.zeros((0, self.n_classes))
        confident = proba.max(axis=1) > gamma
        n_conf = int(confident.sum())
        log = {"skipped": True, "n_confident": n_conf, "n_train": 0, "epochs": 0}
        if n_conf < self.params["ft_min_confident"]:
            logger.info("+FT skipped: %d pool items have confidence > %.2f, fewer than %d",
                        n_conf, gamma, self.params["ft_min_confident"])
            return log
        X = np.concatenate([X_l, X_u[confident]])
        y = np.concatenate([y_l, proba[confident].argmax(axis=1)])
        epochs = self._finetune(X, y)
        logger.info("+FT: fine-tuned %d epochs on %d pseudo-labeled + %d labeled items",
                    epochs, n_conf, len(X_l))
        log.update(skipped=False, n_train=len(X), epochs=epochs)
        return log

    def _finetune(self, X, y_idx) -> int:
        """Fine-tune the fitted network(s) on (X, y_idx); returns the epochs run."""
        log = self._train(self.net_, X, y_idx, self._seed() + 1, stop_rule=False, augment=True,
                          max_epochs=self.params["ft_epochs"], ema=self.ema_,
                          batch_size=self.params["ft_batch_size"])
        self._take_snapshot(self.net_, self.ema_, self.snapshot_["epoch"])
        return log["epochs"]
