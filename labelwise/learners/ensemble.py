"""A deep ensemble of MLP heads from different seeds ("An empirical study of deep active learning",
2021: "Ensembles", after Beluch et al. 2018).

Each member is the ``mlp`` learner's network trained on the same labeled set from its own seeded
initial state and shuffling (seeds ``random_state + i``); the members' probabilities are the
samples of the variation-ratio score, and their mean is the ensemble's prediction.
"""

from __future__ import annotations

import copy

import numpy as np

from labelwise.learners.base import EMBEDDING, PROBA, PSEUDO_LABEL_FT, SAMPLES
from labelwise.learners.pseudo_label import AccuracyStop
from labelwise.learners.torch_learner import TorchLearner
from labelwise.learners.torch_mlp import build_mlp, check_mlp_settings
from labelwise.learners.trainer import proba_numpy
from labelwise.validation import LabelwiseError, check_positive_int


class DeepEnsembleLearner(TorchLearner):
    """N independently seeded MLP heads; ``sample_proba`` gives their probabilities (N, n, K).

    ``predict_proba`` is the members' mean; ``embed`` is the first member's hidden layer h(x) (the
    members' spaces are not aligned, so averaging them would mean nothing). Each member follows the
    ``mlp`` training recipe (the trainer's stopping rule, seeded reset each round, or with warm
    start each member continuing from last round's); no EMA is kept.
    +FT fine-tunes every member on the same pseudo-labels (the ensemble's mean gives them), each
    until its own train accuracy reaches ``ft_main_accuracy`` or ``ft_epochs``.

    Args:
        n_members: N (5).
        hidden, dropout: the members' MLP settings.
        **torch_params: the settings of :class:`labelwise.learners.torch_learner.TorchLearner`.
    """

    capabilities = frozenset({PROBA, EMBEDDING, SAMPLES, PSEUDO_LABEL_FT})
    warm_starts = True

    def __init__(self, classes, random_state=None, n_members: int = 5, hidden: int = 256,
                 dropout: float = 0.2, **torch_params):
        check_mlp_settings(hidden, dropout)
        check_positive_int(n_members, "n_members", minimum=2)
        super().__init__(classes, random_state, **torch_params, arch={
            "hidden": hidden, "dropout": dropout, "n_members": int(n_members)})

    def _build(self, n_features: int):
        return build_mlp(n_features, self.n_classes, self.params["hidden"],
                         self.params["dropout"])

    def _fit(self, X, y_idx):
        self._fit_members(X, y_idx)

    def _warm_fit(self, X, y_idx, previous) -> None:
        """Each member continues from a copy of last round's member with its own seed, to the
        loss its fresh fit would stop at (:meth:`TorchLearner._warm_fit`)."""
        self._fit_members(X, y_idx, previous)

    def _fit_members(self, X, y_idx, previous=None) -> None:
        """Train the members, member i with seed + i: fresh networks, or with ``previous`` (last
        round's ensemble) copies of its members."""
        self._prepare()
        seed = self._seed()
        self.members_ = []
        self.train_logs_ = []
        for i in range(self.params["n_members"]):
            net = (self._new_network(X.shape[1], seed + i) if previous is None
                   else copy.deepcopy(previous.members_[i]).to(self.device_))
            self.train_logs_.append(self._fit_network(net, X, y_idx, seed + i, previous))
            self.members_.append(net)
        self.net_ = self.members_[0]

    def _member_proba(self, X) -> np.ndarray:
        return np.stack([proba_numpy(net, X, self.device_) for net in self.members_])

    def _predict_proba(self, X):
        return self._member_proba(X).mean(axis=0)

    def sample_proba(self, X, n_samples: int | None = None) -> np.ndarray:
        """The members' class probabilities, shape (N, n, K) float32 (variation ratio).

        Args:
            X: (n, d) pool features.
            n_samples: must be None or N (an ensemble has exactly N members).
        """
        X = self._check_predict_input(X)
        if n_samples is not None and n_samples != len(self.members_):
            raise LabelwiseError(f"the ensemble has {len(self.members_)} members; it cannot give "
                                 f"{n_samples} samples (set n_members instead)")
        return self._member_proba(X).astype(np.float32)

    def _finetune(self, X, y_idx, lr: float) -> dict:
        ft = self.ft_settings
        augment = self._augment(X)
        logs = []
        for i, net in enumerate(self.members_):
            stop = AccuracyStop(ft.main_accuracy, transform=augment)
            log = self.trainer_.fit(net, X, y_idx, self._seed() + i + 1, lr=lr,
                                    max_epochs=ft.epochs, batch_size=ft.batch_size,
                                    stop_rule=False, transform=augment, hooks=[stop])
            logs.append(log | {"main_accuracy": stop.accuracies.get("main")})
        accs = [g["main_accuracy"] for g in logs if g["main_accuracy"] is not None]
        # the ensemble stopped on accuracy only if every member did
        return {"epochs": max(g["epochs"] for g in logs),
                "stopped": "hook" if all(g["stopped"] == "hook" for g in logs) else "max_epochs",
                "main_accuracy": min(accs) if accs else None, "members": logs}
