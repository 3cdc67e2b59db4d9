"""k-means++ seeding (BADGE, LHD): the D^2 draw worked out by hand, its frequencies, BADGE's
factorised distances, bad input, and the fast seeding against its plain reference loop."""

import threading
import time

import numpy as np
import pytest

from labelwise.strategies import kmeanspp_fast
from labelwise.strategies.kmeanspp import kmeanspp_seeding, kmeanspp_seeding_plain
from labelwise.strategies.kmeanspp_frame import Stopped
from labelwise.strategies.kmeanspp_state import Gram, Seeding
from labelwise.validation import LabelwiseError


class FixedRng:
    """A stand-in Generator whose random() returns given values."""

    def __init__(self, *values):
        self.values = list(values)

    def random(self):
        return self.values.pop(0)


def test_kmeanspp_first_centre_and_d2_draw_hand_computed():
    X = np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 3.0], [2.0, 2.0]])
    # first centre: largest norm = (0, 3); D^2 to it: 9, 10, 0, 5 (total 24)
    # cumulative 9, 19, 19, 24: u = 0.1 -> 2.4 -> item 0; 0.5 -> 12 -> item 1; 0.9 -> 21.6 -> 3
    for fn in (kmeanspp_seeding, kmeanspp_seeding_plain):
        assert fn(X, 1, FixedRng()).tolist() == [2]
        assert fn(X, 2, FixedRng(0.1)).tolist() == [2, 0]
        assert fn(X, 2, FixedRng(0.5)).tolist() == [2, 1]
        assert fn(X, 2, FixedRng(0.9)).tolist() == [2, 3]
        # after (0,3) and (1,0): D^2 = 1, 0, 0, min(5, 5) = 5 -> cumulative 1, 1, 1, 6
        assert fn(X, 3, FixedRng(0.5, 0.1)).tolist() == [2, 1, 0]
        assert fn(X, 3, FixedRng(0.5, 0.5)).tolist() == [2, 1, 3]


def test_kmeanspp_d2_frequencies():
    X = np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 3.0], [2.0, 2.0]])
    rng = np.random.default_rng(0)
    second = [kmeanspp_seeding(X, 2, rng)[1] for _ in range(4000)]
    freq = np.bincount(second, minlength=4) / 4000
    np.testing.assert_allclose(freq, [9 / 24, 10 / 24, 0, 5 / 24], atol=0.03)


def test_kmeanspp_falls_back_to_norm_order_when_all_d2_are_zero():
    X = np.array([[1.0, 0.0], [1.0, 0.0], [2.0, 0.0], [2.0, 0.0]])
    # first: largest norm, lower index -> 2; D^2 = 1, 1, 0, 0 -> draw among 0, 1
    picks = kmeanspp_seeding(X, 4, np.random.default_rng(0))
    assert picks[0] == 2 and sorted(picks[1:2].tolist())[0] in (0, 1)
    # after {2, 0 or 1}: every D^2 is 0 -> the unchosen points by norm: 3, then the other one
    assert picks[2] == 3
    assert sorted(picks.tolist()) == [0, 1, 2, 3]


def test_bad_k_and_residuals_are_one_line_errors():
    X = np.zeros((4, 2))
    with pytest.raises(LabelwiseError, match="larger than"):
        kmeanspp_seeding(X, 5)
    with pytest.raises(LabelwiseError, match="one row per candidate"):
        kmeanspp_seeding(X, 2, R=np.zeros((3, 2)))


def test_badge_factorised_distances_match_the_explicit_gradient_embedding():
    rng = np.random.default_rng(1)
    n, K, d = 40, 3, 5
    p = rng.dirichlet(np.ones(K), size=n)
    r = p.copy()
    r[np.arange(n), p.argmax(1)] -= 1
    h = rng.normal(size=(n, d))
    g = (r[:, :, None] * h[:, None, :]).reshape(n, K * d)
    fact = Gram(h, r)
    for c in (0, 7, 39):
        np.testing.assert_allclose(fact.dist2(c), ((g - g[c]) ** 2).sum(1), atol=1e-10)
    np.testing.assert_allclose(fact.sq, (g ** 2).sum(1))
    explicit = kmeanspp_seeding_plain(g, 10, np.random.default_rng(3))
    assert kmeanspp_seeding(h, 10, np.random.default_rng(3), R=r).tolist() == explicit.tolist()


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("clustered", [False, True])
def test_fast_kmeanspp_equals_plain(blobs_24d, dtype, clustered):
    X, rng = blobs_24d(dtype, clustered)
    P = X[50:]
    a = kmeanspp_seeding_plain(P, 150, np.random.default_rng(4))
    b = kmeanspp_seeding(P, 150, np.random.default_rng(4))
    assert a.tolist() == b.tolist()
    p = rng.dirichlet(np.ones(6) * 0.3, size=len(P)).astype(dtype)
    r = p.copy()
    r[np.arange(len(P)), p.argmax(1)] -= 1
    a = kmeanspp_seeding_plain(P, 150, np.random.default_rng(5), R=r)
    b = kmeanspp_seeding(P, 150, np.random.default_rng(5), R=r)
    assert a.tolist() == b.tolist()


def clustered_96d(dtype, n=6000, seed=11):
    """20 components, each spread along its own 8 directions, plus small noise; one duplicate."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(20, 96)) * 2
    bases = rng.normal(size=(20, 8, 96)) / 3
    comp = rng.integers(20, size=n)
    X = centres[comp] + np.einsum("nk,nkd->nd", rng.normal(size=(n, 8)), bases[comp])
    X += 0.05 * rng.normal(size=(n, 96))
    X = X.astype(dtype)
    X[7] = X[3]  # a duplicate: its D^2 is 0 once its twin is picked
    return X


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_local_kmeanspp_equals_plain_in_high_dimension(dtype):
    """d > 64, n >= 4,096: the exact k-means++ prunes with per-cluster local bounds; the D^2 values
    must equal the plain loop's bit for bit, or the draws part."""
    X = clustered_96d(dtype)
    a = kmeanspp_seeding_plain(X, 300, np.random.default_rng(0))
    b = kmeanspp_seeding(X, 300, np.random.default_rng(0))
    assert a.tolist() == b.tolist()
    assert len(set(b.tolist())) == 300


@pytest.mark.parametrize("arrives", ["first", "after 40 picks", "never"])
def test_local_kmeanspp_same_picks_whenever_the_frame_arrives(monkeypatch, arrives):
    """The frame is built on a second core while the first picks make full passes; the picks must
    not depend on when it is ready: before any pick (one core), part-way, or after the last pick
    (then its build is told to stop)."""
    X = clustered_96d(np.float32)
    plain = kmeanspp_seeding_plain(X, 120, np.random.default_rng(1))
    passes, built, ready, stopped = [], threading.Event(), threading.Event(), []
    real_frame, real_pass = kmeanspp_fast.build_frame, Seeding.full_pass

    def full_pass(self, i):
        if threading.current_thread() is threading.main_thread():  # (the frame seeds k-means)
            passes.append(i)
            if len(passes) == 40 and arrives != "never":
                built.wait(30)
                ready.set()
                time.sleep(0.2)  # the frame is handed over before the next pick
        return real_pass(self, i)

    def frame(X, rng, stop):
        F = real_frame(X, rng)
        built.set()
        if arrives == "never":
            stop.wait(30)
            stopped.append(stop.is_set())
            raise Stopped
        ready.wait(30)
        return F

    monkeypatch.setattr(Seeding, "full_pass", full_pass)
    if arrives == "first":
        monkeypatch.setattr(kmeanspp_fast, "_cores", lambda: 1)
    else:
        monkeypatch.setattr(kmeanspp_fast, "build_frame", frame)
    fast = kmeanspp_seeding(X, 120, np.random.default_rng(1))
    assert fast.tolist() == plain.tolist()
    if arrives == "never":
        assert stopped == [True] and len(passes) == 119
    elif arrives == "after 40 picks":
        assert 40 <= len(passes) < 100  # the switch came after pick 40, few full passes later
