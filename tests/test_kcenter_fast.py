"""The active set of the fast k-center greedy, driven hard: its picks equal the plain loop's."""

import numpy as np
import pytest

from labelwise.strategies.kcenter import kcenter_greedy_plain
from labelwise.strategies.kcenter_fast import kcenter_active
from labelwise.strategies.selectors import min_sq_distances


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
        a = kcenter_greedy_plain(P, 120, cen, np.random.default_rng(1))
        dist0 = None if cen is None else min_sq_distances(P, cen)
        b = kcenter_active(P, 120, dist0, np.random.default_rng(1), chunk=chunk, cstep=cstep)
        assert a.tolist() == b.tolist()
