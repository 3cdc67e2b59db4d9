"""Benchmark constructions: sizes, agreement rates, noise rates, determinism."""

import numpy as np
import pytest

from labelwise.data import constructions as C
from labelwise.metrics import imbalance_ratio
from labelwise.validation import LabelwiseError


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
