"""Hand-computed values for the uncertainty, diversity and bias-aware scores (An Empirical
Study of Deep Active Learning, 2021; Khosla et al. 2022; Aggarwal et al. 2022; Krishnan et al.
2021)."""

import math

import numpy as np
import pytest

from labelwise.strategies import scores
from labelwise.validation import LabelwiseError


def H(*p):
    return -sum(x * math.log(x) for x in p if x > 0)


def test_bald_two_samples_hand_computed():
    samples = np.array([
        [[1.0, 0.0], [0.5, 0.5], [0.8, 0.2]],
        [[0.0, 1.0], [0.5, 0.5], [0.4, 0.6]],
    ])
    got = scores.bald(samples)
    # total disagreement: H[0.5, 0.5] - 0 = log 2; full agreement: 0
    # third: H[0.6, 0.4] - (H[0.8, 0.2] + H[0.4, 0.6]) / 2 = 0.673012 - 0.586707 = 0.086305
    assert got[0] == pytest.approx(math.log(2), abs=1e-9)
    assert got[1] == pytest.approx(0.0, abs=1e-12)
    assert got[2] == pytest.approx(0.086304621, abs=1e-8)
    assert got[2] == pytest.approx(H(0.6, 0.4) - (H(0.8, 0.2) + H(0.4, 0.6)) / 2, abs=1e-12)


def test_bald_float32_blocks_match_float64():
    rng = np.random.default_rng(0)
    s = rng.dirichlet(np.ones(5), size=(7, 1000))
    ref = scores.bald(s)
    got = scores.bald(s.astype(np.float32), block_rows=97)
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, ref, atol=2e-6)
    assert (ref > -1e-12).all()


def test_bald_rejects_bad_shapes():
    with pytest.raises(LabelwiseError, match="T, n, K"):
        scores.bald(np.ones((3, 2)))
    with pytest.raises(LabelwiseError, match="T >= 2"):
        scores.bald(np.ones((1, 3, 2)) / 2)


def test_variation_ratio_with_a_tie():
    # 4 members, 3 points, 3 classes; votes per point: A = 0,0,1,1; B = 0,1,2,2; C = 0,0,0,1
    def onehotish(c, strength):
        p = np.full(3, (1 - strength) / 2)
        p[c] = strength
        return p
    votes = {0: [(0, 0.9), (0, 0.9), (1, 0.9), (1, 0.9)],
             1: [(0, 0.4), (1, 0.4), (2, 0.4), (2, 0.4)],
             2: [(0, 0.9), (0, 0.9), (0, 0.9), (1, 0.9)]}
    samples = np.array([[onehotish(*votes[i][t]) for i in range(3)] for t in range(4)])
    vr = scores.variation_ratio(samples)
    np.testing.assert_allclose(vr, [0.5, 0.5, 0.25])
    # A and B tie at 0.5; mean of A (0.475, 0.475, 0.05), of B (0.325, 0.325, 0.35):
    # B is more uncertain
    mean = scores.mean_proba(samples)
    ent = scores.entropy(mean)
    assert ent[1] > ent[0]
    from labelwise.strategies.selectors import top_k_lex
    assert top_k_lex(vr, ent, 1).tolist() == [1]
    assert top_k_lex(vr, ent, 3).tolist() == [1, 0, 2]


def test_alamp_first_round_is_margin_order():
    p = np.array([[0.6, 0.4], [0.5, 0.5], [0.9, 0.1], [0.7, 0.3]])
    s = scores.alamp(None, p)
    np.testing.assert_allclose(s, [-0.2, 0.0, -0.8, -0.4])
    assert np.argsort(-s, kind="stable").tolist() == [1, 0, 3, 2]


def test_alamp_worked_four_point_example():
    prev = np.array([[0.9, 0.1], [0.52, 0.48], [0.7, 0.3], [0.95, 0.05]])
    cur = np.array([[0.525, 0.475], [0.51, 0.49], [0.9, 0.1], [0.55, 0.45]])
    # margins prev: 0.8, 0.04, 0.4, 0.9; cur: 0.05, 0.02, 0.8, 0.1
    # alamp: 0.75/0.85, 0.02/0.06, -0.4/1.2, 0.8/1.0
    s = scores.alamp(prev, cur)
    np.testing.assert_allclose(s, [0.882352941, 0.333333333, -0.333333333, 0.8], atol=1e-8)
    from labelwise.strategies.selectors import top_k
    assert top_k(s, 2).tolist() == [0, 3]  # margin alone would pick [1, 0]
    assert top_k(-scores.margin(cur), 2).tolist() == [1, 0]


def test_dfm_two_dimensional_class_subspace():
    # class 0: labeled points spanning the plane z = 0 (x variance 2, y variance 0.5: 2 components)
    hl = np.array([[2, 0, 0], [-2, 0, 0], [0, 1, 0], [0, -1, 0],
                   [5, 5, 5], [7, 5, 5]], dtype=float)
    yl = np.array([0, 0, 0, 0, 1, 1])
    h = np.array([[1, 2, 3], [5, -1, 0], [6, 9, 9], [0, 0, 0]], dtype=float)
    pred = np.array([0, 0, 1, 2])
    s = scores.dfm(h, pred, hl, yl)
    # off the plane by 3 -> 9; in the plane -> 0
    assert s[0] == pytest.approx(9.0)
    assert s[1] == pytest.approx(0.0, abs=1e-12)
    # class 1 has 2 points: mean (6, 5, 5), one component along x: residual of (0, 4, 4) = 32
    assert s[2] == pytest.approx(32.0)
    # class 2 has no labeled item
    assert s[3] == np.inf


def test_dfm_keeps_fewest_components_for_97_percent():
    # a line along x with a little y spread: x variance carries > 97%, so 1 component
    hl = np.array([[-10, 0.1], [-5, -0.1], [5, 0.1], [10, -0.1]])
    s = scores.dfm(np.array([[0.0, 1.0]]), np.array([0]), hl, np.zeros(4, dtype=int))
    assert s[0] == pytest.approx(1.0, abs=1e-3)
    # a single labeled example: distance to it
    s1 = scores.dfm(np.array([[3.0, 4.0]]), np.array([0]), np.zeros((1, 2)), np.array([0]))
    assert s1[0] == pytest.approx(25.0)


def test_dfm_equals_scikit_learn_pca_reconstruction_error():
    # scikit-learn's PCA(n_components=0.97) per class gives the same axes and so the same scores
    from sklearn.decomposition import PCA

    rng = np.random.default_rng(0)
    hl = rng.normal(size=(60, 8)) * np.linspace(3, 0.1, 8)  # a few strong directions
    yl = np.repeat([0, 1, 2], 20)
    h = rng.normal(size=(30, 8))
    pred = rng.integers(0, 3, 30)
    expected = np.empty(30)
    for c in range(3):
        pca = PCA(n_components=0.97, svd_solver="full").fit(hl[yl == c])
        rows = pred == c
        recon = pca.inverse_transform(pca.transform(h[rows]))
        expected[rows] = ((h[rows] - recon) ** 2).sum(axis=1)
    np.testing.assert_allclose(scores.dfm(h, pred, hl, yl), expected, rtol=1e-9)


def test_feature_similarity_hand_computed():
    zl = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    yl = np.array([0, 1, 1])
    z = np.array([[2.0, 0.0], [1.0, 1.0], [3.0, 0.0], [1.0, 0.0]])
    pred = np.array([0, 0, 1, 2])
    s = scores.feature_similarity(z, pred, zl, yl)
    # [cos 0] = 1; cos 45deg; class 1: max(cos 90, cos 45); class 2: no labeled item
    np.testing.assert_allclose(s[:3], [1.0, math.sqrt(0.5), math.sqrt(0.5)], atol=1e-6)
    assert s[3] == -np.inf


def test_badge_residual():
    p = np.array([[0.7, 0.2, 0.1], [0.1, 0.3, 0.6]])
    np.testing.assert_allclose(scores.badge_residual(p),
                               [[-0.3, 0.2, 0.1], [0.1, 0.3, -0.4]], atol=1e-7)


def test_lhd_embedding_hand_computed_and_rejects_identical_models():
    out = dict(proba_main=np.array([[0.5, 0.5], [0.9, 0.1]]),
               proba_ema=np.array([[0.8, 0.2], [0.9, 0.1]]),
               embed_main=np.array([[1.0, 1.0], [0.0, 0.0]]),
               embed_ema=np.array([[2.0, 0.0], [1.0, 1.0]]))
    lh = scores.lhd_embedding(out)
    # point 0: y_hat = 0, |log 0.8 - log 0.5| = log 1.6; dh = (1, -1)
    np.testing.assert_allclose(lh[0], [math.log(1.6), -math.log(1.6)], rtol=1e-6)
    np.testing.assert_allclose(lh[1], [0.0, 0.0])
    same = dict(proba_main=out["proba_main"], proba_ema=out["proba_main"],
                embed_main=out["embed_main"], embed_ema=out["embed_main"])
    with pytest.raises(LabelwiseError, match="EMA"):
        scores.lhd_embedding(same)
