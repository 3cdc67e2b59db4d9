"""The active set of the fast k-center greedy, driven hard: its picks equal the plain loop's."""

import numpy as np
import pytest

from labelwise.strategies.kcenter import kcenter_greedy_plain
from labelwise.strategies.kcenter_fast import KCenterState, kcenter_active
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


@pytest.mark.parametrize("chunk", [1, 5, None])
def test_states_over_parts_with_centres_from_elsewhere_pick_as_one_state(chunk):
    """A shard worker's use: one state per part of the rows, every centre added to every part
    (as a row held elsewhere outside its part), the global farthest taken over the parts (ties to
    the lower row): the picks of the plain loop over all rows (float64)."""
    rng = np.random.default_rng(4)
    X = np.vstack([rng.normal(size=(250, 5)) * 3, rng.normal(size=(250, 5)) + 6])
    X[300] = X[40]  # a duplicate across parts: the tie goes to the lower row
    cuts = [0, 170, 171, 500]  # a part of one row too
    for cen in (None, X[:10]):
        P = X[10:] if cen is not None else X
        plain = kcenter_greedy_plain(P, 90, cen, np.random.default_rng(2))
        parts = list(zip(cuts[:-1], cuts[1:], strict=True))
        if cen is None:
            first = int(plain[0])
            states = [KCenterState(P[a:b], 90, None, chunk=chunk,
                                   first_at=first - a if a <= first < b else None,
                                   first_row=P[first], first_sq=P[first] @ P[first])
                      for a, b in parts]
            picks = [first]
        else:
            states = [KCenterState(P[a:b], 90, min_sq_distances(P[a:b], cen), chunk=chunk)
                      for a, b in parts]
            picks = []
        while len(picks) < 90:
            best = [(s.farthest(), a) for s, (a, _) in zip(states, parts, strict=True)]
            m, gid = max((f[1], -(f[0] + a)) for f, a in best if f is not None)
            gid = -gid
            picks.append(gid)
            for s, (a, b) in zip(states, parts, strict=True):
                if a <= gid < b:
                    s.add(at=gid - a)
                else:
                    s.add(row=P[gid], sq=P[gid] @ P[gid])
        assert picks == plain.tolist()


def test_top_gives_the_farthest_rows_exactly_and_a_bound_on_the_rest():
    rng = np.random.default_rng(6)
    X = rng.normal(size=(400, 4))
    X[7] = X[3]  # a tie: the lower position first
    state = KCenterState(X, 10, min_sq_distances(X, X[:1] + 0.5), chunk=5)
    for c in (X[100], X[200]):  # centres held elsewhere
        state.add(row=c, sq=c @ c)
    exact = min_sq_distances(X, np.vstack([X[:1] + 0.5, X[100], X[200]]))
    pos, dist, bound = state.top(12)
    want = np.lexsort((np.arange(400), -exact))[:12]
    assert pos.tolist() == want.tolist()
    np.testing.assert_allclose(dist, exact[want], rtol=1e-12)
    rest = np.delete(exact, pos)
    assert rest.max() <= bound + 1e-9 and bound <= dist[-1]
    state.add(at=int(pos[0]))
    assert state.top(1)[0].tolist() == [int(pos[1])]
