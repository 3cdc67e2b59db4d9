"""Fine-tuning a pretrained network on the labels: ``finetune-text``/``-image`` ("Pretrained Models
Are Good Active Learners", 2021; Aggarwal et al. 2022.

How raw items flow through the learner protocol: the learner holds the raw items (``items=``, a
list of texts or images, e.g. pool + test concatenated), and its X is an (n, 1) column of indices
into that list (:func:`item_index_column`). Strategies, the loop and the checks then see an ordinary
numeric feature matrix, and a simulation passes ``learner_params={"items": items}``::

    items, X_pool, X_test = finetune_inputs(raw_pool, raw_test)
    run_active_learning(X_pool, y_pool, X_test, y_test, "margin", "finetune-text",
                        learner_params={"items": items})

The recipe ("Pretrained Models Are Good Active Learners", 2021, Sec. 3 and App. D):

- backbone: all-MiniLM-L6-v2 (mean-pooled, as in the ``minilm`` encoder) or EfficientNet-Lite0
  (spatially pooled ``extract_features``, as in ``efficientnet-lite0``); ``pretrained=False`` gives
  the same architecture with seeded random weights (that paper's "unpretrained" baseline);
- head: dropout then a linear layer initialised to ZERO, so the first loss is exactly log K;
- every ``fit`` starts again from the pretrained weights (nothing carries over between rounds);
- AdamW, a larger learning rate for the new head than for the backbone; stop when the mean training
  loss of an epoch falls below ``stop_ratio`` (0.001) x the loss of the first step, or after
  ``max_steps`` optimiser steps (the paper caps at 4,000; the default 300 suits a CPU);
- batch norm stays in eval mode during training (labeled sets of a few dozen items give batches too
  small for batch statistics); dropout is on;
- the pool is scored in batches (``score_batch_size``) without gradients; the pooled features of
  each item are computed once per fit and reused by ``predict_proba``, ``embed`` and
  ``sample_proba``;
- MC dropout ("samples"): the head's dropout is switched on for T passes over the cached features
  (``mc_scope="head"``, the default: T x cheaper than re-running the backbone), or every dropout
  layer of the network too (``mc_scope="all"``: MiniLM's attention and hidden dropout; EfficientNet-
  Lite0 has dropout only before its classifier, so there both scopes agree in kind). Deviation from
  Gal et al.'s full-network MC dropout by default, for CPU cost; say ``mc_scope="all"`` to get it.
- device: ``"auto"`` takes CUDA when present; it runs on the CPU here with small budgets.
"""

from __future__ import annotations

import copy
import time
from typing import Any

import numpy as np

from labelwise.learners.base import EMBEDDING, PROBA, SAMPLES, BaseLearner
from labelwise.learners.mc_dropout import mc_dropout_layers
from labelwise.learners.trainer import Trainer, resolve_device
from labelwise.validation import LabelwiseError, check_positive_int

#: pretrained backbones kept in memory per process, so each round's reset is a copy, not a load
_BACKBONES: dict[tuple, Any] = {}


def item_index_column(n: int, offset: int = 0) -> np.ndarray:
    """X for the fine-tuning learners: an (n, 1) float column of offset, ..., offset + n - 1."""
    return np.arange(offset, offset + n, dtype=np.float64)[:, None]


def finetune_inputs(raw_pool, raw_test=None) -> tuple[list, np.ndarray, np.ndarray | None]:
    """(items, X_pool, X_test): pool and test items in one list, and index columns into it.

    ``X_pool`` is (n_pool, 1), ``X_test`` is (n_test, 1) (``None`` without a test split).
    """
    items = list(raw_pool) + ([] if raw_test is None else list(raw_test))
    X_pool = item_index_column(len(raw_pool))
    X_test = None if raw_test is None else item_index_column(len(raw_test), len(raw_pool))
    return items, X_pool, X_test


class FineTuneLearner(BaseLearner):
    """Fine-tunes a pretrained torch encoder with a zero-initialised linear head.

    X is an (n, 1) column of indices into ``items`` (see the module docstring).

    Args:
        items: the raw items (texts, or images as (H, W[, 3]) arrays) that X indexes.
        backbone: ``"minilm"`` (texts) or ``"efficientnet-lite0"`` (images).
        pretrained: start from the pretrained weights (``False``: seeded random weights).
        lr: backbone learning rate (AdamW); ``head_lr``: the head's.
        weight_decay: AdamW weight decay.
        batch_size: labeled items per step.
        max_steps: cap on optimiser steps per fit.
        stop_ratio: stop when an epoch's mean loss < stop_ratio x first loss (the paper: 0.001).
        dropout: dropout rate before the head.
        mc_samples: T for ``sample_proba``; ``mc_scope``: ``"head"`` or ``"all"``.
        score_batch_size: items per forward pass when scoring the pool.
        max_length: tokens per text (MiniLM); ``image_size``: input side in pixels (images).
        device: ``"auto"`` (CUDA if present), ``"cpu"`` or ``"cuda"``.
    """

    capabilities = frozenset({PROBA, EMBEDDING, SAMPLES})
    backbone_default = "minilm"
    _BACKBONE_LR = {"minilm": 5e-5, "efficientnet-lite0": 1e-4}

    def __init__(self, classes, random_state=None, items=None, backbone: str | None = None,
                 pretrained: bool = True, lr: float | None = None, head_lr: float = 1e-3,
                 weight_decay: float = 1e-4, batch_size: int = 16, max_steps: int = 300,
                 stop_ratio: float = 1e-3, dropout: float = 0.1, mc_samples: int = 20,
                 mc_scope: str = "head", score_batch_size: int = 64, max_length: int = 128,
                 image_size: int = 112, device: str = "auto"):
        backbone = backbone or self.backbone_default
        if backbone not in self._BACKBONE_LR:
            raise LabelwiseError(
                f"unknown backbone {backbone!r}; choose one of: {', '.join(self._BACKBONE_LR)}"
            )
        if mc_scope not in ("head", "all"):
            raise LabelwiseError(f"mc_scope must be 'head' or 'all', got {mc_scope!r}")
        for name, value in (("batch_size", batch_size), ("max_steps", max_steps),
                            ("mc_samples", mc_samples), ("score_batch_size", score_batch_size)):
            check_positive_int(value, name)
        if not 0 <= dropout < 1:
            raise LabelwiseError(f"dropout must lie in [0, 1), got {dropout}")
        super().__init__(classes, random_state, items=items, backbone=backbone,
                         pretrained=pretrained, lr=lr, head_lr=head_lr,
                         weight_decay=weight_decay, batch_size=batch_size, max_steps=max_steps,
                         stop_ratio=stop_ratio, dropout=dropout, mc_samples=mc_samples,
                         mc_scope=mc_scope, score_batch_size=score_batch_size,
                         max_length=max_length, image_size=image_size, device=device)

    def __repr__(self) -> str:  # the items list would flood the repr
        shown = {k: v for k, v in self.params.items() if k != "items"}
        n = 0 if self.params["items"] is None else len(self.params["items"])
        return (f"{type(self).__name__}(K={self.n_classes}, random_state={self.random_state}, "
                f"items=<{n}>, " + ", ".join(f"{k}={v!r}" for k, v in shown.items()) + ")")

    # ------------------------------------------------------------------ items and inputs

    def _seed(self) -> int:
        return 0 if self.random_state is None else int(self.random_state)

    def _indices(self, X: np.ndarray) -> np.ndarray:
        items = self.params["items"]
        if items is None:
            raise LabelwiseError(
                f"{type(self).__name__} needs the raw items: pass items=[...] and give X as an "
                "(n, 1) column of indices into them (labelwise.learners.finetune.finetune_inputs)"
            )
        if X.shape[1] != 1:
            raise LabelwiseError(
                f"{type(self).__name__} takes X as an (n, 1) column of item indices, got "
                f"{X.shape[1]} columns; use finetune_inputs(raw_pool, raw_test)"
            )
        idx = X[:, 0]
        if (idx != np.round(idx)).any() or (len(idx) and (idx.min() < 0
                                                          or idx.max() >= len(items))):
            raise LabelwiseError(
                f"X must hold integer item indices in [0, {len(items)}) for "
                f"{type(self).__name__}"
            )
        return idx.astype(np.int64)

    def _tokenize(self, idx: np.ndarray):
        """The network input of items ``idx`` on the device (texts: a dict; images: a tensor)."""
        import torch

        items = self.params["items"]
        batch = [items[i] for i in idx]
        if self.params["backbone"] == "minilm":
            if not all(isinstance(t, str) and t.strip() for t in batch):
                raise LabelwiseError("finetune-text needs non-empty texts as items")
            tok = self.tokenizer_(batch, padding=True, truncation=True,
                                  max_length=self.params["max_length"], return_tensors="pt")
            return {k: v.to(self.device_) for k, v in tok.items()}
        from labelwise.encoders.image import preprocess_images

        return torch.from_numpy(preprocess_images(batch, self.params["image_size"])).to(
            self.device_)

    # ------------------------------------------------------------------ the network

    def _load_backbone(self):
        """A fresh copy of the (pre)trained backbone; the original stays cached per process."""
        p = self.params
        key = (p["backbone"], p["pretrained"], self._seed() if not p["pretrained"] else 0,
               p["image_size"] if p["backbone"] != "minilm" else None)
        if key not in _BACKBONES:
            if p["backbone"] == "minilm":
                from labelwise.encoders.text import load_minilm

                _BACKBONES[key] = load_minilm(p["pretrained"], key[2])
            else:
                from labelwise.encoders.image import load_efficientnet_lite0

                _BACKBONES[key] = (None, load_efficientnet_lite0(p["pretrained"], key[2],
                                                                 p["image_size"]))
        tokenizer, net = _BACKBONES[key]
        return tokenizer, copy.deepcopy(net)

    def _build(self):
        import torch
        import torch.nn as nn

        tokenizer, backbone = self._load_backbone()
        is_text = self.params["backbone"] == "minilm"
        dim = backbone.config.hidden_size if is_text else backbone._conv_head.out_channels
        n_classes = self.n_classes

        class Classifier(nn.Module):
            def __init__(self, dropout: float):
                super().__init__()
                self.backbone = backbone
                self.dropout = nn.Dropout(dropout)
                self.head = nn.Linear(dim, n_classes)
                nn.init.zeros_(self.head.weight)  # zero-initialised head (as the paper)
                nn.init.zeros_(self.head.bias)

            def features(self, x):
                if is_text:
                    from labelwise.encoders.text import mean_pool

                    hidden = self.backbone(**x).last_hidden_state
                    return mean_pool(hidden, x["attention_mask"])
                return self.backbone.extract_features(x).mean((2, 3))

            def forward(self, x):
                return self.head(self.dropout(self.features(x)))

        self.tokenizer_ = tokenizer
        net = Classifier(self.params["dropout"]).to(self.device_)
        return net, torch

    def _train_mode(self, net) -> None:
        """Dropout on; batch norm frozen (eval), as small labeled batches give poor statistics."""
        import torch.nn as nn

        net.train()
        for m in net.modules():
            if isinstance(m, nn.modules.batchnorm._BatchNorm):
                m.eval()

    def _fit(self, X, y_idx):
        idx = self._indices(X)  # check the input before the slow imports
        import torch
        import torch.nn.functional as F

        p = self.params
        self.device_ = resolve_device(p["device"])
        started = time.perf_counter()
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self._seed())  # a random-init backbone's weights
            net, _ = self._build()
        lr = p["lr"] if p["lr"] is not None else self._BACKBONE_LR[p["backbone"]]
        opt = torch.optim.AdamW(
            [{"params": net.backbone.parameters(), "lr": lr},
             {"params": net.head.parameters(), "lr": p["head_lr"]}],
            weight_decay=p["weight_decay"],
        )
        # the one training loop, on item indices: each batch is tokenized (or loaded) on the way
        trainer = Trainer(lr, p["weight_decay"], p["batch_size"], max_epochs=p["max_steps"],
                          stop_ratio=p["stop_ratio"], threads=None, device=self.device_)
        log = trainer.fit(
            net, idx[:, None].astype(np.float32), y_idx, self._seed(), optimizer=opt,
            max_steps=p["max_steps"], train_mode=self._train_mode,
            transform=lambda xb: self._tokenize(xb[:, 0].long().cpu().numpy()),
            loss_fn=lambda net, xb, yb, epoch: F.cross_entropy(net(xb), yb))
        self.net_ = net
        self._features = {}  # item index -> pooled features of this fit
        self.train_log_ = {"steps": log["steps"], "epochs": log["epochs"],
                           "first_loss": log["first_loss"], "final_loss": log["final_loss"],
                           "stopped_early": log["steps"] < p["max_steps"],
                           "seconds": time.perf_counter() - started}

    # ------------------------------------------------------------------ scoring the pool

    def _pooled(self, idx: np.ndarray, progress: bool = False) -> np.ndarray:
        """Pooled features (n, d) float32 of items ``idx`` (eval mode), computed once per fit."""
        import torch

        missing = np.array(sorted({int(i) for i in idx} - self._features.keys()), dtype=np.int64)
        bs = self.params["score_batch_size"]
        self.net_.eval()
        with torch.inference_mode():
            for start in range(0, len(missing), bs):
                b = missing[start:start + bs]
                feats = self.net_.features(self._tokenize(b)).float().cpu().numpy()
                self._features.update(zip(b.tolist(), feats, strict=True))
        return np.stack([self._features[int(i)] for i in idx]).astype(np.float32)

    def _head_proba(self, h: np.ndarray) -> np.ndarray:
        import torch

        with torch.inference_mode():
            logits = self.net_.head(torch.as_tensor(h, device=self.device_))
            return logits.softmax(dim=1).double().cpu().numpy()

    def _predict_proba(self, X):
        return self._head_proba(self._pooled(self._indices(X)))

    def _embed(self, X):
        """The pooled backbone features h(x) after fine-tuning, (n, d) float32 (384 or 1280)."""
        return self._pooled(self._indices(X))

    def sample_proba(self, X, n_samples: int | None = None) -> np.ndarray:
        """MC-dropout class probabilities, shape (T, n, K) float32 (BALD: Khosla et al. 2022,
        Krishnan et al. 2021).

        Dropout ON, batch norm in eval; seeded by ``random_state``. ``mc_scope="head"`` draws T
        dropout masks on the cached pooled features; ``"all"`` re-runs the network T times with
        every dropout layer on.

        Raises:
            LabelwiseError: when the chosen scope holds no dropout with rate > 0.
        """
        import torch

        X = self._check_predict_input(X)
        idx = self._indices(X)
        T = check_positive_int(self.params["mc_samples"] if n_samples is None else n_samples,
                               "number of MC-dropout samples")
        scope = self.params["mc_scope"]
        drops = (mc_dropout_layers(self.net_) if scope == "all"
                 else mc_dropout_layers(self.net_.dropout))
        if not drops:
            raise LabelwiseError(
                f"{type(self).__name__} has no dropout with rate > 0 in scope {scope!r}, so "
                "MC-dropout samples would be identical; set dropout > 0"
            )
        out = np.empty((T, len(idx), self.n_classes), dtype=np.float32)
        net = self.net_
        # features first: _pooled puts the network in eval mode, which would undo the dropout
        h = torch.as_tensor(self._pooled(idx), device=self.device_) if scope == "head" else None
        try:
            with torch.random.fork_rng(devices=[]), torch.inference_mode():
                torch.manual_seed(self._seed() + 1)
                for m in drops:
                    m.train()
                if scope == "head":
                    for t in range(T):
                        out[t] = net.head(net.dropout(h)).softmax(dim=1).cpu().numpy()
                else:
                    bs = self.params["score_batch_size"]
                    for start in range(0, len(idx), bs):
                        x = self._tokenize(idx[start:start + bs])
                        for t in range(T):
                            p = net(x).softmax(dim=1).cpu().numpy()
                            out[t, start:start + bs] = p
        finally:
            net.eval()
        return out


class FineTuneTextLearner(FineTuneLearner):
    """``finetune-text``: fine-tunes all-MiniLM-L6-v2 on texts (see :class:`FineTuneLearner`)."""

    backbone_default = "minilm"


class FineTuneImageLearner(FineTuneLearner):
    """``finetune-image``: fine-tunes EfficientNet-Lite0 on images (:class:`FineTuneLearner`)."""

    backbone_default = "efficientnet-lite0"

    def __init__(self, classes, random_state=None, items=None, backbone: str | None = None,
                 dropout: float = 0.2, **params):
        super().__init__(classes, random_state, items=items, backbone=backbone, dropout=dropout,
                         **params)
