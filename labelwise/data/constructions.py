"""Benchmark constructions of docs/methods.md, section "Benchmark constructions": seeded functions
of arrays.

The papers' own data sets (Waterbirds, CIFAR, ...) are not available offline, so their settings are
built from the real data that is (Fashion-MNIST, MNIST, text corpora): heteroskedastic noise
(Khosla et al. 2022), class imbalance, and two toy sets (the deep active learning thesis' 2-D
Gaussians, Khosla et al.'s Four-Moons); spurious correlation on images and texts and its
dose-response sweep are in :mod:`labelwise.data.spurious`. Image constructions
work on raw uint8 images, before any encoder sees them, as the papers do. Every function takes
``random_state`` and returns new arrays (inputs are never modified).
"""

from __future__ import annotations

import numpy as np

from labelwise.validation import LabelwiseError, check_positive_int

HETEROSKEDASTIC_KINDS = ("blank", "diverse", "class")


def _rng(random_state) -> np.random.Generator:
    return np.random.default_rng(random_state)


def _check_images(images) -> np.ndarray:
    arr = np.asarray(images)
    if arr.ndim not in (3, 4) or (arr.ndim == 4 and arr.shape[-1] != 3):
        raise LabelwiseError(f"images must be (n, H, W) or (n, H, W, 3), got shape {arr.shape}")
    if arr.dtype != np.uint8:
        raise LabelwiseError(f"images must be uint8 (0-255), got {arr.dtype}")
    return arr


def _check_fraction(value: float, name: str, low: float = 0.0, high: float = 1.0) -> float:
    value = float(value)
    if not low <= value <= high:
        raise LabelwiseError(f"{name} must be in [{low}, {high}], got {value}")
    return value


def to_rgb(images: np.ndarray) -> np.ndarray:
    """(n, H, W) grayscale -> (n, H, W, 3) by repeating the channel; RGB is returned unchanged."""
    images = _check_images(images)
    return images if images.ndim == 4 else np.repeat(images[..., None], 3, axis=-1)


def heteroskedastic(
    images: np.ndarray,
    labels: np.ndarray,
    kind: str,
    n_classes: int | None = None,
    noise_fraction: float = 0.8,
    noisy_class: int = 0,
    n_types: int | None = None,
    random_state=None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Append N noisy examples with random labels to a clean pool (Khosla et al. 2022, section 3).

    N is chosen so that noisy examples make up ``noise_fraction`` of the result (Khosla et al. 2022:
    80% noisy, 20% clean). The noisy examples come from a narrow distribution that a model can
    recognise:

    - ``"blank"`` (Noisy-Blank): all-black images (K=1 unique input), each with a label drawn
      uniformly from the K classes.
    - ``"diverse"`` (Noisy-Diverse): ``n_types`` (default 100) random solid colours; each colour
      has 3 allowed labels of its own and every copy draws its label among them. The output is RGB.
    - ``"class"`` (Noisy-Class): ``n_types`` (default 100) images of class ``noisy_class`` each get
      one uniformly random label, and are repeated at random to give N examples. Following the
      paper's wording, the clean examples of that class keep their labels.

    Args:
        images: (n, H, W) or (n, H, W, 3) uint8 clean images.
        labels: (n,) class indices in range(n_classes).
        kind: "blank", "diverse" or "class".
        n_classes: K (default: max label + 1).
        noise_fraction: share of noisy examples in the output, in [0, 1).

    Returns:
        (images, labels, is_noisy): the clean examples first, then the N noisy ones;
        ``is_noisy`` is (n + N,) bool.
    """
    images = _check_images(images)
    labels = np.asarray(labels, dtype=np.int64)
    if len(labels) != len(images):
        raise LabelwiseError(f"images has {len(images)} rows but labels has {len(labels)}")
    if kind not in HETEROSKEDASTIC_KINDS:
        raise LabelwiseError(
            f"unknown heteroskedastic kind {kind!r}; choose one of: "
            f"{', '.join(HETEROSKEDASTIC_KINDS)}")
    noise_fraction = _check_fraction(noise_fraction, "noise fraction", 0.0, 0.99)
    n_classes = int(labels.max()) + 1 if n_classes is None else int(n_classes)
    rng = _rng(random_state)
    n_noisy = int(round(len(images) * noise_fraction / (1.0 - noise_fraction)))
    if kind == "diverse":
        images = to_rgb(images)
        if n_classes < 3:
            raise LabelwiseError("Noisy-Diverse needs at least 3 classes (3 labels per colour)")
    shape = images.shape[1:]
    if kind == "blank":
        noisy = np.zeros((n_noisy, *shape), dtype=np.uint8)
        noisy_y = rng.integers(0, n_classes, n_noisy)
    elif kind == "diverse":
        k = 100 if n_types is None else check_positive_int(n_types, "n_types")
        colours = rng.integers(0, 256, (k, 3)).astype(np.uint8)
        allowed = np.stack([rng.choice(n_classes, 3, replace=False) for _ in range(k)])
        which = rng.integers(0, k, n_noisy)
        noisy = np.broadcast_to(colours[which][:, None, None, :], (n_noisy, *shape)).copy()
        noisy_y = allowed[which, rng.integers(0, 3, n_noisy)]
    else:
        members = np.flatnonzero(labels == noisy_class)
        if members.size == 0:
            raise LabelwiseError(f"noisy class {noisy_class} has no examples")
        k = min(100 if n_types is None else check_positive_int(n_types, "n_types"), members.size)
        base = rng.choice(members, k, replace=False)
        base_y = rng.integers(0, n_classes, k)
        which = rng.integers(0, k, n_noisy)
        noisy = images[base[which]]
        noisy_y = base_y[which]
    out_images = np.concatenate([images, noisy])
    out_labels = np.concatenate([labels, noisy_y.astype(np.int64)])
    is_noisy = np.concatenate([np.zeros(len(images), bool), np.ones(n_noisy, bool)])
    return out_images, out_labels, is_noisy


def imbalanced_binary(
    labels: np.ndarray, minority_classes, ratio: float = 1 / 19, random_state=None
) -> tuple[np.ndarray, np.ndarray]:
    """A binary minority task (An Empirical Study of Deep Active Learning, 2021):
    ``minority_classes`` vs the rest at ``ratio``.

    The minority examples are down-sampled (without replacement) so that there are
    round(ratio * n_majority) of them; every majority example is kept.

    Args:
        labels: (n,) class indices.
        minority_classes: the classes that form the positive (minority) class 1.
        ratio: minority / majority count (An Empirical Study of Deep Active Learning, 2021: 1/19,
            i.e. 5% of the result).

    Returns:
        (idx, y_binary): sorted (m,) indices into ``labels`` and (m,) 0/1 labels (1 = minority).
    """
    labels = np.asarray(labels)
    ratio = _check_fraction(ratio, "ratio", 1e-6, 1.0)
    is_min = np.isin(labels, np.atleast_1d(minority_classes))
    minority, majority = np.flatnonzero(is_min), np.flatnonzero(~is_min)
    if minority.size == 0 or majority.size == 0:
        raise LabelwiseError("minority classes must be present and leave some majority examples")
    n_min = max(1, int(round(ratio * majority.size)))
    if n_min > minority.size:
        raise LabelwiseError(f"ratio {ratio:.3f} needs {n_min} minority examples but only "
                             f"{minority.size} exist")
    idx = np.sort(np.concatenate([majority, _rng(random_state).choice(minority, n_min,
                                                                     replace=False)]))
    return idx, is_min[idx].astype(np.int64)


def subsample_classes(
    labels: np.ndarray, fraction: float = 0.1, classes=None, random_state=None
) -> tuple[np.ndarray, np.ndarray]:
    """Keep ``fraction`` of the examples of half of the classes ("Pretrained Models Are Good
    Active Learners", 2021, appendix I).

    Args:
        labels: (n,) class indices.
        fraction: share kept of each reduced class (that paper: 10%).
        classes: which classes to reduce; default: a seeded random half of the classes present.

    Returns:
        (idx, reduced): sorted kept indices into ``labels`` and the reduced classes.
    """
    labels = np.asarray(labels)
    fraction = _check_fraction(fraction, "fraction", 0.0, 1.0)
    rng = _rng(random_state)
    present = np.unique(labels)
    if classes is None:
        classes = np.sort(rng.choice(present, len(present) // 2, replace=False))
    classes = np.asarray(classes)
    keep = [np.flatnonzero(~np.isin(labels, classes))]
    for c in classes:
        members = np.flatnonzero(labels == c)
        keep.append(rng.choice(members, max(1, int(round(fraction * members.size))),
                               replace=False))
    return np.sort(np.concatenate(keep)), classes


def imbalance_counts(n_max: int, n_classes: int, imbalance_ratio: float) -> np.ndarray:
    """Per-class counts of an exponential long tail whose std/mean is ``imbalance_ratio`` (Aggarwal
    et al. 2022).

    Counts are round(n_max * q ** (i / (K - 1))), i = 0..K-1, with q in (0, 1] found by bisection so
    that the imbalance ratio std/mean (Aggarwal et al. 2022, Table 2; population std) is as close as
    possible to the target. Returns (K,) int counts, largest first, each >= 1.
    """
    from labelwise.metrics import imbalance_ratio as ir_of

    if n_classes < 2:
        raise LabelwiseError("a long tail needs at least 2 classes")
    target = float(imbalance_ratio)
    expo = np.arange(n_classes) / (n_classes - 1)

    def counts(q: float) -> np.ndarray:
        return np.maximum(1, np.round(n_max * q ** expo)).astype(np.int64)

    max_ir = ir_of(counts(1.0 / n_max))
    if not 0.0 <= target <= max_ir:
        raise LabelwiseError(f"imbalance ratio must be in [0, {max_ir:.3f}] for {n_classes} "
                             f"classes and {n_max} per class, got {target}")
    lo, hi = 1.0 / n_max, 1.0  # ir decreases as q grows
    for _ in range(60):
        mid = (lo + hi) / 2
        if ir_of(counts(mid)) > target:
            lo = mid
        else:
            hi = mid
    return counts(lo if abs(ir_of(counts(lo)) - target) < abs(ir_of(counts(hi)) - target) else hi)


def long_tailed(
    labels: np.ndarray, imbalance_ratio: float = 0.75, random_state=None
) -> np.ndarray:
    """Sub-sample a balanced pool into a long tail with a target imbalance ratio std/mean (Aggarwal
    et al. 2022).

    The classes are ranked in a seeded random order; the i-th keeps
    :func:`imbalance_counts`\\ (n_min_class, K, ratio)[i] examples (Aggarwal et al. 2022 induces ir
    ~ 0.74-0.79 on CIFAR-100 and Food-101). Returns sorted kept indices into ``labels``.
    """
    labels = np.asarray(labels)
    rng = _rng(random_state)
    present = np.unique(labels)
    n_max = int(min(np.sum(labels == c) for c in present))
    counts = imbalance_counts(n_max, len(present), imbalance_ratio)
    order = rng.permutation(present)
    keep = [rng.choice(np.flatnonzero(labels == c), n, replace=False)
            for c, n in zip(order, counts, strict=True)]
    return np.sort(np.concatenate(keep))


def two_gaussians(n: int = 5000, distance: float = 3.0, random_state=None
                  ) -> tuple[np.ndarray, np.ndarray]:
    """Two equal-variance 2-D Gaussian blobs, one per class (An Empirical Study of Deep Active
    Learning, 2021, Fig. 3.1: 5,000 points).

    Means at (-distance/2, 0) and (+distance/2, 0), identity covariance; n // 2 points per class
    (the first class gets the odd one). Returns X (n, 2) float32, y (n,) int64.
    """
    n = check_positive_int(n, "n", minimum=2)
    rng = _rng(random_state)
    y = np.zeros(n, dtype=np.int64)
    y[n - n // 2:] = 1
    X = rng.standard_normal((n, 2))
    X[:, 0] += np.where(y == 1, distance / 2, -distance / 2)
    return X.astype(np.float32), y


def four_moons(n: int = 2000, noisy_moon: int = 3, noise: float = 0.1, random_state=None
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Four interleaved moons, one class each, one moon with uniformly random labels (Khosla et al.
    2022, Fig. 1).

    Two scikit-learn ``make_moons`` pairs side by side: moons 0 (upper) and 1 (lower) on the left,
    2 (upper) and 3 (lower) shifted right by 3. Points of ``noisy_moon`` get a label drawn
    uniformly from the 4 classes.

    Returns:
        X (n, 2) float32, y (n,) int64 observed labels, is_noisy (n,) bool (membership of the noisy
        moon, whatever label it drew).
    """
    from sklearn.datasets import make_moons

    n = check_positive_int(n, "n", minimum=4)
    if noisy_moon not in range(4):
        raise LabelwiseError(f"noisy moon must be 0, 1, 2 or 3, got {noisy_moon}")
    rng = _rng(random_state)
    seeds = rng.integers(2**31, size=2)
    X1, y1 = make_moons(n // 2, noise=noise, random_state=int(seeds[0]))
    X2, y2 = make_moons(n - n // 2, noise=noise, random_state=int(seeds[1]))
    X2 = X2 + np.array([3.0, 0.0])
    X = np.concatenate([X1, X2]).astype(np.float32)
    moon = np.concatenate([y1, y2 + 2]).astype(np.int64)
    is_noisy = moon == noisy_moon
    y = moon.copy()
    y[is_noisy] = rng.integers(0, 4, int(is_noisy.sum()))
    return X, y, is_noisy
