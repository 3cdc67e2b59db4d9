"""A small convolutional network trained from scratch on raw images: ``cnn`` (Khosla et al. 2022).

Khosla et al. 2022 ("Neural Active Learning on Heteroskedastic Distributions") train a ResNet-18
from scratch each round on the raw images; this learner is that recipe at CPU scale, so their
heteroskedastic benchmarks can be run in their own setting (a network that learns its
representation), not only on frozen pretrained features.

Input: X is (n, C*H*W) pixels in [0, 1], the rows of the ``identity`` encoder (images flattened in
(H, W, C) order, as ``labelwise.encoders.identity`` writes them); ``image_shape`` = (C, H, W), or
inferred for square images with 1 or 3 channels. Everything else in labelwise (strategies, the
engine, the benchmark grids) then sees an ordinary feature matrix.

The recipe, after the paper (appendix B) and its public code:

- network: three 3x3 convolutions with stride 2 (16, 32, 64 channels; batch norm, ReLU), a hidden
  layer of ``hidden`` units = the embedding h(x) (penultimate layer), dropout, a linear output;
  re-initialised from the same seed every fit;
- training: Adam (paper: lr 1e-4, no weight decay, batch 64), gradients clamped to +-0.1 (public
  code), standard augmentation (random crop with 2 px padding, horizontal flip); an EMA of the
  weights after every step, ``a = min(1 - 1/(step + 1), 0.999)``; stop when the epoch's running
  train accuracy reaches 0.99 for the main model and 0.80 for the EMA model (public code), or after
  ``max_epochs`` (paper: 500; lower on a CPU). Deviation: no reset when accuracy stays below 0.2;
- LHD's snapshot: at the first epoch where the main-minus-EMA train-accuracy gap has shrunk 5
  epochs in a row, else at the end (:func:`labelwise.learners.ema.snapshot_epoch`);
- MC dropout (BALD): the only dropout is before the output layer, so T passes of the head over
  h(x) computed once are exactly T passes of the whole network with dropout on;
- "+FT" (Algorithm 2): see :meth:`CNNLearner.finetune_pseudo_labels`.

Everything is seeded (weights, batch order, augmentation, dropout); CUDA is used when present.
"""

from __future__ import annotations

import copy
import importlib.util
import logging
import math

import numpy as np

from labelwise.learners.base import EMA, EMBEDDING, PROBA, PSEUDO_LABEL_FT, SAMPLES, BaseLearner
from labelwise.learners.ema import WeightEMA, same_weights, snapshot_epoch
from labelwise.learners.torch_mlp import mc_dropout_layers, resolve_device, torch_threads
from labelwise.validation import LabelwiseError, check_positive_int, check_same_length

logger = logging.getLogger(__name__)

#: Khosla et al.'s public code skips +FT when fewer than 1,000 items (labeled + confident) are
#: available in a pool of 250,000 (CIFAR-10 + 4x as many noisy images): 0.4% of the pool
FT_MIN_SHARE = 1000 / 250_000


def infer_image_shape(n_features: int) -> tuple[int, int, int]:
    """(C, H, W) of square images flattened to ``n_features`` values, 1 channel tried first."""
    for c in (1, 3):
        side = math.isqrt(n_features // c)
        if n_features % c == 0 and side * side * c == n_features:
            return c, side, side
    raise LabelwiseError(
        f"cannot read {n_features} features as square images with 1 or 3 channels; give "
        "image_shape=(C, H, W) to the cnn learner")


def build_cnn(image_shape: tuple[int, int, int], n_classes: int, hidden: int, dropout: float,
              channels: tuple[int, ...] = (16, 32, 64)):
    """The network: ``net.body(x)`` -> h(x) (n, hidden); ``net(x)`` -> logits (n, K).

    x is (n, C, H, W) in [0, 1]; it is centred to [-1, 1] inside the network, so augmentations
    work on [0, 1] images."""
    import torch.nn as nn

    c, h, w = image_shape
    layers, cin = [], c
    for cout in channels:
        layers += [nn.Conv2d(cin, cout, 3, stride=2, padding=1), nn.BatchNorm2d(cout), nn.ReLU()]
        cin = cout
        h, w = (h + 1) // 2, (w + 1) // 2

    class SmallCNN(nn.Module):
        def __init__(self):
            super().__init__()
            self.features = nn.Sequential(*layers, nn.Flatten())
            self.embed = nn.Sequential(nn.Linear(cin * h * w, hidden), nn.ReLU())
            self.dropout = nn.Dropout(dropout)
            self.head = nn.Linear(hidden, n_classes)

        def body(self, x):
            return self.embed(self.features((x - 0.5) / 0.5))

        def forward(self, x):
            return self.head(self.dropout(self.body(x)))

    return SmallCNN()


class CNNLearner(BaseLearner):
    """A small CNN trained from scratch on raw images (Khosla et al. 2022; see the module).

    Args:
        image_shape: (C, H, W) of the flattened rows of X; None: inferred (square, 1 or 3 ch.).
        channels: output channels of the three stride-2 convolutions.
        hidden: width of the embedding layer h(x).
        dropout: dropout before the output layer (MC dropout needs it > 0).
        lr: Adam learning rate of training (paper: 1e-4).
        weight_decay: Adam weight decay (paper: 0).
        batch_size: mini-batch size (paper: 64).
        max_epochs: cap on training epochs (paper: 500).
        grad_clip: gradients are clamped to [-grad_clip, grad_clip] (public code: 0.1; 0 = off).
        target_accuracy, target_ema_accuracy: training (and +FT) stops once the epoch's running
            train accuracy of the main model reaches the first and the EMA model's the second
            (public code: 0.99 and 0.80).
        padding: padding of the random crop (2 px on 28 px images).
        mc_samples: T, the default number of MC-dropout passes (20).
        ema_decay: cap on the EMA decay (paper: 0.999).
        snapshot_patience: epochs of shrinking gap that trigger LHD's snapshot (public code: 5).
        ft_lr_factor: +FT learning rate = ft_lr_factor x lr (paper: 100, i.e. 1e-2 after 1e-4).
        ft_max_epochs: cap on +FT epochs (paper: 500).
        ft_min_confident: +FT is skipped when fewer pool items are confident; None = 0.4% of the
            pool (labeled + unlabeled), at least 1 (public code: 1,000 of 250,000).
        ft_ops: RandAugment-like operations per image in +FT (paper: 4), then Cutout.
        score_batch_size: images per forward pass when scoring.
        train_threads: torch CPU threads while training (None: leave as is).
        device: ``"auto"`` (CUDA if present), ``"cpu"`` or ``"cuda"``.
    """

    capabilities = frozenset({PROBA, EMBEDDING, SAMPLES, EMA, PSEUDO_LABEL_FT})

    def __init__(self, classes, random_state=None, image_shape: tuple | None = None,
                 channels: tuple = (16, 32, 64), hidden: int = 128, dropout: float = 0.3,
                 lr: float = 1e-4, weight_decay: float = 0.0, batch_size: int = 64,
                 max_epochs: int = 500, grad_clip: float = 0.1, target_accuracy: float = 0.99,
                 target_ema_accuracy: float = 0.80, padding: int = 2, mc_samples: int = 20,
                 ema_decay: float = 0.999, snapshot_patience: int = 5,
                 ft_lr_factor: float = 100.0, ft_max_epochs: int = 500,
                 ft_min_confident: int | None = None, ft_ops: int = 4,
                 score_batch_size: int = 1024, train_threads: int | None = None,
                 device: str = "auto"):
        if importlib.util.find_spec("kornia") is None:
            raise LabelwiseError('learner "cnn" needs kornia: pip install "labelwise[vision]"')
        if not 0.0 <= dropout < 1.0:
            raise LabelwiseError(f"dropout must be in [0, 1), got {dropout}")
        if not 0.0 < ema_decay < 1.0:
            raise LabelwiseError(f"ema_decay must be in (0, 1), got {ema_decay}")
        if lr <= 0 or ft_lr_factor <= 0:
            raise LabelwiseError(f"lr and ft_lr_factor must be > 0, got {lr} and {ft_lr_factor}")
        for name, value in [("hidden", hidden), ("batch_size", batch_size),
                            ("max_epochs", max_epochs), ("mc_samples", mc_samples),
                            ("snapshot_patience", snapshot_patience),
                            ("ft_max_epochs", ft_max_epochs), ("score_batch_size",
                                                               score_batch_size)]:
            check_positive_int(value, name)
        if image_shape is not None and (len(image_shape) != 3 or min(image_shape) < 1):
            raise LabelwiseError(f"image_shape must be (C, H, W), got {image_shape!r}")
        super().__init__(classes, random_state, image_shape=image_shape, channels=channels,
                         hidden=hidden, dropout=dropout, lr=lr, weight_decay=weight_decay,
                         batch_size=batch_size, max_epochs=max_epochs, grad_clip=grad_clip,
                         target_accuracy=target_accuracy,
                         target_ema_accuracy=target_ema_accuracy, padding=padding,
                         mc_samples=mc_samples, ema_decay=ema_decay,
                         snapshot_patience=snapshot_patience, ft_lr_factor=ft_lr_factor,
                         ft_max_epochs=ft_max_epochs, ft_min_confident=ft_min_confident,
                         ft_ops=ft_ops, score_batch_size=score_batch_size,
                         train_threads=train_threads, device=device)

    # ---- inputs and the network ----------------------------------------------------------

    def _seed(self) -> int:
        return 0 if self.random_state is None else int(self.random_state)

    def _images(self, X: np.ndarray):
        """(n, C*H*W) rows in (H, W, C) order -> (n, C, H, W) float32 tensor on the device."""
        import torch

        c, h, w = self.image_shape_
        x = torch.as_tensor(np.ascontiguousarray(X, dtype=np.float32), device=self.device_)
        return x.reshape(len(X), h, w, c).permute(0, 3, 1, 2).contiguous()

    def _rng_devices(self) -> list:
        import torch

        return [torch.device(self.device_).index or 0] if self.device_.startswith("cuda") else []

    def _fit(self, X, y_idx):
        import torch

        p = self.params
        self.device_ = resolve_device(p["device"])
        self.image_shape_ = tuple(p["image_shape"] or infer_image_shape(X.shape[1]))
        if int(np.prod(self.image_shape_)) != X.shape[1]:
            raise LabelwiseError(f"image_shape {self.image_shape_} does not match the "
                                 f"{X.shape[1]} features of X")
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self._seed())
            net = build_cnn(self.image_shape_, self.n_classes, p["hidden"], p["dropout"],
                            tuple(p["channels"]))
        self.net_ = net.to(self.device_)
        self.ema_ = WeightEMA(self.net_, p["ema_decay"])
        self.snapshot_ = None
        log = self._train(self._images(X), y_idx, self._seed(), lr=p["lr"],
                          max_epochs=p["max_epochs"], strong=False, snapshot=True)
        if self.snapshot_ is None:
            self._take_snapshot(log["epochs"])
            log["snapshot"] = "end"
        else:
            log["snapshot"] = self.snapshot_["epoch"]
        self.train_log_ = log

    def _augment(self, xb, strong: bool):
        from labelwise.learners.image_augment import standard_augment, strong_augment

        p = self.params
        if strong:
            return strong_augment(xb, n_ops=p["ft_ops"], padding=p["padding"])
        return standard_augment(xb, padding=p["padding"])

    def _train(self, x, y_idx, seed: int, *, lr: float, max_epochs: int, strong: bool,
               snapshot: bool) -> dict:
        """Train ``net_`` in place on images x (n, C, H, W) and labels y_idx (n,), updating the
        EMA after every step; stop at the target accuracies or ``max_epochs``.

        The accuracies are the running ones of the epoch (on the augmented batches, before each
        step; the EMA model with batch statistics and dropout off), as the public code keeps them.
        """
        import torch
        import torch.nn.functional as F

        p = self.params
        net, ema = self.net_, self.ema_
        yt = torch.as_tensor(y_idx, dtype=torch.long, device=self.device_)
        opt = torch.optim.Adam(net.parameters(), lr=lr, weight_decay=p["weight_decay"])
        gen = torch.Generator().manual_seed(seed)
        n, bs, clip = len(x), p["batch_size"], p["grad_clip"]
        gaps, acc_main, acc_ema, epochs = [], 0.0, 0.0, 0
        with torch.random.fork_rng(devices=self._rng_devices()), \
                torch_threads(p["train_threads"]):
            torch.manual_seed(seed)
            for epochs in range(1, max_epochs + 1):
                hits_main = hits_ema = 0
                order = torch.randperm(n, generator=gen).to(self.device_)
                for start in range(0, n, bs):
                    idx = order[start:start + bs]
                    xb, yb = self._augment(x[idx], strong), yt[idx]
                    net.train()
                    out = net(xb)
                    loss = F.cross_entropy(out, yb)
                    opt.zero_grad()
                    loss.backward()
                    if clip > 0:
                        torch.nn.utils.clip_grad_value_(net.parameters(), clip)
                    opt.step()
                    with torch.no_grad():
                        hits_main += int((out.argmax(1) == yb).sum())
                        ema.model.train()  # batch statistics, as the public code's EMA forward
                        for m in mc_dropout_layers(ema.model):
                            m.eval()
                        hits_ema += int((ema.model(xb).argmax(1) == yb).sum())
                    ema.update(net)
                acc_main, acc_ema = hits_main / n, hits_ema / n
                if snapshot and self.snapshot_ is None:
                    gaps.append(acc_main - acc_ema)
                    if snapshot_epoch(gaps, p["snapshot_patience"]) == len(gaps) - 1:
                        self._take_snapshot(epochs)
                if acc_main >= p["target_accuracy"] and acc_ema >= p["target_ema_accuracy"]:
                    break
        net.eval()
        ema.model.eval()
        log = {"epochs": epochs, "accuracy_main": acc_main, "accuracy_ema": acc_ema}
        if snapshot:
            log["accuracy_gaps"] = gaps
        return log

    def _take_snapshot(self, epoch: int) -> None:
        self.snapshot_ = {"main": copy.deepcopy(self.net_).eval(),
                          "ema": copy.deepcopy(self.ema_.model).eval(), "epoch": epoch}

    # ---- outputs ----------------------------------------------------------------------------

    def _forward(self, net, X, fn) -> np.ndarray:
        """``fn(net, images)`` over X in batches, eval mode, no gradients -> numpy."""
        import torch

        net.eval()
        out = []
        bs = self.params["score_batch_size"]
        with torch.no_grad():
            for start in range(0, len(X), bs):
                out.append(fn(net, self._images(X[start:start + bs])).cpu().numpy())
        return np.concatenate(out)

    def _predict_proba(self, X):
        return self._forward(self.net_, X, lambda m, x: m(x).softmax(1)).astype(np.float64)

    def _embed(self, X):
        return self._forward(self.net_, X, lambda m, x: m.body(x)).astype(np.float32)

    def sample_proba(self, X, n_samples: int | None = None) -> np.ndarray:
        """MC-dropout class probabilities, shape (T, n, K) float32 (BALD).

        Dropout on, batch norm in eval mode; the one dropout layer sits before the output layer,
        so T dropout masks on h(x) (computed once) are T passes of the whole network. Seeded by
        ``random_state``: repeated calls give the same samples.

        Raises:
            LabelwiseError: when dropout is 0 (the samples would be identical).
        """
        import torch

        X = self._check_predict_input(X)
        T = check_positive_int(self.params["mc_samples"] if n_samples is None else n_samples,
                               "number of MC-dropout samples")
        if not mc_dropout_layers(self.net_):
            raise LabelwiseError("the cnn learner has dropout 0, so MC-dropout samples would be "
                                 "identical; set dropout > 0")
        h = torch.as_tensor(self._embed(X), device=self.device_)
        out = np.empty((T, len(X), self.n_classes), dtype=np.float32)
        net = self.net_
        try:
            with torch.random.fork_rng(devices=self._rng_devices()), torch.no_grad():
                torch.manual_seed(self._seed() + 1)
                net.dropout.train()
                for t in range(T):
                    out[t] = net.head(net.dropout(h)).softmax(1).cpu().numpy()
        finally:
            net.eval()
        return out

    def ema_outputs(self, X) -> dict[str, np.ndarray]:
        """Main and EMA outputs at LHD's snapshot (Khosla et al. 2022, Algorithm 1):
        ``proba_main``, ``proba_ema`` (n, K) and ``embed_main``, ``embed_ema`` (n, hidden).

        Raises:
            LabelwiseError: if the EMA equals the main weights (no step was taken).
        """
        X = self._check_predict_input(X)
        main, ema = self.snapshot_["main"], self.snapshot_["ema"]
        if same_weights(main, ema):
            raise LabelwiseError(
                "the EMA model equals the main model (no optimiser step was taken), so LHD's "
                "state difference would be zero everywhere")
        out = {}
        for tag, net in (("main", main), ("ema", ema)):
            out[f"proba_{tag}"] = self._forward(net, X, lambda m, x: m(x).softmax(1)).astype(
                np.float64)
            out[f"embed_{tag}"] = self._forward(net, X, lambda m, x: m.body(x)).astype(
                np.float32)
        return out

    # ---- fine-tuning on confident pseudo-labels ("+FT") --------------------------------------

    def finetune_pseudo_labels(self, X_unlabeled, X_labeled, y_labeled,
                               gamma: float = 0.8) -> dict:
        """Fine-tune on confident pseudo-labels, in place (Khosla et al. 2022, Algorithm 2).

        The pool items whose max probability under the main model exceeds ``gamma`` (paper: 0.8)
        are pseudo-labeled with its argmax; the network trains on them together with the labeled
        items, the latter also labeled by the model's argmax, as the public code does (Algorithm
        2 lists only the confident items, and takes the pseudo-label from the EMA model; the
        public code takes it from the main model). Training: strong augmentation
        (:func:`labelwise.learners.image_augment.strong_augment`), Adam at ``ft_lr_factor`` x
        ``lr``, the EMA updated after every step (its step count goes on from training), until
        the target accuracies or ``ft_max_epochs``; LHD's snapshot is then retaken. Skipped, with
        a logged reason, when fewer than ``ft_min_confident`` pool items are confident.

        Args:
            X_unlabeled: (u, d) pool rows to pseudo-label.
            X_labeled: (m, d) labeled rows; y_labeled: (m,) their labels (checked, not used
                for training: the labeled items get the model's argmax, see above).
            gamma: the confidence threshold.

        Returns:
            The dict also kept as ``pseudo_label_info_``: ``n_pseudo_labels`` (confident pool
            items used), ``n_labeled``, ``n_train``, ``min_confident``, ``epochs``, ``lr``,
            ``accuracy_main``/``accuracy_ema`` (last epoch), ``skipped`` and ``reason``.
        """
        if not 0.0 <= gamma < 1.0:
            raise LabelwiseError(f"gamma must be in [0, 1), got {gamma}")
        X_u = self._check_predict_input(X_unlabeled)
        X_l = self._check_predict_input(X_labeled)
        check_same_length(X_l, y_labeled, "labeled features", "labels")
        self.encode(y_labeled)
        p = self.params
        minimum = p["ft_min_confident"]
        if minimum is None:
            minimum = max(1, math.ceil(FT_MIN_SHARE * (len(X_u) + len(X_l))))
        proba = self.predict_proba(X_u) if len(X_u) else np.zeros((0, self.n_classes))
        confident = np.flatnonzero(proba.max(axis=1) > gamma)
        lr = p["ft_lr_factor"] * p["lr"]
        info = {"n_pseudo_labels": len(confident), "n_labeled": len(X_l), "n_train": 0,
                "min_confident": int(minimum), "epochs": 0, "lr": lr, "gamma": gamma,
                "skipped": True, "reason": ""}
        if len(confident) < minimum:
            info["reason"] = (f"{len(confident)} pool items have confidence > {gamma:g}, "
                              f"fewer than {minimum}")
            logger.info("+FT skipped: %s", info["reason"])
            self.pseudo_label_info_ = info
            return dict(info)
        X = np.concatenate([X_l, X_u[confident]])
        y = np.concatenate([self.predict_proba(X_l).argmax(1), proba[confident].argmax(1)])
        self.pseudo_labeled_idx_ = confident  # positions in X_unlabeled, for inspection
        log = self._train(self._images(X), y, self._seed() + 1, lr=lr,
                          max_epochs=p["ft_max_epochs"], strong=True, snapshot=False)
        self._take_snapshot(self.snapshot_["epoch"])
        info.update(n_train=len(X), epochs=log["epochs"], accuracy_main=log["accuracy_main"],
                    accuracy_ema=log["accuracy_ema"], skipped=False,
                    reason="stopped at the target accuracies"
                    if log["epochs"] < p["ft_max_epochs"] else "epoch cap reached")
        logger.info("+FT: %d epochs on %d pseudo-labeled + %d labeled items", log["epochs"],
                    len(confident), len(X_l))
        self.pseudo_label_info_ = info
        return dict(info)
