"""A small convolutional network trained from scratch on raw images: ``cnn`` (Khosla et al. 2022).

Khosla et al. 2022 ("Neural Active Learning on Heteroskedastic Distributions") train a ResNet-18
from scratch every round on the raw images; this learner is that recipe at CPU scale, so that
their heteroskedastic benchmarks run in their own setting (a network that learns its
representation), not only on frozen pretrained features.

Input: X is (n, C*H*W) pixels in [0, 1], the rows of the ``identity`` encoder (images flattened in
(H, W, C) order, as ``labelwise.encoders.identity`` writes them); ``image_shape`` = (C, H, W), or
inferred for square images with 1 or 3 channels. Strategies, the engine and the benchmark grids
then see an ordinary feature matrix.

The recipe (paper, appendix B, and its public code), on the shared torch components
(:class:`labelwise.learners.torch_learner.TorchLearner`: trainer, EMA and LHD snapshot, +FT):

- network: three 3x3 convolutions with stride 2 (``channels`` 16, 32, 64; batch norm, ReLU), a
  hidden layer of ``hidden`` units = h(x) (the penultimate layer), dropout, a linear output;
  the same seeded initial weights every fit;
- training: Adam (paper: lr 1e-4, no weight decay, batch 64) on the standard augmentation (random
  crop after 2-pixel padding, horizontal flip; :func:`labelwise.learners.image_augment.
  standard_augment`) until the main model's train accuracy reaches 0.99 and the EMA's 0.80 (public
  code), at most ``max_epochs`` (paper: 500). Departures from the public code: no gradient clamp
  to +-0.1 and no re-initialisation when the accuracy stays under 0.2;
- EMA and LHD's snapshot: :mod:`labelwise.learners.ema` (``a = min(1 - 1/(step + 1), 0.999)``;
  snapshot at the first epoch where the main-minus-EMA train-accuracy gap shrank 5 epochs in a
  row, else at the end);
- MC dropout (BALD): the only dropout sits before the output layer, so T dropout masks on h(x),
  computed once, are exactly T passes of the whole network with dropout on (T x cheaper);
- "+FT" (Algorithm 2): :mod:`labelwise.learners.pseudo_label` with the strong augmentation
  (crop, flip, 4 RandAugment-like operations, Cutout; :func:`~labelwise.learners.image_augment.
  strong_augment`), at ``ft_lr_factor`` x ``lr`` (paper: 100 x 1e-4 = 1e-2).

Everything is seeded (weights, batch order, augmentation, dropout); CUDA is used when present.
"""

from __future__ import annotations

import importlib.util
import math

import numpy as np

from labelwise.learners.base import EMA, EMBEDDING, PROBA, PSEUDO_LABEL_FT, SAMPLES
from labelwise.learners.torch_learner import TorchLearner
from labelwise.learners.trainer import cross_entropy_loss
from labelwise.validation import LabelwiseError, check_positive_int

#: the defaults of Khosla et al. 2022 (appendix B) and their public code, where they differ from
#: the other torch learners'
PAPER_SETTINGS = {"lr": 1e-4, "weight_decay": 0.0, "batch_size": 64, "max_epochs": 500,
                  "train_stop": "accuracy", "ft_lr_factor": 100.0, "ft_epochs": 500,
                  "ft_batch_size": 64}


def infer_image_shape(n_features: int) -> tuple[int, int, int]:
    """(C, H, W) of square images flattened to ``n_features`` values, 1 channel tried first."""
    for c in (1, 3):
        side = math.isqrt(n_features // c)
        if n_features % c == 0 and side * side * c == n_features:
            return c, side, side
    raise LabelwiseError(
        f"cannot read {n_features} features as square images with 1 or 3 channels; give "
        "image_shape=(C, H, W) to the cnn learner")


def to_images(xb, image_shape: tuple[int, int, int]):
    """(B, C*H*W) rows in (H, W, C) order -> (B, C, H, W); 4-D batches pass through."""
    if xb.dim() == 4:
        return xb
    c, h, w = image_shape
    return xb.reshape(len(xb), h, w, c).permute(0, 3, 1, 2)


def build_cnn(image_shape: tuple[int, int, int], n_classes: int, hidden: int, dropout: float,
              channels: tuple[int, ...] = (16, 32, 64)):
    """The network: ``features(x)`` -> h(x) (B, hidden), ``head(h)`` -> logits (B, K).

    x is (B, C*H*W) rows (see :func:`to_images`) or (B, C, H, W) images, in [0, 1]; it is
    centred to [-1, 1] inside, so the augmentations work on [0, 1] images."""
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
            self.convs = nn.Sequential(*layers, nn.Flatten())
            self.embed = nn.Sequential(nn.Linear(cin * h * w, hidden), nn.ReLU())
            self.head = nn.Sequential(nn.Dropout(dropout), nn.Linear(hidden, n_classes))

        def features(self, x):
            return self.embed(self.convs((to_images(x, image_shape) - 0.5) / 0.5))

        def forward(self, x):
            return self.head(self.features(x))

    return SmallCNN()


class ImageAugment:
    """The training (``strong=False``) or +FT (``strong=True``) augmentation as a batch
    transform: (B, C*H*W) rows -> augmented (B, C, H, W) images in [0, 1]."""

    def __init__(self, image_shape: tuple[int, int, int], padding: int, strong: bool,
                 n_ops: int = 4):
        self.image_shape = image_shape
        self.padding = padding
        self.strong = strong
        self.n_ops = n_ops

    def __call__(self, xb):
        from labelwise.learners.image_augment import standard_augment, strong_augment

        x = to_images(xb, self.image_shape)
        if self.strong:
            return strong_augment(x, n_ops=self.n_ops, padding=self.padding)
        return standard_augment(x, padding=self.padding)


class CNNLearner(TorchLearner):
    """A small CNN trained from scratch on raw images (Khosla et al. 2022; see the module).

    Args:
        image_shape: (C, H, W) of the flattened rows of X; None: inferred (square, 1 or 3 ch.).
        channels: output channels of the three stride-2 convolutions.
        hidden: width of the embedding layer h(x).
        dropout: dropout before the output layer (MC dropout needs it > 0).
        padding: padding of the random crop (2 pixels on 28-pixel images).
        ft_ops: RandAugment-like operations per image in +FT (paper: 4), then Cutout.
        **torch_params: the training, EMA, +FT and device settings of
            :class:`~labelwise.learners.torch_learner.TorchLearner`; the defaults here are the
            paper's (:data:`PAPER_SETTINGS`: lr 1e-4, no weight decay, batch 64, at most 500
            epochs to 0.99 / 0.80 train accuracy, +FT at 100 x lr for at most 500 epochs in
            batches of 64); ``train_threads`` stays at the torch learners' 1 (on a busy CPU,
            two threads made in-process runs of this network several times slower).
    """

    capabilities = frozenset({PROBA, EMBEDDING, SAMPLES, EMA, PSEUDO_LABEL_FT})

    def __init__(self, classes, random_state=None, image_shape: tuple | None = None,
                 channels: tuple = (16, 32, 64), hidden: int = 128, dropout: float = 0.3,
                 padding: int = 2, ft_ops: int = 4, **torch_params):
        from labelwise.learners.base import check_torch_available

        check_torch_available(type(self))  # PyTorch first: without it, kornia cannot help
        if importlib.util.find_spec("kornia") is None:
            raise LabelwiseError("learner 'cnn' needs kornia: pip install \"labelwise[vision]\"")
        check_positive_int(hidden, "hidden")
        if not 0.0 <= dropout < 1.0:
            raise LabelwiseError(f"dropout must be in [0, 1), got {dropout}")
        if image_shape is not None and (len(image_shape) != 3 or min(image_shape) < 1):
            raise LabelwiseError(f"image_shape must be (C, H, W), got {image_shape!r}")
        if len(channels) < 1 or min(channels) < 1:
            raise LabelwiseError(f"channels must be positive counts, got {channels!r}")
        check_positive_int(padding, "padding", minimum=0)
        check_positive_int(ft_ops, "ft_ops", minimum=0)
        arch = {"image_shape": None if image_shape is None else tuple(image_shape),
                "channels": tuple(channels), "hidden": hidden, "dropout": dropout,
                "padding": padding, "ft_ops": ft_ops}
        super().__init__(classes, random_state, arch=arch, **(PAPER_SETTINGS | torch_params))

    def _shape(self, n_features: int) -> tuple[int, int, int]:
        shape = self.params["image_shape"] or infer_image_shape(n_features)
        if int(np.prod(shape)) != n_features:
            raise LabelwiseError(f"image_shape {shape} does not match the {n_features} "
                                 "features of X")
        return tuple(shape)

    def _build(self, n_features: int):
        p = self.params
        self.image_shape_ = self._shape(n_features)
        return build_cnn(self.image_shape_, self.n_classes, p["hidden"], p["dropout"],
                         p["channels"])

    def _loss(self, net, xb, yb, epoch: int):
        """Cross-entropy on the standard augmentation of a batch of rows (drawn from the
        trainer's seeded RNG); a batch of 4-D images comes from +FT's strong augmentation,
        which holds its own crop and flip, and is used as it is."""
        if xb.dim() == 2:
            xb = ImageAugment(self.image_shape_, self.params["padding"], strong=False)(xb)
        return cross_entropy_loss(net, xb, yb, epoch)

    def _augment(self, X: np.ndarray) -> ImageAugment:
        """+FT's batch transform: the strong augmentation (crop, flip, ``ft_ops`` operations,
        Cutout)."""
        return ImageAugment(self.image_shape_, self.params["padding"], strong=True,
                            n_ops=self.params["ft_ops"])

    def sample_proba(self, X, n_samples: int | None = None) -> np.ndarray:
        """MC-dropout class probabilities, shape (T, n, K) float32 (BALD).

        The one dropout layer is the first module of the head, so T masks on h(x), computed once
        in eval mode, are T passes of the whole network with dropout on; seeded by
        ``random_state`` (repeated calls give the same samples).

        Raises:
            LabelwiseError: when ``dropout`` is 0 (the samples would be identical).
        """
        from labelwise.learners.mc_dropout import mc_dropout_samples

        X = self._check_predict_input(X)
        T = check_positive_int(self.params["mc_samples"] if n_samples is None else n_samples,
                               "number of MC-dropout samples")
        return mc_dropout_samples(self.net_.head, self._embed(X), T, self.n_classes,
                                  self._seed() + 1, self.device_, lambda head, h: head(h),
                                  owner="the cnn learner (dropout=0)")

    def finetune_pseudo_labels(self, X_unlabeled, X_labeled, y_labeled,
                               gamma: float = 0.8) -> dict:
        """+FT (Khosla et al. 2022, Algorithm 2) with the strong image augmentation; see
        :func:`labelwise.learners.pseudo_label.finetune_pseudo_labels`. The info dict (also
        ``pseudo_label_info_``) adds ``n_pseudo_labels``: the confident pool items used (0 when
        skipped)."""
        info = super().finetune_pseudo_labels(X_unlabeled, X_labeled, y_labeled, gamma)
        info["n_pseudo_labels"] = 0 if info["skipped"] else info["n_confident"]
        return info
