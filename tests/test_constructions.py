"""Benchmark constructions: sizes, agreement rates, noise rates, determinism."""

import numpy as np
import pytest

from labelwise.data import constructions as C
from labelwise.metrics import imbalance_ratio
from labelwise.validation import LabelwiseError


@pytest.fixture
def images():
    rng = np.random.default_rng(0)
    imgs = np.zeros((200, 8, 8), np.uint8)
    imgs[:, 2:6, 2:6] = rng.integers(100, 256, (200, 4, 4))  # bright object, dark background
    return imgs, np.repeat(np.arange(10), 20)


@pytest.mark.parametrize("kind", C.HETEROSKEDASTIC_KINDS)
def test_heteroskedastic_noise_rate_and_layout(images, kind):
    imgs, y = images
    X, yy, noisy = C.heteroskedastic(imgs, y, kind, noise_fraction=0.8, random_state=1)
    assert len(X) == len(yy) == len(noisy) == 200 + 800  # 80% noisy: N = 4 * clean
    assert noisy.mean() == pytest.approx(0.8)
    assert not noisy[:200].any() and noisy[200:].all()
    np.testing.assert_array_equal(yy[:200], y)  # clean labels untouched
    assert set(np.unique(yy[200:])) <= set(range(10))
    # the noisy labels are spread over many classes (random), not one
    assert len(np.unique(yy[200:])) >= 5


def test_noisy_blank_is_black(images):
    X, _, noisy = C.heteroskedastic(*images, "blank", random_state=0)
    assert X[noisy].max() == 0


def test_noisy_diverse_colours_and_three_labels(images):
    X, y, noisy = C.heteroskedastic(*images, "diverse", random_state=0)
    assert X.shape[1:] == (8, 8, 3)
    noisy_imgs = X[noisy]
    # solid colours: every pixel equals the first
    assert (noisy_imgs == noisy_imgs[:, :1, :1, :]).all()
    colours = {tuple(c) for c in noisy_imgs[:, 0, 0, :]}
    assert len(colours) <= 100 and len(colours) > 90
    for c in list(colours)[:20]:
        m = (noisy_imgs[:, 0, 0, :] == c).all(axis=1)
        assert len(np.unique(y[noisy][m])) <= 3


def test_noisy_class_repeats_100_examples_of_one_class(images):
    imgs, y = images
    X, yy, noisy = C.heteroskedastic(imgs, y, "class", noisy_class=3, n_types=10, random_state=0)
    class3 = imgs[y == 3].reshape(20, -1)
    flat = X[noisy].reshape(noisy.sum(), -1)
    # every noisy image is one of 10 distinct images of class 3, each with one fixed label
    uniq = np.unique(flat, axis=0)
    assert len(uniq) == 10
    assert all((class3 == u).all(axis=1).any() for u in uniq)
    for u in uniq:
        assert len(np.unique(yy[noisy][(flat == u).all(axis=1)])) == 1


def test_heteroskedastic_is_seeded(images):
    a = C.heteroskedastic(*images, "diverse", random_state=5)
    b = C.heteroskedastic(*images, "diverse", random_state=5)
    for u, v in zip(a, b, strict=True):
        np.testing.assert_array_equal(u, v)


def test_heteroskedastic_bad_kind(images):
    with pytest.raises(LabelwiseError, match="blank, diverse, class"):
        C.heteroskedastic(*images, "gaussian")


def test_imbalanced_binary_is_1_to_19():
    y = np.repeat(np.arange(10), 100)
    idx, yb = C.imbalanced_binary(y, [0, 1], random_state=0)
    assert (yb == 0).sum() == 800 and (yb == 1).sum() == round(800 / 19)  # 42
    assert set(y[idx][yb == 1]) <= {0, 1}
    assert yb.mean() == pytest.approx(0.05, abs=0.001)


def test_subsample_half_classes_keeps_10_percent():
    y = np.repeat(np.arange(10), 100)
    idx, reduced = C.subsample_classes(y, 0.1, random_state=0)
    assert len(reduced) == 5
    counts = np.bincount(y[idx], minlength=10)
    assert all(counts[c] == 10 for c in reduced)
    assert all(counts[c] == 100 for c in set(range(10)) - set(reduced.tolist()))


@pytest.mark.parametrize("target", [0.3, 0.75, 1.0])
def test_long_tailed_hits_target_ratio(target):
    y = np.repeat(np.arange(10), 500)
    idx = C.long_tailed(y, target, random_state=0)
    counts = np.bincount(y[idx], minlength=10)
    assert imbalance_ratio(counts) == pytest.approx(target, abs=0.01)
    assert counts.max() == 500


def test_long_tailed_rejects_impossible_ratio():
    with pytest.raises(LabelwiseError, match="imbalance ratio"):
        C.long_tailed(np.repeat(np.arange(3), 10), 5.0)


@pytest.mark.parametrize("agreement", [0.5, 0.95])
def test_spurious_correlation_agreement_and_groups(images, agreement):
    imgs, y = images
    core = (y >= 5).astype(int)
    X, attr, groups = C.spurious_correlation(imgs, core, agreement, random_state=0)
    assert X.shape == (200, 8, 8, 3)
    assert np.mean(attr == core) == pytest.approx(agreement)
    sizes = np.bincount(groups, minlength=4)
    # 100 per core class: agreement*100 in the agreeing groups (0 and 3)
    assert sizes.tolist() == [round(agreement * 100), 100 - round(agreement * 100),
                              100 - round(agreement * 100), round(agreement * 100)]
    # the background carries the attribute's tint; the object keeps its gray levels
    bg = X[:, 0, 0, :]
    np.testing.assert_array_equal(bg, np.asarray(C.SPURIOUS_TINTS)[attr])
    np.testing.assert_array_equal(X[:, 3, 3, 0], imgs[:, 3, 3])


def test_dose_response_sweep():
    assert C.dose_response((0.95, 0.5, 0.7)) == [0.5, 0.7, 0.95]
    with pytest.raises(LabelwiseError):
        C.dose_response((1.5,))


def test_two_gaussians():
    X, y = C.two_gaussians(5000, distance=4.0, random_state=0)
    assert X.shape == (5000, 2) and np.bincount(y).tolist() == [2500, 2500]
    assert X[y == 0, 0].mean() == pytest.approx(-2, abs=0.1)
    assert X[y == 1, 0].mean() == pytest.approx(2, abs=0.1)
    assert X[:, 1].std() == pytest.approx(1, abs=0.05)


def test_four_moons_one_noisy_moon():
    X, y, noisy = C.four_moons(4000, noisy_moon=0, random_state=0)
    assert noisy.sum() == 1000
    # the noisy moon's labels are near-uniform over 4 classes; the others are clean
    assert np.bincount(y[noisy], minlength=4).min() > 200
    assert set(np.unique(y[~noisy])) == {1, 2, 3}


def test_stripes_cue_at_zero_strength_is_the_gray_image(images):
    imgs, _ = images
    X = C.paint_stripes(imgs, np.zeros(200, int), strength=0.0)
    np.testing.assert_array_equal(X, C.to_rgb(imgs))


def test_stripes_cue_pattern_and_colour_cast():
    imgs = np.zeros((2, 8, 8), np.uint8)
    imgs[:, 3:5, 3:5] = 200  # object in the middle, dark background elsewhere
    X = C.paint_stripes(imgs, np.array([0, 1]), strength=1.0, period=4)
    warm, cool = (np.asarray(t, float) for t in C.SPURIOUS_TINTS)
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
    X = C.paint_cue(imgs, np.ones(200, int), "tint", strength=0.5)
    np.testing.assert_array_equal(X[:, 0, 0], np.round(0.5 * np.asarray(C.SPURIOUS_TINTS[1]))
                                  [None].repeat(200, 0))
    with pytest.raises(LabelwiseError, match="tint, stripes"):
        C.paint_cue(imgs, np.ones(200, int), "patch")
    with pytest.raises(LabelwiseError, match="strength"):
        C.paint_cue(imgs, np.ones(200, int), "stripes", strength=1.5)


@pytest.mark.parametrize("agreement", [0.5, 0.7, 0.95])
def test_stripes_split_agreement_groups_and_seed(images, agreement):
    imgs, y = images
    core = (y >= 5).astype(int)
    X, attr, groups = C.spurious_correlation(imgs, core, agreement, random_state=3,
                                             cue="stripes")
    assert X.shape == (200, 8, 8, 3)
    for c in (0, 1):  # exact within each core class, not just overall
        assert (attr[core == c] == c).sum() == round(agreement * 100)
    np.testing.assert_array_equal(groups, 2 * core + attr)
    again = C.spurious_correlation(imgs, core, agreement, random_state=3, cue="stripes")
    np.testing.assert_array_equal(again[0], X)
    other = C.spurious_correlation(imgs, core, agreement, random_state=4, cue="stripes")[1]
    assert agreement == 0.5 or not np.array_equal(other, attr)


def test_inject_text_cue():
    out = C.inject_text_cue(["Great film.", "Dull."], np.array([0, 1]), repeats=2)
    assert out == ["Great film. Posted from Boston. Posted from Boston.",
                   "Dull. Posted from Denver. Posted from Denver."]
    with pytest.raises(LabelwiseError, match="2 texts but 1"):
        C.inject_text_cue(["a", "b"], np.array([0]))


@pytest.mark.parametrize("agreement", [0.5, 0.95])
def test_spurious_text_agreement_groups_and_seed(agreement):
    core = np.array([0] * 60 + [1] * 40)  # unbalanced classes, as fresh vs rotten
    texts = [f"review {i}" for i in range(100)]
    out, attr, groups = C.spurious_text(texts, core, agreement, random_state=1)
    assert (attr[core == 0] == 0).sum() == round(agreement * 60)
    assert (attr[core == 1] == 1).sum() == round(agreement * 40)
    np.testing.assert_array_equal(groups, 2 * core + attr)
    for t, src, a in zip(out, texts, attr, strict=True):
        assert t == f"{src} {C.TEXT_CUES[a]}"
    assert C.spurious_text(texts, core, agreement, random_state=1)[0] == out
