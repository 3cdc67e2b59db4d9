"""Learning Loss (Yoo & Kweon 2019, a baseline of paper 004): an MLP head predicting its own loss.

A small loss-prediction module on h(x) is trained jointly with the classifier by the margin-ranking
loss of the paper, and ``predict_loss`` gives its estimate for pool items (largest = pick first).
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
from labelwise.learners.torch_mlp import TorchMLPLearner, build_mlp
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


def build_lossnet(n_features: int, n_classes: int, hidden: int, dropout: float,
                  loss_hidden: int):
    """The ``mlp`` network plus ``lossnet``: h(x) -> Linear-ReLU-Linear -> predicted loss (n, 1)."""
    import torch.nn as nn

    net = build_mlp(n_features, n_classes, hidden, dropout)
    net.lossnet = nn.Sequential(nn.Linear(hidden, loss_hidden), nn.ReLU(),
                                nn.Linear(loss_hidden, 1))
    return net


class LossPredictionLearner(TorchMLPLearner):
    """The ``mlp`` head with a Learning Loss module on h(x) (Yoo & Kweon 2019; paper 004 baseline).

    The objective per batch is ``mean CE + loss_weight * margin_ranking_loss(predicted, CE)``
    (paper: weight 1, margin 1). As in the public code (features detached after epoch 120 of 200),
    the ranking loss stops flowing into h(x) after ``detach_fraction`` x ``max_epochs`` epochs.
    Deviation: there is one hidden layer, so the module reads h(x) alone instead of several
    intermediate feature maps. Paper 000's stopping rule watches the classification loss. All
    other capabilities (MC dropout, EMA, +FT) are those of ``mlp``.

    Args:
        loss_weight: lambda of the joint objective.
        margin: xi of the ranking loss.
        loss_hidden: width of the module's hidden layer (public code: 128).
        detach_fraction: share of ``max_epochs`` after which h(x) is detached for the module.
        **mlp_params: the settings of :class:`TorchMLPLearner`.
    """

    capabilities = frozenset({PROBA, EMBEDDING, SAMPLES, EMA, PSEUDO_LABEL_FT, LOSS_PREDICTION})

    def __init__(self, classes, random_state=None, loss_weight: float = 1.0, margin: float = 1.0,
                 loss_hidden: int = 128, detach_fraction: float = 0.6, **mlp_params):
        super().__init__(classes, random_state, **mlp_params)
        if not 0.0 <= detach_fraction <= 1.0:
            raise LabelwiseError(f"detach_fraction must be in [0, 1], got {detach_fraction}")
        self.params.update(loss_weight=float(loss_weight), margin=float(margin),
                           loss_hidden=check_positive_int(loss_hidden, "loss_hidden"),
                           detach_fraction=float(detach_fraction))

    def _build(self, n_features: int):
        p = self.params
        return build_lossnet(n_features, self.n_classes, p["hidden"], p["dropout"],
                             p["loss_hidden"])

    def _loss(self, net, xb, yb, epoch: int):
        import torch.nn.functional as F

        p = self.params
        h = net.body(xb)
        per_example = F.cross_entropy(net.head(net.dropout(h)), yb, reduction="none")
        if epoch > p["detach_fraction"] * p["max_epochs"]:
            h = h.detach()
        predicted = net.lossnet(h).squeeze(1)
        target = per_example.mean()
        ranking = margin_ranking_loss(predicted, per_example, p["margin"])
        return target + p["loss_weight"] * ranking, target

    def predict_loss(self, X) -> np.ndarray:
        """The module's predicted loss per item, shape (n,) float64 (largest = most uncertain)."""
        X = self._check_predict_input(X)
        self.net_.eval()
        return self._forward(self.net_, X, lambda net, xb: net.lossnet(net.body(xb)))[:, 0]
