"""Spurious-correlation constructions: exact agreement per class, groups, the image and text
cues, determinism."""

import numpy as np
import pytest

from labelwise.data import constructions as C
from labelwise.data import spurious as S
from labelwise.validation import LabelwiseError


@pytest.mark.parametrize("agreement", [0.5, 0.95])
def test_spurious_correlation_agreement_and_groups(images, agreement):
    imgs, y = images
    core = (y >= 5).astype(int)
    X, attr, groups = S.spurious_correlation(imgs, core, agreement, random_state=0)
    assert X.shape == (200, 8, 8, 3)
    assert np.mean(attr == core) == pytest.approx(agreement)
    sizes = np.bincount(groups, minlength=4)
    # 100 per core class: agreement*100 in the agreeing groups (0 and 3)
    assert sizes.tolist() == [round(agreement * 100), 100 - round(agreement * 100),
                              100 - round(agreement * 100), round(agreement * 100)]
    # the background carries the attribute's tint; the object keeps its gray levels
    bg = X[:, 0, 0, :]
    np.testing.assert_array_equal(bg, np.asarray(S.SPURIOUS_TINTS)[attr])
    np.testing.assert_array_equal(X[:, 3, 3, 0], imgs[:, 3, 3])


def test_dose_response_sweep():
    assert S.dose_response((0.95, 0.5, 0.7)) == [0.5, 0.7, 0.95]
    with pytest.raises(LabelwiseError):
        S.dose_response((1.5,))


def test_stripes_cue_at_zero_strength_is_the_gray_image(images):
    imgs, _ = images
    X = S.paint_stripes(imgs, np.zeros(200, int), strength=0.0)
    np.testing.assert_array_equal(X, C.to_rgb(imgs))


def test_stripes_cue_pattern_and_colour_cast():
    imgs = np.zeros((2, 8, 8), np.uint8)
    imgs[:, 3:5, 3:5] = 200  # object in the middle, dark background elsewhere
    X = S.paint_stripes(imgs, np.array([0, 1]), strength=1.0, period=4)
    warm, cool = (np.asarray(t, float) for t in S.SPURIOUS_TINTS)
    # attribute 0: horizontal stripes (rows 0-1 dim, 2-3 full), attribute 1: vertical stripes
    np.testing.assert_array_equal(X[0, 0, 0], np.round(0.35 * warm))
    np.testing.assert_array_equal(X[0, 2, 0], np.round(warm))
    np.testing.assert_array_equal(X[0, 2, 7], X[0, 2, 0])  # constant along a row
    np.testing.assert_array_equal(X[1, 0, 2], np.round(cool))
    np.testing.assert_array_equal(X[1, 7, 2], X[1, 0, 2])  # constant along a column
    # the object keeps its shape, in the tint's hue: gray 200 x tint / max(tint)
    np.testing.assert_array_equal(X[0, 3, 3], np.round(200 * warm / warm.max()))
    np.testing.assert_array_equal(X[1, 4, 4], np.round(200 * cool / cool.max()))


def test_tint_cue_strength_scales_the_background(images):
    imgs, _ = images
    X = S.paint_cue(imgs, np.ones(200, int), "tint", strength=0.5)
    np.testing.assert_array_equal(X[:, 0, 0], np.round(0.5 * np.asarray(S.SPURIOUS_TINTS[1]))
                                  [None].repeat(200, 0))
    with pytest.raises(LabelwiseError, match="tint, stripes"):
        S.paint_cue(imgs, np.ones(200, int), "patch")
    with pytest.raises(LabelwiseError, match="strength"):
        S.paint_cue(imgs, np.ones(200, int), "stripes", strength=1.5)


@pytest.mark.parametrize("agreement", [0.5, 0.7, 0.95])
def test_stripes_split_agreement_groups_and_seed(images, agreement):
    imgs, y = images
    core = (y >= 5).astype(int)
    X, attr, groups = S.spurious_correlation(imgs, core, agreement, random_state=3,
                                             cue="stripes")
    assert X.shape == (200, 8, 8, 3)
    for c in (0, 1):  # exact within each core class, not just overall
        assert (attr[core == c] == c).sum() == round(agreement * 100)
    np.testing.assert_array_equal(groups, 2 * core + attr)
    again = S.spurious_correlation(imgs, core, agreement, random_state=3, cue="stripes")
    np.testing.assert_array_equal(again[0], X)
    other = S.spurious_correlation(imgs, core, agreement, random_state=4, cue="stripes")[1]
    assert agreement == 0.5 or not np.array_equal(other, attr)


def test_inject_text_cue():
    out = S.inject_text_cue(["Great film.", "Dull."], np.array([0, 1]), repeats=2)
    assert out == ["Great film. Posted from Boston. Posted from Boston.",
                   "Dull. Posted from Denver. Posted from Denver."]
    with pytest.raises(LabelwiseError, match="2 texts but 1"):
        S.inject_text_cue(["a", "b"], np.array([0]))


@pytest.mark.parametrize("agreement", [0.5, 0.95])
def test_spurious_text_agreement_groups_and_seed(agreement):
    core = np.array([0] * 60 + [1] * 40)  # unbalanced classes, as fresh vs rotten
    texts = [f"review {i}" for i in range(100)]
    out, attr, groups = S.spurious_text(texts, core, agreement, random_state=1)
    assert (attr[core == 0] == 0).sum() == round(agreement * 60)
    assert (attr[core == 1] == 1).sum() == round(agreement * 40)
    np.testing.assert_array_equal(groups, 2 * core + attr)
    for t, src, a in zip(out, texts, attr, strict=True):
        assert t == f"{src} {S.TEXT_CUES[a]}"
    assert S.spurious_text(texts, core, agreement, random_state=1)[0] == out
