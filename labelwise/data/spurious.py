"""Spurious-correlation constructions ("Pretrained Models Are Good Active Learners", 2021):
seeded functions of arrays and texts.

A binary core label and a binary attribute (the cue) that agree on exactly a chosen share of
each class (Waterbirds: 95% in the training pool, 50% in the test set), four groups
2 * core + attribute, and the cue painted on images (a background tint, or stripes with a colour
cast) or appended to texts (a place line). The papers' data sets are not available offline; see
:mod:`labelwise.experiments.benchdata` for the real data these stand on. Inputs are never
modified.
"""

from __future__ import annotations

import numpy as np

from labelwise.data.constructions import _check_fraction, _check_images, _rng, to_rgb
from labelwise.validation import LabelwiseError, check_positive_int

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
