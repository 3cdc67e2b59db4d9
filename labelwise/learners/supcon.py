"""Supervised contrastive training with a linear classifier on the features (SCAL in Krishnan et
al. 2021, "Mitigating Sampling Bias and Improving Robustness in Active Learning").

The loss is Khosla et al. 2020's L_out (Krishnan et al. 2021, eq. 1) on L2-normalised
projections with temperature 0.07. Training follows Khosla et al.'s two stages: the encoder and a
projection head learn with the contrastive loss on two augmented views of every example, then a
linear classifier learns on the frozen encoder features with cross-entropy.
"""

from __future__ import annotations

import numpy as np

from labelwise.learners.base import CONTRASTIVE, EMBEDDING, PROBA, PSEUDO_LABEL_FT
from labelwise.learners.pseudo_label import AccuracyStop
from labelwise.learners.torch_learner import TorchLearner
from labelwise.learners.torch_mlp import check_mlp_settings
from labelwise.validation import LabelwiseError, check_positive_int


def supcon_loss(z, labels, temperature: float = 0.07):
    """Supervised contrastive loss L_out (Khosla et al. 2020), mean over anchors.

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
    """Encoder ``features`` (Linear-ReLU, h(x) of size ``hidden``), ``projection`` head
    (Linear-ReLU-Linear, as Khosla et al.) and linear ``head`` (Dropout-Linear)."""
    import torch.nn as nn

    class SupConNet(nn.Module):
        def __init__(self):
            super().__init__()
            self.features = nn.Sequential(nn.Linear(n_features, hidden), nn.ReLU())
            self.projection = nn.Sequential(nn.Linear(hidden, hidden), nn.ReLU(),
                                            nn.Linear(hidden, projection))
            self.head = nn.Sequential(nn.Dropout(dropout), nn.Linear(hidden, n_classes))

        def forward(self, x):
            return self.head(self.features(x))

        def project(self, x):
            return nn.functional.normalize(self.projection(self.features(x)), dim=1)

    return SupConNet()


class SupConLearner(TorchLearner):
    """An MLP encoder trained with the supervised contrastive loss, plus a linear classifier
    (SCAL, Krishnan et al. 2021).

    Stage 1 trains ``features`` + ``projection`` on :func:`supcon_loss` of two feature-space
    augmented views per example (Gaussian noise + input dropout: the features are frozen
    embeddings, not images) for at most ``contrastive_epochs`` epochs; the trainer's stopping rule
    is applied but rarely fires, since L_out is bounded below by log |P(i)|. Stage 2 trains the
    linear ``head`` on the frozen encoder features with cross-entropy and the stopping rule. No
    EMA is kept. +FT runs both stages again on L + pseudo-labels: stage 1 for at most
    min(``ft_epochs``, ``contrastive_epochs``) epochs, stage 2 on augmented features until its
    train accuracy reaches ``ft_main_accuracy`` or ``ft_epochs``.

    ``embed(X)`` returns the L2-normalised encoder features h(x)/||h(x)|| (Krishnan et al. 2021,
    A.3: SCAL's cosine similarities use the layer before the classifier), shape (n, hidden).

    Args:
        temperature: T of the contrastive loss (0.07).
        projection: size of the projection z.
        contrastive_epochs: cap on stage-1 epochs.
        hidden: width of the encoder's output h(x).
        dropout: dropout before the classifier (0 here).
        **torch_params: the settings of :class:`labelwise.learners.torch_learner.TorchLearner`.
    """

    capabilities = frozenset({PROBA, EMBEDDING, CONTRASTIVE, PSEUDO_LABEL_FT})

    def __init__(self, classes, random_state=None, temperature: float = 0.07,
                 projection: int = 64, contrastive_epochs: int = 100, hidden: int = 256,
                 dropout: float = 0.0, **torch_params):
        check_mlp_settings(hidden, dropout)
        if torch_params.get("train_stop", "loss") != "loss":
            raise LabelwiseError("supcon trains its encoder on a contrastive loss, with no train "
                                 "accuracy to stop on: use train_stop='loss'")
        if not temperature > 0:
            raise LabelwiseError(f"temperature must be positive, got {temperature}")
        super().__init__(classes, random_state, **torch_params, arch={
            "hidden": hidden, "dropout": dropout, "temperature": float(temperature),
            "projection": check_positive_int(projection, "projection"),
            "contrastive_epochs": check_positive_int(contrastive_epochs, "contrastive_epochs")})

    def _build(self, n_features: int):
        p = self.params
        return build_supcon_net(n_features, self.n_classes, p["hidden"], p["projection"],
                                p["dropout"])

    def _fit_network(self, net, X, y_idx, seed: int) -> dict:
        return self._two_stages(net, X, y_idx, seed, self.params["contrastive_epochs"])

    def _two_stages(self, net, X, y_idx, seed: int, contrastive_epochs: int, *,
                    augment_classifier: bool = False, **classifier) -> dict:
        """Stage 1 (contrastive, encoder) then stage 2 (cross-entropy, head); ``classifier``
        holds the trainer settings of stage 2 (and of stage 1 but its cap)."""
        import torch
        import torch.nn.functional as F

        augment = self._augment(X)
        temperature = self.params["temperature"]

        def contrastive(net, xb, yb, epoch):
            views = torch.cat([augment(xb), augment(xb)])
            return supcon_loss(net.project(views), torch.cat([yb, yb]), temperature)

        def classification(net, xb, yb, epoch):
            return F.cross_entropy(net.head(net.features(xb).detach()), yb)

        shared = {k: v for k, v in classifier.items() if k != "hooks"}
        encoder = list(net.features.parameters()) + list(net.projection.parameters())
        log1 = self.trainer_.fit(net, X, y_idx, seed, loss_fn=contrastive, parameters=encoder,
                                 **shared | {"max_epochs": contrastive_epochs})
        log2 = self.trainer_.fit(net, X, y_idx, seed, loss_fn=classification,
                                 parameters=net.head.parameters(),
                                 transform=augment if augment_classifier else None, **classifier)
        return {"contrastive": log1, "classifier": log2}

    def _embed(self, X):
        h = super()._embed(X)
        return h / np.maximum(np.linalg.norm(h, axis=1, keepdims=True), 1e-12)

    def _finetune(self, X, y_idx, lr: float) -> dict:
        ft = self.ft_settings
        stop = AccuracyStop(ft.main_accuracy, transform=self._augment(X))
        logs = self._two_stages(self.net_, X, y_idx, self._seed() + 1,
                                min(ft.epochs, self.params["contrastive_epochs"]),
                                augment_classifier=True, lr=lr, max_epochs=ft.epochs,
                                batch_size=ft.batch_size, stop_rule=False, hooks=[stop])
        return logs["classifier"] | {"main_accuracy": stop.accuracies.get("main"),
                                     "contrastive": logs["contrastive"]}
