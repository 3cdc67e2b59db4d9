"""Image augmentations for training a CNN from scratch (Khosla et al. 2022), built on kornia.

Two recipes, both acting on a batch of images in [0, 1], shape (B, C, H, W), and returning a batch
of the same shape:

- :func:`standard_augment`: the usual training augmentation, a random crop of the image padded by
  ``padding`` pixels (zero fill) and a random horizontal flip.
- :func:`strong_augment`: what Khosla et al. 2022 use for fine-tuning on pseudo-labels ("+FT",
  appendix B: "we randomly select four augmentations from RandAugment followed by Cutout"): the
  standard crop and flip, then ``n_ops`` operations drawn uniformly with replacement per image from
  the 14 of their public code, each with a magnitude drawn uniformly from its range, then Cutout
  with a square side drawn from 1 .. H/2, filled with ``fill`` (the normalisation mean, so it reads
  as zero to the network, as their Cutout after normalising does).

Randomness comes from torch's global generator (kornia's too): seed it around the call.
kornia and torch are imported inside the functions, so importing labelwise stays light.
"""

from __future__ import annotations

#: (name, low, high) of the magnitude of each RandAugment-like operation: the list and ranges of
#: Khosla et al.'s public code (PIL enhance factors 0.05-0.95 reduce colour, contrast, brightness
#: and sharpness; shear and translation are fractions of the side; rotation in degrees, with a
#: random sign).
STRONG_OPS: tuple[tuple[str, float, float], ...] = (
    ("identity", 0.0, 1.0),
    ("autocontrast", 0.0, 1.0),
    ("equalize", 0.0, 1.0),
    ("rotate", -30.0, 30.0),
    ("solarize", 0.0, 1.0),
    ("color", 0.05, 0.95),
    ("contrast", 0.05, 0.95),
    ("brightness", 0.05, 0.95),
    ("sharpness", 0.05, 0.95),
    ("shear_x", -0.1, 0.1),
    ("translate_x", -0.1, 0.1),
    ("translate_y", -0.1, 0.1),
    ("posterize", 4.0, 8.0),
    ("shear_y", -0.1, 0.1),
)


def standard_augment(x, padding: int = 2):
    """Random crop (after zero-padding by ``padding`` pixels) and random horizontal flip.

    Args:
        x: (B, C, H, W) float tensor in [0, 1].
        padding: pixels of padding on each side (CIFAR's usual 4 on 32 pixels; 2 on 28).

    Returns:
        (B, C, H, W) float tensor.
    """
    import kornia.augmentation as K

    h, w = x.shape[-2:]
    if padding > 0:
        x = K.RandomCrop((h, w), padding=padding)(x)
    return K.RandomHorizontalFlip()(x)


def _gray(x):
    """(B, 1, H, W) luminance of RGB images, the image itself when it has one channel."""
    if x.shape[1] == 1:
        return x
    r, g, b = x[:, 0:1], x[:, 1:2], x[:, 2:3]
    return 0.299 * r + 0.587 * g + 0.114 * b


#: the operations that move pixels: applied together as one affine warp per image
GEOMETRIC = frozenset({"rotate", "shear_x", "shear_y", "translate_x", "translate_y"})


def _affine(names: list[str], v, h: int, w: int):
    """(b, 2, 3) affine matrices about the image centre for geometric operations ``names[i]``
    with magnitudes v (b,): rotation in degrees, shear as a factor, translation as a fraction of
    the side (the conventions of the public code's PIL transforms)."""
    import math

    import torch

    b = len(names)
    m = torch.zeros(b, 3, 3, dtype=v.dtype, device=v.device)
    m[:, 0, 0] = m[:, 1, 1] = m[:, 2, 2] = 1.0
    for i, name in enumerate(names):
        a = float(v[i])
        if name == "rotate":
            c, s = math.cos(math.radians(a)), math.sin(math.radians(a))
            m[i, 0, 0], m[i, 0, 1], m[i, 1, 0], m[i, 1, 1] = c, -s, s, c
        elif name == "shear_x":
            m[i, 0, 1] = a
        elif name == "shear_y":
            m[i, 1, 0] = a
        elif name == "translate_x":
            m[i, 0, 2] = a * w
        else:
            m[i, 1, 2] = a * h
    # about the centre: T(c) M T(-c), translations untouched
    cx, cy = (w - 1) / 2.0, (h - 1) / 2.0
    shift = torch.tensor([[1.0, 0.0, cx], [0.0, 1.0, cy], [0.0, 0.0, 1.0]], dtype=v.dtype,
                         device=v.device)
    back = torch.tensor([[1.0, 0.0, -cx], [0.0, 1.0, -cy], [0.0, 0.0, 1.0]], dtype=v.dtype,
                        device=v.device)
    return (shift @ m @ back)[:, :2]


def _apply_op(name: str, x, v):
    """Operation ``name`` on images x (b, C, H, W) in [0, 1] with per-image magnitudes v (b,)."""
    import kornia.enhance as E
    import kornia.geometry.transform as G
    import torch

    h, w = x.shape[-2:]
    f = v[:, None, None, None]
    if name == "identity":
        return x
    if name in GEOMETRIC:
        return G.warp_affine(x, _affine([name] * len(x), v, h, w), (h, w))
    if name == "autocontrast":  # stretch each channel of each image to [0, 1]
        lo = x.amin(dim=(2, 3), keepdim=True)
        hi = x.amax(dim=(2, 3), keepdim=True)
        return torch.where(hi > lo, (x - lo) / (hi - lo).clamp_min(1e-8), x)
    if name == "equalize":
        return E.equalize(x)
    if name == "solarize":
        return E.solarize(x, v)
    if name == "color":  # blend with the grey image; nothing to do on one channel
        return (_gray(x) + f * (x - _gray(x))).clamp(0, 1)
    if name == "contrast":  # blend with the mean grey level, as PIL's Contrast
        mean = _gray(x).mean(dim=(1, 2, 3), keepdim=True)
        return (mean + f * (x - mean)).clamp(0, 1)
    if name == "brightness":
        return (x * f).clamp(0, 1)
    if name == "sharpness":
        return E.sharpness(x, v)
    if name == "posterize":  # keep the top `bits` bits of each 8-bit value
        keep = (2 ** (8 - v.floor())).to(x.dtype)[:, None, None, None]
        return torch.floor(torch.round(x * 255) / keep) * keep / 255
    raise ValueError(f"unknown augmentation {name!r}")


def cutout(x, fill: float = 0.5):
    """One square hole per image, side drawn from 1 .. H/2, centre anywhere (clipped at the
    border), filled with ``fill``; as the public code's Cutout(length=H/2, random=True)."""
    import torch

    b, _, h, w = x.shape
    dev = x.device
    side = torch.randint(1, h // 2 + 1, (b,), device=dev)
    cy = torch.randint(0, h, (b,), device=dev)
    cx = torch.randint(0, w, (b,), device=dev)
    ys = torch.arange(h, device=dev)[None, :]
    xs = torch.arange(w, device=dev)[None, :]
    half = side[:, None] // 2
    in_y = (ys >= cy[:, None] - half) & (ys < cy[:, None] + half)
    in_x = (xs >= cx[:, None] - half) & (xs < cx[:, None] + half)
    hole = (in_y[:, :, None] & in_x[:, None, :])[:, None]  # (b, 1, h, w)
    return torch.where(hole, torch.full_like(x, fill), x)


def strong_augment(x, n_ops: int = 4, padding: int = 2, fill: float = 0.5):
    """Crop + flip, ``n_ops`` RandAugment-like operations per image, then Cutout (see module).

    Args:
        x: (B, C, H, W) float tensor in [0, 1].
        n_ops: operations per image (Khosla et al. 2022: 4).
        padding: padding of the random crop.
        fill: Cutout's fill value.

    Returns:
        (B, C, H, W) float tensor in [0, 1] (Cutout's ``fill`` aside).
    """
    import kornia.geometry.transform as G
    import torch

    x = standard_augment(x, padding)
    b, h, w = len(x), x.shape[-2], x.shape[-1]
    for _ in range(n_ops):
        which = torch.randint(0, len(STRONG_OPS), (b,), device=x.device)
        u = torch.rand(b, device=x.device, dtype=x.dtype)
        low = torch.tensor([op[1] for op in STRONG_OPS], dtype=x.dtype, device=x.device)
        high = torch.tensor([op[2] for op in STRONG_OPS], dtype=x.dtype, device=x.device)
        mag = low[which] + u * (high - low)[which]
        names = [STRONG_OPS[k][0] for k in which.tolist()]
        out = x.clone()
        geo = torch.tensor([n in GEOMETRIC for n in names], device=x.device)
        if geo.any():  # one warp for every moved image of this slot
            moved = [n for n in names if n in GEOMETRIC]
            out[geo] = G.warp_affine(x[geo], _affine(moved, mag[geo], h, w), (h, w))
        for k in torch.unique(which).tolist():
            name = STRONG_OPS[k][0]
            if name in GEOMETRIC or name == "identity":
                continue
            sel = which == k
            out[sel] = _apply_op(name, x[sel], mag[sel]).to(x.dtype)
        x = out
    return cutout(x, fill)
