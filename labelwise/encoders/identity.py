"""The ``identity`` encoder: for data that is already features, or raw pixels as features."""

from __future__ import annotations

import numpy as np

from labelwise.encoders.base import Encoder, items_modality
from labelwise.validation import LabelwiseError, check_features


class IdentityEncoder(Encoder):
    """Features pass through as float32; images are flattened to pixels in [0, 1].

    Input: an (n, d) numeric array (returned as (n, d) float32), or images (a list of (H, W[, C])
    arrays or one (n, H, W[, C]) array; all the same shape) giving (n, H*W*C) float32, uint8 pixels
    divided by 255 (float images are kept as they are). Texts are rejected: use a text encoder.
    """

    name = "identity"
    modality = "any"
    default_batch_size = 4096

    def __init__(self):
        super().__init__()

    def check_items(self, items):
        kind = items_modality(items)
        if kind == "text":
            raise LabelwiseError(
                "encoder 'identity' passes numeric features through, but the items are texts; "
                "use a text encoder such as 'minilm'"
            )
        if kind == "features":
            return check_features(items, "features")
        if isinstance(items, np.ndarray):
            return items
        shapes = {np.asarray(x).shape for x in items}
        if len(shapes) > 1:
            first = np.asarray(items[0]).shape
            rows = [i for i, x in enumerate(items) if np.asarray(x).shape != first]
            raise LabelwiseError(
                f"encoder 'identity' needs images of one size, but rows {rows[:10]} differ from "
                f"the first image's shape {first}; resize them or use 'efficientnet-lite0'"
            )
        return np.stack([np.asarray(x) for x in items])

    def _encode_batch(self, batch) -> np.ndarray:
        arr = np.asarray(batch)
        flat = arr.reshape(len(arr), -1)
        if arr.dtype == np.uint8:
            return flat.astype(np.float32) / np.float32(255.0)
        return flat.astype(np.float32)
