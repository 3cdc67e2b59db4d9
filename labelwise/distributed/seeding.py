"""k-means++ seeding (Arthur & Vassilvitskii 2007; BADGE, Ash et al. 2020) over shard workers.

Exact D^2 sampling in two levels: a worker is drawn in proportion to its D^2 mass with one
``rng.random()`` per pick (as the in-memory loop draws a row), that worker finds the row whose
D^2 interval holds the rest of the target with the in-memory sampler, and every worker lowers its
D^2 to the new centre with the in-memory pruned seeding's bounds and has its new mass.

A pick is two dependent steps (a draw on one worker, an update on all), so on a small pool its
cost is their latency, not their work: per pick one Ray task on the drawing worker and one on
every worker with the draw's object reference, the driver choosing in between. The driver draws
the k - 1 numbers ``rng.random()`` up front (the same numbers, in the same order, as one per
pick) and waits once per pick, for the masses.

Two faster transports were measured and not adopted (the project's rule: distribution goes
through Ray, no messaging layer of its own). A Ray compiled graph (``ray.dag``: every worker's
draw, then every worker's update, over shared-memory channels) cost 3.4-4.2 ms a pick against
4.7-9.2 ms for tasks on the busy 2-core machine, plus 1.4-2.5 s to compile per query; direct
TCP messages between the workers cost 0.6-0.7 ms a pick, but are networking code of our own.
With tasks, k-means++ still runs at 0.79-1.19x the in-memory rate at 200,000 rows and above it
on larger pools (a pick's work grows with the pool, its latency does not).
"""

from __future__ import annotations

import numpy as np


def choose(mass: np.ndarray, u: float) -> tuple[int, float] | None:
    """The worker whose D^2 interval holds ``u`` times the total mass (n_workers,), and the
    target inside its interval; None when every D^2 is 0."""
    cums = np.cumsum(mass)
    if not cums[-1] > 0:
        return None
    target = u * cums[-1]
    w = min(int(np.searchsorted(cums, target, side="right")), len(cums) - 1)
    while mass[w] <= 0:  # rounding past the last worker with mass
        w -= 1
    return w, target - (cums[w - 1] if w else 0.0)


def kmeanspp(workers: list, k: int, rng: np.random.Generator, badge: bool) -> np.ndarray:
    """k picks (global ids, (k,)) of k-means++ seeding over the workers' candidates, with BADGE's
    gradient embedding for ``badge``: the in-memory picks for the same ``rng`` (the first
    centre is the largest norm, ties to the lower id; then one ``rng.random()`` per pick)."""
    from labelwise.distributed.remote import get

    firsts = get([w.kmeanspp_start.remote(badge, k) for w in workers])
    first = max((f for f in firsts if f is not None), key=lambda f: (f[0], -f[1]))
    us = rng.random(k - 1)  # the same numbers as k - 1 calls of rng.random()
    centres = [first]  # each a (sq, gid, x, r) or the ref of one drawn on a worker
    while len(centres) < k:  # the last centre needs no update: its masses would go unused
        mass = np.asarray(get([w.kmeanspp_update.remote(centres[-1]) for w in workers]))
        pick = choose(mass, us[len(centres) - 1])
        if pick is None:  # every D^2 is 0: the unchosen row of largest norm
            cands = [c for c in get([w.largest_free.remote() for w in workers]) if c is not None]
            centres.append(max(cands, key=lambda f: (f[0], -f[1])))
        else:  # the draw's ref goes to every worker's update without a wait of the driver
            centres.append(workers[pick[0]].kmeanspp_draw.remote(pick[1]))
    refs = [i for i, c in enumerate(centres) if not isinstance(c, tuple)]
    for i, c in zip(refs, get([centres[i] for i in refs]), strict=True):
        centres[i] = c
    return np.asarray([c[1] for c in centres], dtype=np.int64)
