"""The local frame of the fast k-means++: its bounds are lower bounds, and not trivial ones."""

import numpy as np

from labelwise.strategies.kmeanspp_frame import build_frame


def test_local_frame_bound_is_a_lower_bound():
    """|z - w|^2 + (rho - rho_c)^2 <= d^2(x, c) for every row and centre (float64, any data), and
    each bin's bound from its ranges of |z| and rho is below the bound of every row in it."""
    rng = np.random.default_rng(2)
    X = np.vstack([rng.normal(size=(3000, 80)), rng.normal(size=(2000, 80)) * 0.2 + 3])
    F = build_frame(X, np.random.default_rng(0))
    assert sorted(F.order.tolist()) == list(range(len(X)))
    cluster = F.bins.cluster[F.bins.of]
    for c in (0, 4321):
        W, wn, rc, cm_sq = F.bases.query(X[c], near=0.1 * (X**2).sum(1).max())
        assert np.allclose(cm_sq, ((X[c] - F.bases.M) ** 2).sum(1))
        lb = ((F.z - W[cluster]) ** 2).sum(1) + (F.rho - rc[cluster]) ** 2
        true = ((X[F.order] - X[c]) ** 2).sum(1)
        assert (lb <= true + 1e-9).all()
        assert (lb[true > 1] > 0).mean() > 0.5  # and not a trivial one
        bin_lb = F.bins.lower_bound(wn, rc)
        assert (bin_lb <= np.minimum.reduceat(lb, F.bins.start) + 1e-9).all()
        assert (bin_lb > 0).mean() > 0.5
