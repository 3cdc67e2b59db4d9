"""Your own torch network as a learner: ``TorchModuleLearner`` (registered as ``torch-module``).

Any ``nn.Module`` with a feature extractor and a head trains through the same trainer as the
built-in torch learners (seeded restart every fit, the 0.001 relative-loss stop, ``max_epochs``,
device) and answers what the strategies ask: ``predict_proba``, ``embed`` (the feature
extractor's output h(x): coreset, BADGE), ``sample_proba`` (MC dropout over the module's dropout
layers: BALD), ``ema_outputs`` (LHD) and ``finetune_pseudo_labels`` (+FT)::

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.features = nn.Sequential(nn.Linear(64, 128), nn.ReLU(), nn.Dropout(0.2))
            self.head = nn.Linear(128, 10)

    learner = TorchModuleLearner(classes=10, module=Net, random_state=0)
"""

from __future__ import annotations

import copy

from labelwise.learners.base import EMA, EMBEDDING, PROBA, PSEUDO_LABEL_FT, SAMPLES
from labelwise.learners.ema import EMA_SEED_OFFSET
from labelwise.learners.torch_learner import TorchLearner
from labelwise.learners.trainer import seeded_network
from labelwise.validation import LabelwiseError


def module_parts(module, features: str, head: str):
    """``module`` seen through two of its attributes: an ``nn.Module`` whose ``features(x)`` is
    ``getattr(module, features)(x)`` and ``head(h)`` is ``getattr(module, head)(h)``."""
    import torch.nn as nn

    for name in (features, head):
        if not callable(getattr(module, name, None)):
            raise LabelwiseError(
                f"the module {type(module).__name__} has no callable attribute {name!r}: give it "
                "a feature extractor and a head (e.g. submodules `features`: x -> h and `head`: "
                "h -> logits), or name yours with parts=('<features>', '<head>')"
            )

    class ModuleParts(nn.Module):
        def __init__(self):
            super().__init__()
            self.module = module

        def features(self, x):
            return getattr(self.module, features)(x)

        def head(self, h):
            return getattr(self.module, head)(h)

        def forward(self, x):
            return self.head(self.features(x))

    return ModuleParts()


def reset_weights(module) -> None:
    """Redraw the weights of every submodule that has ``reset_parameters`` (torch's default
    initialisation, from torch's global RNG)."""
    for m in module.modules():
        if callable(getattr(m, "reset_parameters", None)):
            m.reset_parameters()


class TorchModuleLearner(TorchLearner):
    """A user's ``nn.Module`` as a learner, trained by :class:`labelwise.learners.trainer.Trainer`.

    The module maps a batch of features (n, d) float32 (X as given to ``fit``) through two parts,
    named by ``parts``: the feature extractor (x -> h, (n, e)) and the head (h -> logits, (n, K));
    its ``forward`` is not used. Images or sequences go in flattened, with the reshape inside the
    feature extractor (e.g. ``nn.Unflatten``). Checked at ``fit`` on the first two rows.

    Every fit trains a fresh copy from the same initial weights: a factory is called under
    ``torch.manual_seed(random_state)``; a module instance is copied (its weights as given are
    the starting point; the instance itself is never trained). MC dropout switches on the
    module's ``nn.Dropout`` layers (not functional dropout in ``forward``); a module without one
    raises a clear error in ``sample_proba``. The EMA of ``ema_mode="public"`` starts from the
    factory called under another seed, or from a copy of the instance with its weights redrawn
    (``reset_parameters``). With warm start (``warm_fit``) a fit continues a copy of last
    round's trained module instead (:meth:`TorchLearner._warm_fit`).

    Args:
        module: an ``nn.Module``, or a callable ``() -> nn.Module`` (e.g. its class).
        parts: the names of the feature extractor and the head (``("features", "head")``).
        **torch_params: the training, EMA, +FT and device settings of
            :class:`labelwise.learners.torch_learner.TorchLearner`.
    """

    capabilities = frozenset({PROBA, EMBEDDING, SAMPLES, EMA, PSEUDO_LABEL_FT})
    warm_starts = True

    def __init__(self, classes, random_state=None, module=None,
                 parts: tuple[str, str] = ("features", "head"), **torch_params):
        if module is None or not callable(module):
            raise LabelwiseError(
                "TorchModuleLearner needs module=: an nn.Module with a feature extractor and a "
                "head, or a callable that builds one (e.g. its class)"
            )
        if (not isinstance(parts, (tuple, list)) or len(parts) != 2
                or not all(isinstance(p, str) for p in parts)):
            raise LabelwiseError(f"parts must be two attribute names, got {parts!r}")
        super().__init__(classes, random_state, **torch_params,
                         arch={"module": module, "parts": tuple(parts)})

    def __repr__(self) -> str:  # a module's repr spans many lines
        shown = {k: v for k, v in self.params.items() if k != "module"}
        return (f"{type(self).__name__}(K={self.n_classes}, random_state={self.random_state}, "
                f"module=<{self._module_name()}>, "
                + ", ".join(f"{k}={v!r}" for k, v in shown.items()) + ")")

    def _module_name(self) -> str:
        m = self.params["module"]
        return getattr(m, "__name__", type(m).__name__)

    def _is_instance(self) -> bool:
        import torch.nn as nn

        return isinstance(self.params["module"], nn.Module)

    def _build(self, n_features: int):
        import torch.nn as nn

        m = self.params["module"]
        net = copy.deepcopy(m) if self._is_instance() else m()
        if not isinstance(net, nn.Module):
            raise LabelwiseError(f"module= must build a torch nn.Module, got {type(net).__name__}")
        return module_parts(net, *self.params["parts"])

    def _ema_start_network(self, n_features: int):
        if not self._is_instance():
            return super()._ema_start_network(n_features)

        def redrawn():
            net = self._build(n_features)
            reset_weights(net)
            return net

        return seeded_network(redrawn, self._seed() + EMA_SEED_OFFSET, self.device_)

    def _fit(self, X, y_idx):
        self._prepare()
        self.net_ = self._new_network(X.shape[1], self._seed())
        self._check_shapes(X[:2])
        self.train_log_ = self._fit_network(self.net_, X, y_idx, self._seed())

    def _check_shapes(self, X) -> None:
        """Run the parts once on (up to) two rows: h must be (n, e), the logits (n, K)."""
        import torch

        xb = torch.as_tensor(X, dtype=torch.float32, device=self.device_)
        self.net_.eval()
        try:
            with torch.no_grad():
                h = self.net_.features(xb)
                out = self.net_.head(h)
        except Exception as exc:  # the user's code: report it in one line
            raise LabelwiseError(f"the module failed on inputs of shape {tuple(xb.shape)}: "
                                 f"{type(exc).__name__}: {exc}") from None
        f_name, h_name = self.params["parts"]
        if h.dim() != 2 or h.shape[0] != len(xb):
            raise LabelwiseError(f"the module's {f_name!r} must give (n, e) representations; "
                                 f"got shape {tuple(h.shape)} for {len(xb)} inputs "
                                 "(flatten them, e.g. with nn.Flatten)")
        if tuple(out.shape) != (len(xb), self.n_classes):
            raise LabelwiseError(f"the module's {h_name!r} must give (n, {self.n_classes}) logits "
                                 f"(one per class); got shape {tuple(out.shape)}")
