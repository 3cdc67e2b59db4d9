"""The host of the torch learners: one trainer, one network, and the components a learner opts into.

A torch learner names its network (``_build``: a module with ``features`` and ``head``) and lists
its ``capabilities``; :class:`TorchLearner` wires what those ask for:

- training: :class:`labelwise.learners.trainer.Trainer` (seeded restart every fit, the 0.001
  relative-loss stop, ``max_epochs``, device, batching);
- warm start (``warm_fit``, for the learners with ``warm_starts``): the fit continues last round's
  network and EMA instead of the seeded restart (:meth:`TorchLearner._warm_fit`);
- ``ema``: :class:`labelwise.learners.ema.LHDTracker` during training (EMA + LHD's snapshot),
  ``ema_outputs``;
- ``samples``: :func:`labelwise.learners.mc_dropout.mc_dropout_samples`, ``sample_proba``;
- ``pseudo_label_ft``: :func:`labelwise.learners.pseudo_label.finetune_pseudo_labels`.

Learners with another training scheme (ensembles, two-stage SupCon) override ``_fit`` and
``_finetune`` and reuse the same trainer.
"""

from __future__ import annotations

import copy

import numpy as np

from labelwise.learners.base import EMA, EMBEDDING, PROBA, PSEUDO_LABEL_FT, SAMPLES, BaseLearner
from labelwise.learners.ema import (
    EMA_SEED_OFFSET,
    LHDTracker,
    WeightEMA,
    check_ema_settings,
    lhd_outputs,
    start_ema,
)
from labelwise.learners.mc_dropout import mc_dropout_samples
from labelwise.learners.pseudo_label import AccuracyStop, PseudoLabelSettings
from labelwise.learners.pseudo_label import finetune_pseudo_labels as _finetune_pseudo_labels
from labelwise.learners.trainer import (
    FeatureAugment,
    Trainer,
    cross_entropy_loss,
    embed_numpy,
    logits,
    mean_loss,
    proba_numpy,
    resolve_device,
    seeded_network,
)
from labelwise.validation import LabelwiseError, check_positive_int

#: the values of ``train_stop``
TRAIN_STOPS = ("loss", "accuracy")
#: the train accuracies of ``train_stop="accuracy"``: main model, EMA model (public code)
TRAIN_STOP_ACCURACY = (0.99, 0.80)


class TorchLearner(BaseLearner):
    """Base of the torch learners: the training settings and the shared outputs.

    Args (every torch learner takes them):
        lr, weight_decay: Adam settings.
        batch_size: mini-batch size.
        max_epochs: cap on training epochs.
        stop_ratio: the relative loss at which training stops ("Pretrained Models Are Good
            Active Learners", 2021: 0.001).
        train_stop: ``"loss"`` (the relative-loss rule above) or ``"accuracy"`` (Khosla et al.'s
            public code: train until the main model's train accuracy reaches 0.99 and the EMA's
            0.80, at most ``max_epochs``; the public code caps at 500).
        mc_samples: T, the default number of MC-dropout passes (20).
        ema_decay: the cap on the EMA decay (Khosla et al. 2022: 0.999).
        ema_mode: ``"public"`` (separately initialised EMA whose step counter runs on across
            rounds, as the authors' public code) or ``"fresh"`` (a copy of the main network,
            warm-up restarting every fit); see :mod:`labelwise.learners.ema`.
        snapshot_patience: epochs of shrinking main - EMA accuracy gap that trigger LHD's
            snapshot (public code: 5).
        ft_epochs, ft_lr_factor, ft_main_accuracy, ft_ema_accuracy, ft_min_confident,
            ft_label_source, ft_batch_size: +FT (see :mod:`labelwise.learners.pseudo_label`).
        noise_std, input_dropout: feature-space augmentation for +FT and SupCon (noise in units
            of each feature's standard deviation).
        warm_epochs: the cap on epochs of a warm fit (``warm_fit``; None: ``max_epochs``, the
            usual schedule). The mlp's fresh fits run all 200 epochs, so a warm fit saves time
            only with a shorter cap: on digits, 100 took 0.64x the CPU of fresh fits for 0.3
            points less accuracy (docs/round.md, "Warm start").
        train_threads: torch CPU threads while training (1: fastest for small heads; None: all).
        device: ``"auto"`` (CUDA if present), ``"cpu"`` or ``"cuda"``.
        arch: the subclass's own settings (e.g. ``hidden``), stored first in ``params``; only
            the names above are accepted besides, so a misspelt setting fails.
    """

    capabilities = frozenset({PROBA, EMBEDDING, PSEUDO_LABEL_FT})

    def __init__(self, classes, random_state=None, *, lr: float = 1e-3,
                 weight_decay: float = 1e-4, batch_size: int = 64, max_epochs: int = 200,
                 stop_ratio: float = 1e-3, train_stop: str = "loss", mc_samples: int = 20,
                 ema_decay: float = 0.999, ema_mode: str = "public",
                 snapshot_patience: int = 5, ft_epochs: int = 500,
                 ft_lr_factor: float = 10.0, ft_main_accuracy: float | None = 0.99,
                 ft_ema_accuracy: float | None = 0.80, ft_min_confident: int | None = None,
                 ft_label_source: str = "main", ft_batch_size: int = 256,
                 noise_std: float = 0.1, input_dropout: float = 0.1,
                 warm_epochs: int | None = None, train_threads: int | None = 1,
                 device: str = "auto", arch: dict | None = None):
        if not 0.0 <= input_dropout < 1.0:
            raise LabelwiseError(f"input_dropout must be in [0, 1), got {input_dropout}")
        for name, value in [("batch_size", batch_size), ("max_epochs", max_epochs),
                            ("mc_samples", mc_samples)]:
            check_positive_int(value, name)
        if warm_epochs is not None:
            check_positive_int(warm_epochs, "warm_epochs")
        check_ema_settings(ema_mode, ema_decay, snapshot_patience)
        if train_stop not in TRAIN_STOPS:
            raise LabelwiseError(f"train_stop must be one of {', '.join(TRAIN_STOPS)}, got "
                                 f"{train_stop!r}")
        if ft_label_source == "ema" and EMA not in self.capabilities:
            raise LabelwiseError(f"{type(self).__name__} keeps no EMA: use "
                                 "ft_label_source='main'")
        super().__init__(classes, random_state, **(arch or {}), lr=lr, weight_decay=weight_decay,
                         batch_size=batch_size, max_epochs=max_epochs, stop_ratio=stop_ratio,
                         train_stop=train_stop, mc_samples=mc_samples, ema_decay=ema_decay,
                         ema_mode=ema_mode,
                         snapshot_patience=snapshot_patience, ft_epochs=ft_epochs,
                         ft_lr_factor=ft_lr_factor, ft_main_accuracy=ft_main_accuracy,
                         ft_ema_accuracy=ft_ema_accuracy, ft_min_confident=ft_min_confident,
                         ft_label_source=ft_label_source, ft_batch_size=ft_batch_size,
                         noise_std=noise_std, input_dropout=input_dropout,
                         warm_epochs=warm_epochs, train_threads=train_threads, device=device)
        self.ft_settings  # noqa: B018  (checks the ft_* settings now)

    @property
    def ft_settings(self) -> PseudoLabelSettings:
        """The +FT settings, from the ``ft_*`` parameters."""
        p = self.params
        return PseudoLabelSettings(
            epochs=p["ft_epochs"], lr_factor=p["ft_lr_factor"],
            main_accuracy=p["ft_main_accuracy"], ema_accuracy=p["ft_ema_accuracy"],
            min_confident=p["ft_min_confident"], label_source=p["ft_label_source"],
            batch_size=p["ft_batch_size"])

    # ---- the network and its training ------------------------------------------------------

    def _build(self, n_features: int):
        """The untrained network: an ``nn.Module`` with ``features`` (x -> h) and ``head``
        (h -> logits)."""
        raise NotImplementedError

    def _seed(self) -> int:
        return 0 if self.random_state is None else int(self.random_state)

    def _new_network(self, n_features: int, seed: int):
        return seeded_network(lambda: self._build(n_features), seed, self.device_)

    def _ema_start_network(self, n_features: int):
        """The separately initialised EMA network of ``ema_mode="public"``."""
        return self._new_network(n_features, self._seed() + EMA_SEED_OFFSET)

    def _loss(self, net, xb, yb, epoch: int):
        """The training objective on one batch (a loss, or (loss, loss to monitor))."""
        return cross_entropy_loss(net, xb, yb, epoch)

    def _augment(self, X: np.ndarray) -> FeatureAugment:
        return FeatureAugment(self.params["noise_std"], self.params["input_dropout"]).fit(
            X, self.device_)

    def _prepare(self) -> None:
        p = self.params
        self.device_ = resolve_device(p["device"])
        self.trainer_ = Trainer(p["lr"], p["weight_decay"], p["batch_size"], p["max_epochs"],
                                p["stop_ratio"], p["train_threads"], self.device_)

    def _fit(self, X, y_idx):
        self._prepare()
        self.net_ = self._new_network(X.shape[1], self._seed())
        self.train_log_ = self._fit_network(self.net_, X, y_idx, self._seed())

    def _stop(self, ema_model=None, warm_loss: float | None = None) -> dict:
        """The trainer's stop settings for a fit under ``train_stop``; a warm fit (``warm_loss``:
        its loss target, :meth:`_warm_stop_loss`, or nan under the accuracy stop) also gets
        its ``warm_epochs`` cap."""
        out = {}
        if warm_loss is not None and self.params["warm_epochs"] is not None:
            out["max_epochs"] = self.params["warm_epochs"]
        if self.params["train_stop"] == "loss":
            return out | ({} if warm_loss is None else {"stop_loss": warm_loss})
        main, ema = TRAIN_STOP_ACCURACY
        return out | {"stop_rule": False, "hooks": [AccuracyStop(main, ema_model, ema)]}

    def _fit_network(self, net, X, y_idx, seed: int, previous=None) -> dict:
        """Train a fresh network (or, with ``previous``, last round's copied: a warm start);
        with the ``ema`` capability, with the EMA and LHD's snapshot."""
        warm_loss = None if previous is None else self._warm_stop_loss(X, y_idx, seed)
        if EMA not in self.capabilities:
            return self.trainer_.fit(net, X, y_idx, seed, loss_fn=self._loss,
                                     **self._stop(warm_loss=warm_loss))
        p = self.params
        if previous is not None and p["ema_mode"] == "public" and hasattr(previous, "ema_"):
            # the EMA goes on averaging where last round's ended, with its step count
            ema = WeightEMA(previous.ema_.model, p["ema_decay"], step=previous.ema_step_)
            ema.model.to(self.device_)  # (its own copy: last round's stays as it was)
        else:
            ema = start_ema(net, p["ema_mode"], p["ema_decay"], getattr(self, "ema_step_", 0),
                            lambda: self._ema_start_network(X.shape[1]))
        tracker = LHDTracker(ema, p["snapshot_patience"])
        stop = self._stop(ema.model, warm_loss)
        log = self.trainer_.fit(net, X, y_idx, seed, loss_fn=self._loss,
                                **stop | {"hooks": [tracker, *stop.get("hooks", [])]})
        tracker.finish(net, log)
        self.ema_, self.snapshot_, self.ema_step_ = ema, tracker.snapshot, ema.step
        return log

    def _warm_fit(self, X, y_idx, previous) -> None:
        """Continue training a copy of last round's network (``previous`` is left as it was:
        strategies such as alamp compare the two) on all the labels, with the same seed, stop
        rule and ``max_epochs`` as a fresh fit. The output layer has one unit per declared class
        from the first round on, so a class labeled for the first time needs no new weights.
        With the ``ema`` capability and ``ema_mode="public"`` the EMA continues too."""
        self._prepare()
        self.net_ = copy.deepcopy(previous.net_).to(self.device_)
        self.train_log_ = self._fit_network(self.net_, X, y_idx, self._seed(), previous)
        return None

    def _warm_stop_loss(self, X, y_idx, seed: int) -> float:
        """The loss a warm fit trains down to: ``stop_ratio`` x the loss of the fresh seeded
        network on the labels, about where a fresh fit stops (it stops below ``stop_ratio`` x
        its first step's loss). The relative rule itself would not do: a warm start's first
        loss is already low, so 0.001 of it asks for a far better fit than a fresh one gets.
        nan under ``train_stop="accuracy"`` (its accuracy targets need no loss)."""
        if self.params["train_stop"] != "loss":
            return float("nan")
        fresh = self._new_network(X.shape[1], seed)
        return self.params["stop_ratio"] * mean_loss(fresh, X, y_idx, self._loss, self.device_)

    def clone(self) -> TorchLearner:
        """An unfitted copy; with ``ema_mode="public"`` it carries the EMA's step counter
        (``ema_step_``), so the EMA warm-up of the next round continues where this one ended."""
        twin = super().clone()
        if self.params["ema_mode"] == "public" and hasattr(self, "ema_step_"):
            twin.ema_step_ = self.ema_step_
        return twin

    # ---- outputs ----------------------------------------------------------------------------

    def _predict_proba(self, X):
        return proba_numpy(self.net_, X, self.device_)

    def _embed(self, X):
        return embed_numpy(self.net_, X, self.device_)

    def sample_proba(self, X, n_samples: int | None = None) -> np.ndarray:
        """MC-dropout class probabilities, shape (T, n, K) float32 (BALD: Khosla et al. 2022,
        Krishnan et al. 2021).

        T stochastic passes with every dropout layer on and everything else in eval mode, seeded
        by ``random_state``: repeated calls give the same samples.

        Args:
            X: (n, d) pool features.
            n_samples: T (default ``mc_samples``, 20).

        Raises:
            LabelwiseError: without the ``samples`` capability, or if the network has no dropout
                layer with a rate above 0.
        """
        if SAMPLES not in self.capabilities:
            raise LabelwiseError(f"{type(self).__name__} gives no samples")
        X = self._check_predict_input(X)
        T = check_positive_int(self.params["mc_samples"] if n_samples is None else n_samples,
                               "number of MC-dropout samples")
        return mc_dropout_samples(self.net_, X, T, self.n_classes, self._seed() + 1,
                                  self.device_, logits, owner=type(self).__name__)

    def ema_outputs(self, X) -> dict[str, np.ndarray]:
        """Main and EMA model outputs at LHD's snapshot (Khosla et al. 2022, Algorithm 1).

        Returns:
            ``proba_main`` (n, K), ``embed_main`` (n, d), ``proba_ema`` (n, K) and
            ``embed_ema`` (n, d).

        Raises:
            LabelwiseError: if the learner keeps no EMA, or the EMA equals the main weights.
        """
        if EMA not in self.capabilities:
            raise LabelwiseError(f"{type(self).__name__} keeps no EMA of its weights")
        return lhd_outputs(self.snapshot_, self._check_predict_input(X), self.device_)

    def _ema_proba(self, X) -> np.ndarray:
        """The current EMA model's probabilities (n, K) (+FT's ``ft_label_source="ema"``)."""
        return proba_numpy(self.ema_.model, X, self.device_)

    # ---- fine-tuning on confident pseudo-labels ("+FT") -------------------------------------

    def finetune_pseudo_labels(self, X_unlabeled, X_labeled, y_labeled,
                               gamma: float = 0.8) -> dict:
        """Train further on confident pseudo-labels plus L, in place (Khosla et al. 2022,
        Algorithm 2); see :func:`labelwise.learners.pseudo_label.finetune_pseudo_labels`.

        Returns:
            what it did (also kept as ``pseudo_label_info_``): ``skipped``, ``reason``,
            ``n_confident``, ``min_confident``, ``n_train``, ``epochs``, ``stopped``, ...
        """
        if PSEUDO_LABEL_FT not in self.capabilities:
            raise LabelwiseError(f"{type(self).__name__} cannot fine-tune on pseudo-labels")
        return _finetune_pseudo_labels(self, X_unlabeled, X_labeled, y_labeled, gamma)

    def _finetune(self, X, y_idx, lr: float) -> dict:
        """Fine-tune the fitted network on (X, y_idx) with augmentation, the EMA updating and
        the accuracy stop; LHD's snapshot is retaken at the end. Returns the training log."""
        ft = self.ft_settings
        hooks: list = []
        if EMA in self.capabilities:
            hooks.append(LHDTracker(self.ema_, patience=None))
        ema_model = self.ema_.model if EMA in self.capabilities else None
        augment = self._augment(X)
        stop = AccuracyStop(ft.main_accuracy, ema_model, ft.ema_accuracy, augment)
        hooks.append(stop)
        log = self.trainer_.fit(self.net_, X, y_idx, self._seed() + 1, loss_fn=self._loss,
                                lr=lr, max_epochs=ft.epochs, batch_size=ft.batch_size,
                                stop_rule=False, transform=augment, hooks=hooks)
        if EMA in self.capabilities:
            self.snapshot_ = hooks[0].take(self.net_, self.snapshot_["epoch"])
            self.ema_step_ = self.ema_.step
        log.update(main_accuracy=stop.accuracies.get("main"),
                   ema_accuracy=stop.accuracies.get("ema"))
        return log
