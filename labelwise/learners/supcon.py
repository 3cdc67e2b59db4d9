"""Supervised contrastive training with a linear classifier on the features (paper 004, SCAL).

The loss is Khosla et al. (2020)'s L_out (paper 004, eq. 1) on L2-normalised projections with
temperature 0.07. Training follows Khosla et al.'s two stages: the encoder and a projection head
learn with the contrastive loss on two augmented views of every example, then a linear classifier
learns on the frozen encoder features with cross-entropy.
"""

from __future__ import annotations

import numpy as np

from labelwise.learners.base import CONTRASTIVE, EMBEDDING, PROBA, PSEUDO_LABEL_FT
from labelwise.learners.torch_mlp import TorchMLPLearner
from labelwise.validation import LabelwiseError, check_positive_int


def supcon_loss(z, labels, temperature: float = 0.07):
    """Supervised contrastive loss L_out (Khosla et al. 2020; paper 004, eq. 1), mean over anchors.

    For anchor i with positives P(i) (other items of its class) and A(i) = all items but i:
    ``-1/|P(i)| * sum_{p in P(i)} log( exp(z_i.z_p / T) / sum_{a in A(i)} exp(z_i.z_a / T) )``.
    Anchors without a positive are left out of the mean; the loss is 0 if no anchor has one.
    Khosla et al.'s extra factor T / base_temperature is 1 at the default T = base = 0.07.

    Args:
        z: (N, D) tensor of L2-normalised projections (all views stacked).
        labels: (N,) integer class tensor.
        temperature: T.

    Returns:
        a scalar tensor.
    """
    import torch

    n = z.shape[0]
    logits = z @ z.T / temperature
    self_mask = torch.eye(n, dtype=torch.bool, device=z.device)
    logits = logits.masked_fill(self_mask, float("-inf"))
    log_prob = logits - torch.logsumexp(logits, dim=1, keepdim=True)
    positives = (labels[:, None] == labels[None, :]) & ~self_mask
    n_pos = positives.sum(dim=1)
    has = n_pos > 0
    if not bool(has.any()):
        return z.sum() * 0.0
    pos_log_prob = log_prob.masked_fill(~positives, 0.0).sum(dim=1)
    return -(pos_log_prob[has] / n_pos[has]).mean()


def build_supcon_net(n_features: int, n_classes: int, hidden: int, projection: int,
                     dropout: float):
    """Encoder ``body`` (Linear-ReLU, h(x) of size ``hidden``), ``projection`` head
    (Linear-ReLU-Linear, as Khosla et al.) and linear ``head``; ``forward`` gives the logits."""
    import torch.nn as nn

    class SupConNet(nn.Module):
        def __init__(self):
            super().__init__()
            self.body = nn.Sequential(nn.Linear(n_features, hidden), nn.ReLU())
            self.projection = nn.Sequential(nn.Linear(hidden, hidden), nn.ReLU(),
                                            nn.Linear(hidden, projection))
            self.dropout = nn.Dropout(dropout)
            self.head = nn.Linear(hidden, n_classes)

        def forward(self, x):
            return self.head(self.dropout(self.body(x)))

        def project(self, x):
            return nn.functional.normalize(self.projection(self.body(x)), dim=1)

    return SupConNet()


class SupConLearner(TorchMLPLearner):
    """An MLP encoder trained with the supervised contrastive loss, plus a linear classifier (004).

    Stage 1 trains ``body`` + ``projection`` on :func:`supcon_loss` of two feature-space augmented
    views per example (Gaussian noise + input dropout: the features are frozen embeddings, not
    images) for at most ``contrastive_epochs`` epochs; paper 000's stopping rule is applied but
    rarely fires, since L_out is bounded below by log |P(i)|. Stage 2 trains the linear ``head`` on
    the frozen encoder features with cross-entropy and the stopping rule. No EMA is kept.

    ``embed(X)`` returns the L2-normalised encoder features h(x)/||h(x)|| (paper 004 A.3: SCAL's
    cosine similarities use the layer before the classifier), shape (n, hidden).

    Args:
        temperature: T of the contrastive loss (paper 004: 0.07).
        projection: size of the projection z.
        contrastive_epochs: cap on stage-1 epochs.
        **mlp_params: the settings of :class:`TorchMLPLearner`; ``dropout`` defaults to 0 here.
    """

    capabilities = frozenset({PROBA, EMBEDDING, CONTRASTIVE, PSEUDO_LABEL_FT})

    def __init__(self, classes, random_state=None, temperature: float = 0.07,
                 projection: int = 64, contrastive_epochs: int = 100, dropout: float = 0.0,
                 **mlp_params):
        super().__init__(classes, random_state, dropout=dropout, **mlp_params)
        if not temperature > 0:
            raise LabelwiseError(f"temperature must be positive, got {temperature}")
        self.params.update(temperature=float(temperature),
                           projection=check_positive_int(projection, "projection"),
                           contrastive_epochs=check_positive_int(contrastive_epochs,
                                                                 "contrastive_epochs"))

    def _build(self, n_features: int):
        p = self.params
        return build_supcon_net(n_features, self.n_classes, p["hidden"], p["projection"],
                                p["dropout"])

    def _contrastive_loss(self, net, xb, yb, epoch):
        import torch

        views = torch.cat([self._augment(xb), self._augment(xb)])
        return supcon_loss(net.project(views), torch.cat([yb, yb]), self.params["temperature"])

    @staticmethod
    def _classifier_loss(net, xb, yb, epoch):
        import torch.nn.functional as F

        return F.cross_entropy(net.head(net.dropout(net.body(xb).detach())), yb)

    def _fit_network(self, net, X, y_idx, seed: int, max_epochs=None, stop_rule=True,
                     augment=False, batch_size=None) -> dict:
        encoder = list(net.body.parameters()) + list(net.projection.parameters())
        log1 = self._train(net, X, y_idx, seed, loss_fn=self._contrastive_loss,
                           parameters=encoder, stop_rule=stop_rule, batch_size=batch_size,
                           max_epochs=max_epochs or self.params["contrastive_epochs"])
        log2 = self._train(net, X, y_idx, seed, loss_fn=self._classifier_loss,
                           parameters=net.head.parameters(), stop_rule=stop_rule,
                           max_epochs=max_epochs, augment=augment, batch_size=batch_size)
        return {"contrastive": log1, "classifier": log2}

    def _embed(self, X):
        h = super()._embed(X)
        return h / np.maximum(np.linalg.norm(h, axis=1, keepdims=True), 1e-12)

    def _finetune(self, X, y_idx) -> int:
        self._fit_network(self.net_, X, y_idx, self._seed() + 1,
                          max_epochs=self.params["ft_epochs"], stop_rule=False, augment=True,
                          batch_size=self.params["ft_batch_size"])
        return self.params["ft_epochs"]
