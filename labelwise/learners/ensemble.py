"""A deep ensemble of MLP heads from different seeds (paper 001's "Ensembles", Beluch et al. 2018).

Each member is the ``mlp`` learner's network trained on the same labeled set from its own seeded
initial state and shuffling (seeds ``random_state + i``); the members' probabilities are the
samples of the variation-ratio score, and their mean is the ensemble's prediction.
"""

from __future__ import annotations

import numpy as np

from labelwise.learners.base import EMBEDDING, PROBA, PSEUDO_LABEL_FT, SAMPLES
from labelwise.learners.torch_mlp import TorchMLPLearner, resolve_device
from labelwise.validation import LabelwiseError, check_positive_int


class DeepEnsembleLearner(TorchMLPLearner):
    """N independently seeded MLP heads; ``sample_proba`` gives their probabilities (N, n, K).

    ``predict_proba`` is the members' mean; ``embed`` is the first member's hidden layer h(x) (the
    members' spaces are not aligned, so averaging them would mean nothing). Each member follows the
    ``mlp`` training recipe (paper 000's stopping rule, seeded reset each round); no EMA is kept.

    Args:
        n_members: N (METHODS.md: 5).
        **mlp_params: the settings of :class:`TorchMLPLearner` (hidden, dropout, lr, ...).
    """

    capabilities = frozenset({PROBA, EMBEDDING, SAMPLES, PSEUDO_LABEL_FT})

    def __init__(self, classes, random_state=None, n_members: int = 5, **mlp_params):
        super().__init__(classes, random_state, **mlp_params)
        self.params["n_members"] = check_positive_int(n_members, "n_members", minimum=2)

    def _fit(self, X, y_idx):
        self.device_ = resolve_device(self.params["device"])
        seed = self._seed()
        self.members_ = []
        self.train_logs_ = []
        for i in range(self.params["n_members"]):
            net = self._new_network(X.shape[1], seed + i)
            self.train_logs_.append(self._train(net, X, y_idx, seed + i))
            self.members_.append(net)
        self.net_ = self.members_[0]

    def _member_proba(self, X) -> np.ndarray:
        return np.stack([self._forward(net.eval(), X, lambda m, xb: m(xb).softmax(dim=1))
                         for net in self.members_])

    def _predict_proba(self, X):
        return self._member_proba(X).mean(axis=0)

    def sample_proba(self, X, n_samples: int | None = None) -> np.ndarray:
        """The members' class probabilities, shape (N, n, K) float32 (paper 001: variation ratio).

        Args:
            X: (n, d) pool features.
            n_samples: must be None or N (an ensemble has exactly N members).
        """
        X = self._check_predict_input(X)
        if n_samples is not None and n_samples != len(self.members_):
            raise LabelwiseError(f"the ensemble has {len(self.members_)} members; it cannot give "
                                 f"{n_samples} samples (set n_members instead)")
        return self._member_proba(X).astype(np.float32)

    def _finetune(self, X, y_idx) -> int:
        epochs = 0
        for i, net in enumerate(self.members_):
            log = self._train(net, X, y_idx, self._seed() + i + 1, stop_rule=False, augment=True,
                              max_epochs=self.params["ft_epochs"],
                              batch_size=self.params["ft_batch_size"])
            epochs = log["epochs"]
        return epochs
