"""A small torch MLP head on features: the learner that stochastic strategies build on.

The head gives class probabilities and its hidden layer h(x); besides, MC-dropout samples (BALD),
the main and EMA outputs at LHD's snapshot and fine-tuning on confident pseudo-labels ("+FT")
(Khosla et al. 2022, "Neural Active Learning on Heteroskedastic Distributions", Algorithms 1-2).
It is a thin composition: the network here, everything else in
:class:`labelwise.learners.torch_learner.TorchLearner` and the components it wires.

torch is imported only when this module is used, so ``import labelwise`` stays fast.
"""

from __future__ import annotations

from labelwise.learners.base import EMA, EMBEDDING, PROBA, PSEUDO_LABEL_FT, SAMPLES
from labelwise.learners.torch_learner import TorchLearner
from labelwise.validation import LabelwiseError, check_positive_int


def build_mlp(n_features: int, n_classes: int, hidden: int, dropout: float):
    """Linear -> ReLU (``features``: h(x), (n, hidden)), then Dropout -> Linear (``head``)."""
    import torch.nn as nn

    class MLPHead(nn.Module):
        def __init__(self):
            super().__init__()
            self.features = nn.Sequential(nn.Linear(n_features, hidden), nn.ReLU())
            self.head = nn.Sequential(nn.Dropout(dropout), nn.Linear(hidden, n_classes))

        def forward(self, x):
            return self.head(self.features(x))

    return MLPHead()


def check_mlp_settings(hidden: int, dropout: float) -> None:
    check_positive_int(hidden, "hidden")
    if not 0.0 <= dropout < 1.0:
        raise LabelwiseError(f"dropout must be in [0, 1), got {dropout}")


class TorchMLPLearner(TorchLearner):
    """One-hidden-layer MLP on features, trained from the same seeded initial state every round.

    Training: Adam until the epoch's mean loss falls below ``stop_ratio`` x the first step's, or
    ``max_epochs`` (:class:`labelwise.learners.trainer.Trainer`). An EMA of the weights is kept
    (``ema_decay``, ``ema_mode``; :mod:`labelwise.learners.ema`), and LHD's snapshot of the main
    and EMA models is taken at the first epoch where the train-accuracy gap main - EMA has shrunk
    ``snapshot_patience`` epochs in a row, else at the end.

    ``warm_fit`` (``warm_start=True`` of the engine and the app) continues last round's network
    and EMA instead, to the loss a fresh fit would stop at
    (:meth:`~labelwise.learners.torch_learner.TorchLearner._warm_fit`).

    Args:
        hidden: width of the hidden layer (the embedding dimension d).
        dropout: dropout rate before the output layer (MC dropout needs it > 0).
        **torch_params: the training, EMA, +FT and device settings of
            :class:`labelwise.learners.torch_learner.TorchLearner`.
    """

    capabilities = frozenset({PROBA, EMBEDDING, SAMPLES, EMA, PSEUDO_LABEL_FT})
    warm_starts = True

    def __init__(self, classes, random_state=None, hidden: int = 256, dropout: float = 0.2,
                 **torch_params):
        check_mlp_settings(hidden, dropout)
        super().__init__(classes, random_state, arch={"hidden": hidden, "dropout": dropout},
                         **torch_params)

    def _build(self, n_features: int):
        return build_mlp(n_features, self.n_classes, self.params["hidden"],
                         self.params["dropout"])
