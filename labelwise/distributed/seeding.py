"""k-means++ seeding (Arthur & Vassilvitskii 2007; BADGE, Ash et al. 2020) over shard workers.

Exact D^2 sampling in two levels: a worker is drawn in proportion to its D^2 mass with one
``rng.random()`` per pick (as the in-memory loop draws a row), that worker finds the row whose
D^2 interval holds the rest of the target with the in-memory sampler, and every worker lowers its
D^2 to the new centre with the in-memory pruned seeding's bounds and has its new mass.

A pick is two dependent steps (a draw on one worker, an update on all), so on a small pool its
cost is their latency, not their work. Two ways to run them, with the same picks:

- **mesh** (the default): the driver draws the k - 1 numbers ``rng.random()`` up front (the
  same numbers, in the same order, as one per pick) and starts one task per worker that runs the
  whole seeding; per pick the workers send each other their masses and the drawing worker sends
  the others the centre, over direct TCP connections (:mod:`labelwise.distributed.mesh`): two
  messages of tens of microseconds, no driver in the loop. Every worker computes the same
  choice from the same float64 masses (:func:`choose`).
- **tasks**, where the workers cannot connect to one another (ports closed between nodes): per
  pick one Ray task on the drawing worker and one on every worker with the draw's object ref,
  the driver choosing in between: two task round trips (milliseconds each) per pick.

Why not a Ray compiled graph (``ray.dag``: message -> every worker's draw -> every worker's
update -> the masses, over shared-memory channels): measured on the project's busy 2-core
machine on a pool small enough that a pick's work is nothing, it cost 3.4-4.2 ms a pick (tasks:
4.8-9 ms; the mesh: under 0.7 ms, the round's fixed costs included) plus 1.4-2.5 s to compile
per query, and each pick still passes through the driver.
"""

from __future__ import annotations

import secrets
import warnings

import numpy as np

#: whether to try the mesh (the tests turn it off to check the task path)
MESH = True


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
    if MESH and mesh_up(workers):
        parts = get([w.kmeanspp_mesh_run.remote(first, us, k) for w in workers])
        return np.asarray(parts[0], dtype=np.int64)
    return _as_tasks(workers, first, us, k)


def mesh_up(workers: list) -> bool:
    """Connect the workers to one another; False (and a warning) where they cannot."""
    from labelwise.distributed.remote import get

    if len(workers) == 1:
        return bool(get(workers[0].kmeanspp_mesh_connect.remote([None], 0, b"")) is None)
    addresses = get([w.kmeanspp_mesh_listen.remote() for w in workers])
    key = secrets.token_bytes(32)
    errors = [e for e in get([w.kmeanspp_mesh_connect.remote(addresses, i, key)
                              for i, w in enumerate(workers)]) if e]
    if errors:
        get([w.kmeanspp_mesh_close.remote() for w in workers])
        warnings.warn(f"k-means++ on the shards runs as Ray tasks, a round trip per pick: the "
                      f"workers could not connect to one another ({errors[0]}); open TCP ports "
                      "between the nodes for the faster path", stacklevel=3)
        return False
    return True


def _as_tasks(workers: list, first, us: np.ndarray, k: int) -> np.ndarray:
    """The seeding with the driver choosing each pick's worker (two task round trips a pick)."""
    from labelwise.distributed.remote import get

    centre = first
    centres = [first]  # each a (sq, gid, x, r) or the ref of one drawn on a worker
    while True:
        mass = np.asarray(get([w.kmeanspp_update.remote(centre) for w in workers]))
        if len(centres) == k:
            break
        pick = choose(mass, us[len(centres) - 1])
        if pick is None:  # every D^2 is 0: the unchosen row of largest norm
            cands = [c for c in get([w.largest_free.remote() for w in workers]) if c is not None]
            centre = max(cands, key=lambda f: (f[0], -f[1]))
        else:  # the draw's ref goes to every worker's update without a wait of the driver
            centre = workers[pick[0]].kmeanspp_draw.remote(pick[1])
        centres.append(centre)
    refs = [i for i, c in enumerate(centres) if not isinstance(c, tuple)]
    for i, c in zip(refs, get([centres[i] for i in refs]), strict=True):
        centres[i] = c
    return np.asarray([c[1] for c in centres], dtype=np.int64)
