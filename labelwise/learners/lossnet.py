"""Learning Loss (Yoo & Kweon 2019; a baseline of Krishnan et al. 2021): a head predicting its loss.

:class:`LossPredictionModule` is a component: it adds a small loss-prediction module on h(x) to a
network, gives the joint objective (classification + margin-ranking loss of the paper) and the
predicted losses of pool items (largest = pick first). :class:`LossPredictionLearner` is the
``mlp`` network with it.
"""

from __future__ import annotations

import numpy as np

from labelwise.learners.base import (
    EMA,
    EMBEDDING,
    LOSS_PREDICTION,
    PROBA,
    PSEUDO_LABEL_FT,
    SAMPLES,
)
from labelwise.learners.torch_learner import TorchLearner
from labelwise.learners.torch_mlp import build_mlp, check_mlp_settings
from labelwise.learners.trainer import forward_numpy
from labelwise.validation import LabelwiseError, check_positive_int


def margin_ranking_loss(predicted, target, margin: float = 1.0):
    """Learning Loss's pairwise ranking loss (Yoo & Kweon 2019, eq. 2; public ``LossPredLoss``).

    The batch is split into pairs (i, n-1-i) for i < n // 2 (the middle item of an odd batch is
    left out); with ``s = +1`` if ``target_i > target_j`` else ``-1``, each pair costs
    ``max(0, margin - s * (predicted_i - predicted_j))``; the result is the mean over pairs.
    ``target`` is detached: the ranking trains the predictor, not the classifier's loss.

    Args:
        predicted: (n,) predicted losses.
        target: (n,) true per-example losses.
        margin: xi (paper: 1.0).

    Returns:
        a scalar tensor (0 when n < 2).
    """
    import torch

    half = len(predicted) // 2
    if half == 0:
        return predicted.sum() * 0.0
    diff_pred = (predicted - predicted.flip(0))[:half]
    diff_true = (target - target.flip(0))[:half].detach()
    sign = 2 * torch.sign(torch.clamp(diff_true, min=0)) - 1
    return torch.clamp(margin - sign * diff_pred, min=0).sum() / half


class LossPredictionModule:
    """The Learning Loss component: module, joint objective and predictions.

    The module reads h(x) = ``net.features(x)``: Linear(d, ``loss_hidden``) -> ReLU -> Linear(1).
    The objective per batch is ``mean CE + loss_weight * margin_ranking_loss(predicted, CE)``
    (paper: weight 1, margin 1). As in the public code (features detached after epoch 120 of
    200), the ranking loss stops flowing into h(x) after ``detach_fraction`` x ``max_epochs``
    epochs. The trainer's stopping rule watches the classification loss.

    Args:
        loss_weight: lambda of the joint objective.
        margin: xi of the ranking loss.
        loss_hidden: width of the module's hidden layer (public code: 128).
        detach_fraction: share of ``max_epochs`` after which h(x) is detached for the module.
        max_epochs: the training cap the fraction refers to.
    """

    def __init__(self, loss_weight: float = 1.0, margin: float = 1.0, loss_hidden: int = 128,
                 detach_fraction: float = 0.6, max_epochs: int = 200):
        if not 0.0 <= detach_fraction <= 1.0:
            raise LabelwiseError(f"detach_fraction must be in [0, 1], got {detach_fraction}")
        self.loss_weight = float(loss_weight)
        self.margin = float(margin)
        self.loss_hidden = check_positive_int(loss_hidden, "loss_hidden")
        self.detach_after = detach_fraction * max_epochs

    def attach(self, net, feature_dim: int):
        """Add the module to ``net`` as ``net.lossnet`` (call it inside the seeded build)."""
        import torch.nn as nn

        net.lossnet = nn.Sequential(nn.Linear(feature_dim, self.loss_hidden), nn.ReLU(),
                                    nn.Linear(self.loss_hidden, 1))
        return net

    def loss(self, net, xb, yb, epoch: int):
        """(joint loss, mean classification loss): the trainer monitors the second."""
        import torch.nn.functional as F

        h = net.features(xb)
        per_example = F.cross_entropy(net.head(h), yb, reduction="none")
        if epoch > self.detach_after:
            h = h.detach()
        predicted = net.lossnet(h).squeeze(1)
        target = per_example.mean()
        ranking = margin_ranking_loss(predicted, per_example, self.margin)
        return target + self.loss_weight * ranking, target

    @staticmethod
    def predict(net, X: np.ndarray, device: str) -> np.ndarray:
        """The module's predicted loss per item of X (n, d), shape (n,) float64."""
        return forward_numpy(net, X, lambda m, xb: m.lossnet(m.features(xb)), device)[:, 0]


class LossPredictionLearner(TorchLearner):
    """The ``mlp`` head with a Learning Loss module on h(x) (Yoo & Kweon 2019).

    Deviation: there is one hidden layer, so the module reads h(x) alone instead of several
    intermediate feature maps. All other capabilities (MC dropout, EMA, +FT) are those of ``mlp``;
    +FT trains with the joint objective too.

    Args:
        hidden, dropout: the MLP settings.
        loss_weight, margin, loss_hidden, detach_fraction: see :class:`LossPredictionModule`.
        **torch_params: the settings of :class:`labelwise.learners.torch_learner.TorchLearner`.
    """

    capabilities = frozenset({PROBA, EMBEDDING, SAMPLES, EMA, PSEUDO_LABEL_FT, LOSS_PREDICTION})

    def __init__(self, classes, random_state=None, loss_weight: float = 1.0, margin: float = 1.0,
                 loss_hidden: int = 128, detach_fraction: float = 0.6, hidden: int = 256,
                 dropout: float = 0.2, **torch_params):
        check_mlp_settings(hidden, dropout)
        super().__init__(classes, random_state, **torch_params, arch={
            "hidden": hidden, "dropout": dropout, "loss_weight": float(loss_weight),
            "margin": float(margin), "loss_hidden": loss_hidden,
            "detach_fraction": float(detach_fraction)})
        self.loss_module  # noqa: B018  (checks the settings now)

    @property
    def loss_module(self) -> LossPredictionModule:
        """The Learning Loss component, from the parameters."""
        p = self.params
        return LossPredictionModule(p["loss_weight"], p["margin"], p["loss_hidden"],
                                    p["detach_fraction"], p["max_epochs"])

    def _prepare(self) -> None:
        super()._prepare()
        self.loss_module_ = self.loss_module

    def _build(self, n_features: int):
        net = build_mlp(n_features, self.n_classes, self.params["hidden"], self.params["dropout"])
        return self.loss_module_.attach(net, self.params["hidden"])

    def _loss(self, net, xb, yb, epoch: int):
        return self.loss_module_.loss(net, xb, yb, epoch)

    def predict_loss(self, X) -> np.ndarray:
        """The module's predicted loss per item, shape (n,) float64 (largest = most uncertain)."""
        X = self._check_predict_input(X)
        return self.loss_module_.predict(self.net_, X, self.device_)
