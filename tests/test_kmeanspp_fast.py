"""The pruned k-means++ state driven by centres from elsewhere (a shard worker's use)."""

import numpy as np
import pytest

from labelwise.strategies.kmeanspp_fast import PrunedD2, kmeanspp_pruned
from labelwise.strategies.kmeanspp_state import D2Sampler, Gram, Seeding


@pytest.mark.parametrize("badge", [False, True])
def test_parts_fed_every_centre_hold_the_in_memory_d2(badge):
    """One PrunedD2 per part of the rows, each given every centre of the in-memory seeding (its
    own rows by position, the others' as rows held elsewhere): after every centre the parts'
    D^2 values, concatenated, are the in-memory D^2 values (to rounding: the BLAS sums the last
    rows of a product in another order depending on the row count, a few ulps in float64), and
    the parts' masses sum to the in-memory mass (the two-level draw sees the same
    distribution)."""
    rng = np.random.default_rng(5)
    X = np.vstack([rng.normal(size=(400, 8)) * 4, rng.normal(size=(400, 8)) + 9])
    R = rng.normal(size=(800, 3)) if badge else None
    k = 60
    mem = Seeding.start(Gram(X, R), np.random.default_rng(1))
    pm = PrunedD2(mem, k)
    pm.first(*mem.gram.centre(mem.picks[0]))
    cuts = [0, 300, 301, 800]
    parts = []
    for a, b in zip(cuts[:-1], cuts[1:], strict=True):
        g = Gram(X[a:b], None if R is None else R[a:b])
        x, r, sq = mem.gram.centre(mem.picks[0])
        d2 = g.dist2_to(x, r, sq)
        at = mem.picks[0] - a if a <= mem.picks[0] < b else None
        if at is not None:
            d2[at] = 0.0
        s = Seeding(g, D2Sampler(d2), np.zeros(b - a, dtype=bool), [], None)
        p = PrunedD2(s, k)
        p.first(x, r, sq)
        parts.append((a, b, s, p))
    while len(mem.picks) < k:
        i = mem.draw()
        centre = mem.gram.centre(i)
        pm.add(i, *centre)
        for a, b, _, p in parts:
            p.add(i - a if a <= i < b else None, *(c.copy() if c is not None else None
                                                   for c in centre[:2]), centre[2])
        np.testing.assert_allclose(
            np.concatenate([s.sampler.d2 for _, _, s, _ in parts]), mem.sampler.d2, rtol=1e-12)
    masses = sum(s.sampler.sums.sum() for _, _, s, _ in parts)
    assert masses == pytest.approx(mem.sampler.sums.sum(), rel=1e-12)
    # the loop above is kmeanspp_pruned's, step by step
    assert np.asarray(kmeanspp_pruned(X, k, np.random.default_rng(1), R)).tolist() == mem.picks
