"""The kornia augmentations of the cnn learner: standard (crop + flip) and strong (RandAugment-like
operations + Cutout, Khosla et al. 2022 appendix B)."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("kornia")

from labelwise.learners.image_augment import (  # noqa: E402
    STRONG_OPS,
    _apply_op,
    cutout,
    standard_augment,
    strong_augment,
)


def _batch(c: int, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(8, c, 16, 16, generator=g)


@pytest.mark.parametrize("c", [1, 3])
@pytest.mark.parametrize("fn", [standard_augment, strong_augment])
def test_augmentation_changes_the_images_not_their_shape(fn, c):
    x = _batch(c)
    before = x.clone()
    torch.manual_seed(0)
    y = fn(x)
    assert y.shape == x.shape and y.dtype == x.dtype
    assert torch.equal(x, before)  # the input is not modified
    assert not torch.equal(y, x)
    assert float(y.min()) >= 0.0 and float(y.max()) <= 1.0
    torch.manual_seed(0)
    assert torch.equal(fn(x), y)  # seeded: the same draw again


@pytest.mark.parametrize("name", [op[0] for op in STRONG_OPS])
def test_every_operation_keeps_shape_and_range(name):
    x = _batch(3)
    low, high = next((lo, hi) for n, lo, hi in STRONG_OPS if n == name)
    y = _apply_op(name, x, torch.linspace(low, high, len(x)))
    assert y.shape == x.shape and torch.isfinite(y).all()
    assert float(y.min()) >= -1e-6 and float(y.max()) <= 1 + 1e-6


def test_operations_by_hand():
    v = torch.tensor([0.5])
    img = torch.tensor([0.2, 0.4, 0.6]).reshape(1, 1, 1, 3)
    # brightness: x * f
    assert torch.allclose(_apply_op("brightness", img, v), img * 0.5)
    # contrast: mean + f (x - mean), mean 0.4
    assert torch.allclose(_apply_op("contrast", img, v), torch.tensor([0.3, 0.4, 0.5]).reshape(
        1, 1, 1, 3))
    # autocontrast stretches 0.2..0.6 to 0..1
    assert torch.allclose(_apply_op("autocontrast", img, v),
                          torch.tensor([0.0, 0.5, 1.0]).reshape(1, 1, 1, 3))
    # posterize to 4 bits: 0.6 * 255 = 153 -> 144 (multiples of 16)
    assert torch.allclose(_apply_op("posterize", img, torch.tensor([4.0])) * 255,
                          torch.tensor([48.0, 96.0, 144.0]).reshape(1, 1, 1, 3))
    # translate_x by +0.25 of 16 px moves a bright column 4 px to the right
    x = torch.zeros(1, 1, 16, 16)
    x[..., 5] = 1.0
    moved = _apply_op("translate_x", x, torch.tensor([0.25]))
    assert int(moved[0, 0].sum(0).argmax()) == 9


def test_cutout_fills_one_square_by_hand():
    torch.manual_seed(3)
    x = torch.zeros(64, 1, 16, 16)
    y = cutout(x, fill=0.5)
    filled = (y == 0.5).sum(dim=(1, 2, 3)).numpy()
    assert set(np.unique(y.numpy())) <= {0.0, 0.5}
    # side drawn from 1..8: an even side s holds s*s pixels when inside, fewer at the border
    assert filled.max() <= 64 and (filled > 0).mean() > 0.5
