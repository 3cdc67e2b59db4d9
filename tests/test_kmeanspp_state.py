"""The D^2 sampler that the plain and the fast k-means++ share."""

import numpy as np

from labelwise.strategies.kmeanspp_state import D2Sampler


def test_d2_sampler_block_sums_follow_updates():
    d2 = np.arange(200, dtype=np.float64)
    D = D2Sampler(d2.copy())
    D.d2[[3, 150]] = 0.0
    D.refresh(np.array([3, 150]))
    fresh = D2Sampler(D.d2.copy())
    assert D.sums.tolist() == fresh.sums.tolist()
    chosen = np.zeros(200, dtype=bool)
    for u in (0.0, 0.3, 0.999999):
        assert D.draw(u, d2, chosen) == fresh.draw(u, d2, chosen)
    # u = 0.5 of the total lands where the cumulative sum crosses it
    total = D.d2.sum()
    i = D.draw(0.5, d2, chosen)
    assert D.d2[:i].sum() <= 0.5 * total < D.d2[: i + 1].sum()
