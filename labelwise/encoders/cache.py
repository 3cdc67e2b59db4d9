"""The embedding cache: where ``labelwise.encoders.embed`` keeps the features of a set of items.

Entries are .npy files under ``<cache_dir>/embeddings/<encoder name>/<key>.npy``, where the key
is a SHA-256 of the encoder's name, its ``settings()`` and a hash of the items (each text's UTF-8
bytes, or each image's shape, dtype and bytes, in order). Changing any item, their order, or a
setting gives a new key. The default cache dir is ``$LABELWISE_CACHE`` or ``~/.cache/labelwise``;
the ONNX export of the image encoder lives there too (``<cache_dir>/models/``).
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import numpy as np

from labelwise.encoders.base import Encoder


def default_cache_dir() -> Path:
    """``$LABELWISE_CACHE`` if set, else ``~/.cache/labelwise``."""
    env = os.environ.get("LABELWISE_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "labelwise"


def resolve_cache_dir(cache_dir: str | os.PathLike | None) -> Path:
    """``cache_dir`` as a Path, or the default one."""
    return default_cache_dir() if cache_dir is None else Path(cache_dir).expanduser()


def hash_items(items) -> str:
    """A SHA-256 hex digest of the items' content and order.

    Texts hash their UTF-8 bytes with length prefixes (so ``["ab", "c"]`` differs from
    ``["a", "bc"]``); arrays hash their shape, dtype and bytes.
    """
    h = hashlib.sha256()
    if isinstance(items, np.ndarray) and items.dtype != object:
        _update_array(h, items)
        return h.hexdigest()
    h.update(f"list:{len(items)}|".encode())
    for item in items:
        if isinstance(item, str):
            data = item.encode("utf-8")
            h.update(b"s" + len(data).to_bytes(8, "little") + data)
        else:
            _update_array(h, np.asarray(item))
    return h.hexdigest()


def _update_array(h, arr: np.ndarray) -> None:
    arr = np.ascontiguousarray(arr)
    h.update(f"a{arr.shape}{arr.dtype.str}|".encode())
    h.update(arr.tobytes())


def cache_key(encoder: Encoder, items_hash: str) -> str:
    """The cache key of an encoder (name + settings) applied to items with ``items_hash``."""
    spec = json.dumps({"name": encoder.name, "settings": encoder.settings()}, sort_keys=True,
                      default=str)
    return hashlib.sha256(f"{spec}|{items_hash}".encode()).hexdigest()[:40]


def cache_path(encoder: Encoder, items, cache_dir: str | os.PathLike | None = None) -> Path:
    """Where ``embed`` stores (or finds) the features of ``items`` under ``encoder``."""
    root = resolve_cache_dir(cache_dir)
    return root / "embeddings" / encoder.name / f"{cache_key(encoder, hash_items(items))}.npy"
