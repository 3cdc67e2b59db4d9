"""Selectors of issue 3: diversify, per-class quota, k-means++ seeding, BADGE distances,
and the fast exact k-center / k-means++ against their plain reference loops."""

import numpy as np
import pytest

from labelwise.strategies import kmeanspp as KPP
from labelwise.strategies import selectors as S


def diversify_loop(order, groups, k):
    """Paper 003, Algorithm 1, literally."""
    taken = []
    while len(taken) < min(k, len(order)):
        seen = set()
        for i in order:
            if groups[i] not in seen and i not in taken:
                taken.append(int(i))
                seen.add(groups[i])
    return taken[:k]


def test_diversify_sweep_order_hand_computed():
    groups = np.array([0, 0, 1, 0, 2, 1])
    order = np.array([5, 3, 0, 1, 4, 2])
    # sweep 1: 5 (g1), 3 (g0), 4 (g2); sweep 2: 0 (g0), 2 (g1); sweep 3: 1 (g0)
    assert S.diversify(order, groups, 6).tolist() == [5, 3, 4, 0, 2, 1]
    assert S.diversify(order, groups, 4).tolist() == [5, 3, 4, 0]


def test_diversify_matches_algorithm_1_on_random_orders():
    rng = np.random.default_rng(0)
    for _ in range(20):
        n = int(rng.integers(1, 60))
        groups = rng.integers(0, 5, size=n)
        order = rng.permutation(n)
        k = int(rng.integers(1, n + 1))
        assert S.diversify(order, groups, k).tolist() == diversify_loop(order, groups, k)


def test_per_class_quota_when_a_class_runs_short():
    groups = np.array([0, 0, 0, 1, 1, 1, 1, 2])
    score = np.array([0.5, 0.1, 0.3, 0.9, 0.2, 0.05, 0.6, 0.7])
    # quota 6 / 3 = 2 lowest per class; class 2 has one item, its unused slot goes to the
    # lowest remaining score overall (item 0, 0.5)
    assert S.per_class_quota(score, groups, 3, 6).tolist() == [1, 2, 5, 4, 7, 0]
    # remainder: k = 7 -> quota 2 and one extra; plus class 2's unused slot
    assert S.per_class_quota(score, groups, 3, 7).tolist() == [1, 2, 5, 4, 7, 0, 6]
    # k < K: no quota, the k lowest overall
    assert S.per_class_quota(score, groups, 3, 2).tolist() == [5, 1]


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
    for fn in (KPP.kmeanspp_seeding, KPP.kmeanspp_seeding_plain):
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
    second = [KPP.kmeanspp_seeding(X, 2, rng)[1] for _ in range(4000)]
    freq = np.bincount(second, minlength=4) / 4000
    np.testing.assert_allclose(freq, [9 / 24, 10 / 24, 0, 5 / 24], atol=0.03)


def test_kmeanspp_falls_back_to_norm_order_when_all_d2_are_zero():
    X = np.array([[1.0, 0.0], [1.0, 0.0], [2.0, 0.0], [2.0, 0.0]])
    # first: largest norm, lower index -> 2; D^2 = 1, 1, 0, 0 -> draw among 0, 1
    picks = KPP.kmeanspp_seeding(X, 4, np.random.default_rng(0))
    assert picks[0] == 2 and sorted(picks[1:2].tolist())[0] in (0, 1)
    # after {2, 0 or 1}: every D^2 is 0 -> the unchosen points by norm: 3, then the other one
    assert picks[2] == 3
    assert sorted(picks.tolist()) == [0, 1, 2, 3]


def test_badge_factorised_distances_match_the_explicit_gradient_embedding():
    rng = np.random.default_rng(1)
    n, K, d = 40, 3, 5
    p = rng.dirichlet(np.ones(K), size=n)
    r = p.copy()
    r[np.arange(n), p.argmax(1)] -= 1
    h = rng.normal(size=(n, d))
    g = (r[:, :, None] * h[:, None, :]).reshape(n, K * d)
    fact = KPP._Gram(h, r)
    for c in (0, 7, 39):
        np.testing.assert_allclose(fact.dist2(c), ((g - g[c]) ** 2).sum(1), atol=1e-10)
    np.testing.assert_allclose(fact.sq, (g ** 2).sum(1))
    explicit = KPP.kmeanspp_seeding_plain(g, 10, np.random.default_rng(3))
    assert KPP.kmeanspp_seeding(h, 10, np.random.default_rng(3), R=r).tolist() == explicit.tolist()


def assert_same_or_rounding_tie(X, centers, a, b, exact):
    """Equal picks; in float32 they may part only at a tie within rounding (BLAS kernels may sum a
    dot product in a different order for different matrix shapes), never at a real difference."""
    if a.tolist() == b.tolist() or exact:
        assert a.tolist() == b.tolist()
        return
    j = int(np.argmax(a != b))
    assert a[:j].tolist() == b[:j].tolist()
    ref = X[a[:j]].astype(np.float64)
    if centers is not None:
        ref = np.vstack([centers.astype(np.float64), ref])
    da, db = (((ref - X[i].astype(np.float64)) ** 2).sum(1).min() for i in (a[j], b[j]))
    assert abs(da - db) <= 1e-5 * max(da, db), (j, da, db)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("clustered", [False, True])
def test_fast_kcenter_and_kmeanspp_equal_plain(dtype, clustered):
    rng = np.random.default_rng(7)
    n, d = 3000, 24
    if clustered:
        centres = rng.normal(size=(12, d)) * 4
        X = centres[rng.integers(12, size=n)] + rng.normal(size=(n, d))
    else:
        X = rng.normal(size=(n, d))
    X = X.astype(dtype)
    L = X[:50]
    P = X[50:]
    for cen in (None, L):
        a = S.kcenter_greedy_plain(P, 150, cen, np.random.default_rng(2))
        b = S.kcenter_greedy(P, 150, cen, np.random.default_rng(2))
        assert_same_or_rounding_tie(P, cen, a, b, exact=dtype == np.float64)
    a = KPP.kmeanspp_seeding_plain(P, 150, np.random.default_rng(4))
    b = KPP.kmeanspp_seeding(P, 150, np.random.default_rng(4))
    assert a.tolist() == b.tolist()
    p = rng.dirichlet(np.ones(6) * 0.3, size=len(P)).astype(dtype)
    r = p.copy()
    r[np.arange(len(P)), p.argmax(1)] -= 1
    a = KPP.kmeanspp_seeding_plain(P, 150, np.random.default_rng(5), R=r)
    b = KPP.kmeanspp_seeding(P, 150, np.random.default_rng(5), R=r)
    assert a.tolist() == b.tolist()


def test_kcenter_fast_on_duplicates_and_ties():
    X = np.array([[0.0], [0.0], [5.0], [5.0], [2.0], [10.0]])
    for cen in (None, np.array([[0.0]])):
        a = S.kcenter_greedy_plain(X, 5, cen, np.random.default_rng(0))
        b = S.kcenter_greedy(X, 5, cen, np.random.default_rng(0))
        assert a.tolist() == b.tolist()
    # with centre 0: farthest 10 (idx 5), then 5 (idx 2, lower of the tied pair), then 2.0 ...
    assert S.kcenter_greedy(X, 2, np.array([[0.0]])).tolist() == [5, 2]


def test_top_k_lex_ties():
    s = np.array([1.0, 2.0, 2.0, 2.0, 0.0])
    t = np.array([9.0, 0.1, 0.3, 0.3, 5.0])
    assert S.top_k_lex(s, t, 2).tolist() == [2, 3]
    assert S.top_k_lex(s, t, 4).tolist() == [2, 3, 1, 0]
    assert S.top_k_lex(s, t, 5).tolist() == [2, 3, 1, 0, 4]


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
    a = KPP.kmeanspp_seeding_plain(X, 300, np.random.default_rng(0))
    b = KPP.kmeanspp_seeding(X, 300, np.random.default_rng(0))
    assert a.tolist() == b.tolist()
    assert len(set(b.tolist())) == 300


@pytest.mark.parametrize("arrives", ["first", "after 40 picks", "never"])
def test_local_kmeanspp_same_picks_whenever_the_frame_arrives(monkeypatch, arrives):
    """The frame is built on a second core while the first picks make full passes; the picks must
    not depend on when it is ready: before any pick (one core), part-way, or after the last pick
    (then its build is told to stop)."""
    import threading
    import time

    X = clustered_96d(np.float32)
    plain = KPP.kmeanspp_seeding_plain(X, 120, np.random.default_rng(1))
    passes, built, ready, stopped = [], threading.Event(), threading.Event(), []
    real_frame, real_pass = KPP._LocalFrame, KPP._full_pass

    def full_pass(G, D, i):
        if threading.current_thread() is threading.main_thread():  # (the frame seeds k-means)
            passes.append(i)
            if len(passes) == 40 and arrives != "never":
                built.wait(30)
                ready.set()
                time.sleep(0.2)  # the frame is handed over before the next pick
        return real_pass(G, D, i)

    def frame(X, rng, stop):
        F = real_frame(X, rng)
        built.set()
        if arrives == "never":
            stop.wait(30)
            stopped.append(stop.is_set())
            raise KPP._Stopped
        ready.wait(30)
        return F

    monkeypatch.setattr(KPP, "_full_pass", full_pass)
    if arrives == "first":
        monkeypatch.setattr(KPP, "_cores", lambda: 1)
    else:
        monkeypatch.setattr(KPP, "_LocalFrame", frame)
    fast = KPP.kmeanspp_seeding(X, 120, np.random.default_rng(1))
    assert fast.tolist() == plain.tolist()
    if arrives == "never":
        assert stopped == [True] and len(passes) == 119
    elif arrives == "after 40 picks":
        assert 40 <= len(passes) < 100  # the switch came after pick 40, few full passes later


def test_local_frame_bound_is_a_lower_bound():
    """|z - w|^2 + (rho - rho_c)^2 <= d^2(x, c) for every row and centre (float64, any data), and
    each bin's bound from its ranges of |z| and rho is below the bound of every row in it."""
    rng = np.random.default_rng(2)
    X = np.vstack([rng.normal(size=(3000, 80)), rng.normal(size=(2000, 80)) * 0.2 + 3])
    F = KPP._LocalFrame(X, np.random.default_rng(0))
    assert sorted(F.order.tolist()) == list(range(len(X)))
    cluster = F.bin_cluster[F.bin_of]
    for c in (0, 4321):
        W, wn, rc, cm_sq = F.query(X[c], near=0.1 * (X**2).sum(1).max())
        assert np.allclose(cm_sq, ((X[c] - F.M) ** 2).sum(1))
        lb = ((F.z - W[cluster]) ** 2).sum(1) + (F.rho - rc[cluster]) ** 2
        true = ((X[F.order] - X[c]) ** 2).sum(1)
        assert (lb <= true + 1e-9).all()
        assert (lb[true > 1] > 0).mean() > 0.5  # and not a trivial one
        bin_lb = (KPP._gap_sq(wn[F.bin_cluster], F.zlo, F.zhi)
                  + KPP._gap_sq(rc[F.bin_cluster], F.rlo, F.rhi))
        assert (bin_lb <= np.minimum.reduceat(lb, F.bin_start) + 1e-9).all()
        assert (bin_lb > 0).mean() > 0.5


def test_d2_sampler_block_sums_follow_updates():
    d2 = np.arange(200, dtype=np.float64)
    D = KPP._D2Sampler(d2.copy())
    D.d2[[3, 150]] = 0.0
    D.refresh(np.array([3, 150]))
    fresh = KPP._D2Sampler(D.d2.copy())
    assert D.sums.tolist() == fresh.sums.tolist()
    chosen = np.zeros(200, dtype=bool)
    for u in (0.0, 0.3, 0.999999):
        assert D.draw(u, d2, chosen) == fresh.draw(u, d2, chosen)
    # u = 0.5 of the total lands where the cumulative sum crosses it
    total = D.d2.sum()
    i = D.draw(0.5, d2, chosen)
    assert D.d2[:i].sum() <= 0.5 * total < D.d2[: i + 1].sum()


@pytest.mark.parametrize("chunk, cstep", [(1, 1), (7, 3), (64, 64)])
def test_kcenter_active_set_equals_plain_for_any_chunk(chunk, cstep):
    """Small chunks force many threshold lowerings, points leaving part-way through their update
    and re-entering with old versions: the picks must not change (float64)."""
    rng = np.random.default_rng(3)
    X = np.vstack([rng.normal(size=(300, 6)) * 3, rng.normal(size=(300, 6)) + 8])
    X[5] = X[9]  # a duplicate: equal distances, tie to the lower index
    L = X[:20]
    P = X[20:]
    for cen in (None, L):
        a = S.kcenter_greedy_plain(P, 120, cen, np.random.default_rng(1))
        dist0 = None if cen is None else S.min_sq_distances(P, cen)
        b = S._kcenter_active(P, 120, dist0, np.random.default_rng(1), chunk=chunk, cstep=cstep)
        assert a.tolist() == b.tolist()
