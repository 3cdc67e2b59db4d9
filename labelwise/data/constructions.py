"""Benchmark constructions of docs/methods.md, section "Benchmark constructions": seeded functions
of arrays.

The papers' own data sets (Waterbirds, CIFAR, ...) are not available offline, so their settings are
built from the real data that is (Fashion-MNIST, MNIST, text corpora): heteroskedastic noise
(Khosla et al. 2022), class imbalance, spurious correlation on images and texts and its
dose-response sweep ("Pretrained Models Are Good Active Learners", 2021), and two toy sets (the
deep active learning thesis' 2-D Gaussians, Khosla et al.'s Four-Moons). Image constructions
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


SPURIOUS_TINTS = ((230, 120, 60), (60, 120, 230))  # warm vs cool background: the spurious attribute


def spurious_attribute(core: np.ndarray, agreement: float, random_state=None) -> np.ndarray:
    """A binary attribute equal to the binary ``core`` label on exactly ``agreement`` of each class.

    Within each core class, round(agreement * n_c) seeded random examples get attribute = core and
    the rest attribute = 1 - core (Waterbirds: 95% in train, 50% in test). Returns (n,) 0/1.
    """
    core = np.asarray(core, dtype=np.int64)
    if not np.isin(core, (0, 1)).all():
        raise LabelwiseError("the core label of a spurious-correlation task must be binary (0/1)")
    agreement = _check_fraction(agreement, "agreement")
    rng = _rng(random_state)
    attr = 1 - core
    for c in (0, 1):
        members = np.flatnonzero(core == c)
        agree = rng.choice(members, int(round(agreement * members.size)), replace=False)
        attr[agree] = c
    return attr


def group_of(core: np.ndarray, attribute: np.ndarray) -> np.ndarray:
    """The four groups of a spurious-correlation task: 2 * core + attribute, in 0..3.

    Groups 0 and 3 are where core and attribute agree (the majority in training); 1 and 2 are the
    minority, "disambiguating" groups that "Pretrained Models Are Good Active Learners" (2021,
    Fig. 4) finds uncertainty sampling oversamples.
    """
    return 2 * np.asarray(core, dtype=np.int64) + np.asarray(attribute, dtype=np.int64)


GROUP_NAMES = ("core0/attr0", "core0/attr1", "core1/attr0", "core1/attr1")


def paint_background(images: np.ndarray, attribute: np.ndarray, threshold: int = 40,
                     tints=SPURIOUS_TINTS) -> np.ndarray:
    """Colour the dark background of grayscale images by a binary attribute (a spurious cue).

    Pixels darker than ``threshold`` are replaced by ``tints[attribute]`` (RGB); the object keeps
    its gray levels. Returns (n, H, W, 3) uint8.
    """
    rgb = to_rgb(images).copy()
    gray = rgb.mean(axis=-1)
    tint = np.asarray(tints, dtype=np.uint8)[np.asarray(attribute, dtype=np.int64)]
    mask = gray < threshold
    rgb[mask] = np.broadcast_to(tint[:, None, None, :], rgb.shape)[mask]
    return rgb


def spurious_correlation(
    images: np.ndarray,
    core: np.ndarray,
    agreement: float = 0.95,
    random_state=None,
    tints=SPURIOUS_TINTS,
    cue: str = "tint",
    strength: float = 1.0,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A Waterbirds-like split ("Pretrained Models Are Good Active Learners", 2021): a binary
    core label and a spurious cue that agree on ``agreement`` of the examples (Waterbirds: 0.95
    for the pool, 0.5 for the test set).

    Args:
        images: (n, H, W) grayscale uint8 images (objects bright on a dark background).
        core: (n,) 0/1 core labels (e.g. two superclasses of Fashion-MNIST).
        cue: ``"tint"`` (background tint ``tints``) or ``"stripes"`` (:func:`paint_stripes`).
        strength: the cue's strength in [0, 1] (:func:`paint_cue`).

    Returns:
        (rgb_images (n, H, W, 3) uint8, attribute (n,) 0/1, group (n,) in 0..3 of :func:`group_of`).
    """
    images = _check_images(images)
    if len(core) != len(images):
        raise LabelwiseError(f"images has {len(images)} rows but core has {len(core)}")
    attr = spurious_attribute(core, agreement, random_state)
    if cue == "tint" and strength == 1.0:
        painted = paint_background(images, attr, tints=tints)
    else:
        painted = paint_cue(images, attr, cue, strength)
    return painted, attr, group_of(core, attr)


#: the spurious cues of :func:`spurious_correlation`: ``"tint"`` colours the background only;
#: ``"stripes"`` stripes it and casts the tint on the object too (an easier cue, see
#: :func:`paint_stripes`)
IMAGE_CUES = ("tint", "stripes")


def paint_stripes(images: np.ndarray, attribute: np.ndarray, strength: float = 1.0,
                  threshold: int = 40, tints=SPURIOUS_TINTS, period: int = 4) -> np.ndarray:
    """A spurious cue that a pretrained image network sees more easily than the object's shape.

    Attribute 0 gets horizontal stripes of ``tints[0]`` on the dark background, attribute 1
    vertical stripes of ``tints[1]``; the stripes alternate every ``period // 2`` rows (columns)
    between 35% and 100% of the tint, and the object's gray levels are cast in the tint's hue.
    ImageNet-trained networks lean on texture and colour (Geirhos et al. 2019), so striped,
    coloured backgrounds are what their pooled features separate first: in "Pretrained Models
    Are Good Active Learners" (2021), Waterbirds' backgrounds play this role.

    ``strength`` in [0, 1] scales the cue: background = strength x stripes, object channel c =
    gray x (1 - strength x (1 - tint_c / max(tint))). 0 gives the grayscale image in RGB (no cue),
    1 the full cue.

    Args:
        images: (n, H, W) grayscale uint8 images (objects bright on a dark background).
        attribute: (n,) 0/1.

    Returns:
        (n, H, W, 3) uint8.
    """
    strength = _check_fraction(strength, "cue strength")
    period = check_positive_int(period, "stripe period", minimum=2)
    rgb = to_rgb(images).astype(np.float32)
    attribute = np.asarray(attribute, dtype=np.int64)
    n, height, width = rgb.shape[:3]
    tint = np.asarray(tints, dtype=np.float32)[attribute]  # (n, 3)
    gain = 1.0 - strength * (1.0 - tint / tint.max(axis=1, keepdims=True))
    rows = ((np.arange(height) // (period // 2)) % 2)[:, None] * np.ones((1, width))
    cols = ((np.arange(width) // (period // 2)) % 2)[None, :] * np.ones((height, 1))
    stripes = np.where(attribute[:, None, None] == 0, rows[None], cols[None])  # (n, H, W)
    background = strength * tint[:, None, None, :] * (0.35 + 0.65 * stripes[..., None])
    dark = rgb.mean(axis=-1) < threshold
    out = np.where(dark[..., None], background, rgb * gain[:, None, None, :])
    return np.clip(np.round(out), 0, 255).astype(np.uint8)


def paint_cue(images: np.ndarray, attribute: np.ndarray, cue: str = "tint",
              strength: float = 1.0) -> np.ndarray:
    """Images with the spurious ``cue`` of ``attribute`` painted on: (n, H, W, 3) uint8.

    ``"tint"``: :func:`paint_background` with the tints scaled by ``strength``; ``"stripes"``:
    :func:`paint_stripes`.
    """
    if cue not in IMAGE_CUES:
        raise LabelwiseError(f"unknown spurious cue {cue!r}; choose one of: "
                             f"{', '.join(IMAGE_CUES)}")
    if cue == "stripes":
        return paint_stripes(images, attribute, strength)
    strength = _check_fraction(strength, "cue strength")
    tints = np.round(strength * np.asarray(SPURIOUS_TINTS, dtype=np.float64)).astype(np.uint8)
    return paint_background(images, attribute, tints=tints)


#: the injected phrases of :func:`inject_text_cue` (attribute 0, attribute 1): a place line,
#: neutral about a news topic or a review's sentiment, so it carries no core signal of its own
TEXT_CUES = ("Posted from Boston.", "Posted from Denver.")


def inject_text_cue(texts, attribute: np.ndarray, cues=TEXT_CUES, repeats: int = 1) -> list[str]:
    """Texts with the phrase ``cues[attribute]`` appended ``repeats`` times (a spurious token).

    The text stand-in for Waterbirds' backgrounds (CivilComments-style spurious identity
    tokens): more repeats weigh the phrase more in a mean-pooled sentence embedding.

    Args:
        texts: n strings.
        attribute: (n,) 0/1.

    Returns:
        n new strings.
    """
    texts = list(texts)
    attribute = np.asarray(attribute, dtype=np.int64)
    if len(attribute) != len(texts):
        raise LabelwiseError(f"{len(texts)} texts but {len(attribute)} attribute values")
    repeats = check_positive_int(repeats, "cue repeats")
    return [t + (" " + cues[a]) * repeats for t, a in zip(texts, attribute.tolist(), strict=True)]


def spurious_text(texts, core: np.ndarray, agreement: float = 0.95, random_state=None,
                  cues=TEXT_CUES, repeats: int = 1) -> tuple[list[str], np.ndarray, np.ndarray]:
    """The text counterpart of :func:`spurious_correlation`: a binary ``core`` label (e.g. a
    review's sentiment) and an injected phrase agreeing with it on ``agreement`` of each class.

    Returns:
        (texts with the cue, attribute (n,) 0/1, group (n,) in 0..3 of :func:`group_of`).
    """
    texts = list(texts)
    if len(core) != len(texts):
        raise LabelwiseError(f"{len(texts)} texts but core has {len(core)} labels")
    attr = spurious_attribute(core, agreement, random_state)
    return inject_text_cue(texts, attr, cues, repeats), attr, group_of(core, attr)


def dose_response(agreements=(0.5, 0.6, 0.7, 0.8, 0.9, 0.95)) -> list[float]:
    """The dose-response sweep of "Pretrained Models Are Good Active Learners" (2021, section
    5.4, Fig. 10): pool agreements to run, test
    fixed at 0.5. Validates and returns the sorted agreements; run :func:`spurious_correlation`
    once per value."""
    values = sorted(_check_fraction(a, "agreement") for a in agreements)
    if not values:
        raise LabelwiseError("the dose-response sweep needs at least one agreement value")
    return values


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
