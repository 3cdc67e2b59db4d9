"""Sharded selection on a local Ray cluster vs the in-memory pool.

1. ``--rows`` x ``--dim`` synthetic float32 embeddings (a 50-component mixture in a 16-dim
   subspace plus noise, 10 classes) are written as shards (kept in ``--shards`` for reruns).
2. A Ray cluster is started as separate processes on this machine: ``ray start --head`` (no CPUs)
   and ``--workers`` worker nodes of one CPU each; it is stopped at the end (only the processes
   it started).
3. In a fresh driver process, one round per strategy on the shards (``ActiveLearner(pool, ...,
   executor="ray")``); in another fresh process the same rounds on the pool in memory (BLAS on
   as many threads as there are worker CPUs). Printed per strategy: rows scored per second in
   both, their ratio (the target is >= 0.70), whether the picks agree, the driver's peak memory
   growth during the query as a share of the pool's bytes (target < 40%) and the workers' peak
   resident memory next to the shard bytes each holds (memory-mapped pages count as resident).
   Each side times a round after a warm-up query; Cluster-Margin's first round, which clusters
   the pool (once per pool, then cached on both sides), is timed and printed on its own.

Run: ``python benchmarks/bench_distributed.py [--rows 1000000] [--dim 384] [--workers 2]
[--k 1000] [--strategies margin,coreset,badge,cluster_margin]``.
Cluster-Margin's accuracy claim has its own benchmark, ``bench_cluster_margin.py``.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
N_LABELED = 1000
N_CLASSES = 10


# -- data ------------------------------------------------------------------------------------
def write_synthetic(folder: Path, rows: int, dim: int, rows_per_shard: int) -> None:
    """Shards of a 50-component mixture (labels in ``labels.npy``), written chunk by chunk."""
    from labelwise.sharded import ShardWriter

    marker = folder / "synthetic.json"
    want = {"rows": rows, "dim": dim, "rows_per_shard": rows_per_shard}
    if marker.is_file() and json.loads(marker.read_text()) == want:
        return
    rng = np.random.default_rng(0)
    basis = rng.normal(size=(16, dim)).astype(np.float32) / 4
    centres = rng.normal(size=(50, 16)).astype(np.float32) * 3
    writer = ShardWriter(folder)
    labels = []
    n_shards = -(-rows // rows_per_shard)
    for s in range(n_shards):
        n = min(rows_per_shard, rows - s * rows_per_shard)
        comp = rng.integers(0, 50, n)
        X = (centres[comp] + rng.normal(size=(n, 16)).astype(np.float32)) @ basis
        X += 0.1 * rng.normal(size=(n, dim)).astype(np.float32)
        writer.write(s, X)
        labels.append(comp % N_CLASSES)
    writer.write_manifest(n_shards)
    np.save(folder / "labels.npy", np.concatenate(labels))
    marker.write_text(json.dumps(want))


# -- the cluster -----------------------------------------------------------------------------
def _procs() -> dict[int, str]:
    """Every process's command line, from /proc (Linux)."""
    out = {}
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                out[int(d.name)] = (d / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            except OSError:
                continue
    return out


def _rss(pid: int) -> int:
    """Resident bytes of ``pid`` (0 once it is gone)."""
    try:
        return int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, IndexError):
        return 0


def _ray_pids() -> set[int]:
    return {pid for pid, cmd in _procs().items() if "ray" in cmd and pid != os.getpid()}


def _ppid(pid: int) -> int:
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    except (OSError, IndexError, ValueError):
        return -1


def start_cluster(workers: int, port: int, store_mb: int) -> set[int]:
    """``ray start --head`` and ``workers`` one-CPU worker nodes; returns their processes: the
    new ones that name this cluster's port, and their descendants (other Ray clusters on the
    machine are left alone)."""
    before = _ray_pids()
    env = {**os.environ, "RAY_AUTH_MODE": "disabled"}
    common = ["--disable-usage-stats", f"--object-store-memory={store_mb * 2**20}"]
    subprocess.run(["ray", "start", "--head", f"--port={port}", "--num-cpus=0",
                    "--include-dashboard=false", *common], env=env, check=True,
                   capture_output=True)
    for _ in range(workers):
        subprocess.run(["ray", "start", f"--address=127.0.0.1:{port}", "--num-cpus=1",
                        *common], env=env, check=True, capture_output=True)
    procs = _procs()
    ours = {p for p in _ray_pids() - before if re.search(rf"[=:]{port}\b", procs.get(p, ""))}
    grew = True
    while grew:  # add the descendants (agents, workers) of those processes
        kids = {p for p in procs if p not in ours and _ppid(p) in ours}
        grew = bool(kids)
        ours |= kids
    return ours


def stop_cluster(pids: set[int], port: int) -> None:
    """Stop exactly the processes :func:`start_cluster` started (SIGTERM, then SIGKILL)."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for pid in pids:
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass
        deadline = time.time() + 10
        while time.time() < deadline and any(Path(f"/proc/{p}").exists() for p in pids):
            time.sleep(0.2)
    # `ray start` left the head's address for `ray.init()` to find; the head is gone now
    marker = Path("/tmp/ray/ray_current_cluster")
    if marker.is_file() and marker.read_text().strip().endswith(f":{port}"):
        marker.unlink()


# -- measuring -------------------------------------------------------------------------------
class PeakRSS(threading.Thread):
    """Samples the resident memory of this process and of the ShardWorker actors every 20 ms."""

    def __init__(self):
        super().__init__(daemon=True)
        self.stop_flag = threading.Event()
        self.driver = _rss(os.getpid())
        self.workers: dict[int, int] = {}
        self.worker_pids = [p for p, cmd in _procs().items() if "ShardWorker" in cmd]

    def workers_now(self) -> dict[int, int]:
        return {pid: _rss(pid) for pid in self.worker_pids}

    def run(self):
        while not self.stop_flag.is_set():
            self.driver = max(self.driver, _rss(os.getpid()))
            for pid in self.worker_pids:
                self.workers[pid] = max(self.workers.get(pid, 0), _rss(pid))
            time.sleep(0.02)


def one_side(role: str, folder: Path, strategies: list[str], k: int, address: str | None,
             threads: int) -> dict:
    """One round per strategy (a warm-up query first) on the shards or in memory."""
    from threadpoolctl import threadpool_limits

    from labelwise import ActiveLearner
    from labelwise.sharded import ShardedPool

    pool = ShardedPool(folder)
    y = np.load(folder / "labels.npy")
    lab = np.random.default_rng(1).choice(len(pool), N_LABELED, replace=False)
    X = pool if role == "sharded" else pool.to_array()
    out = {}
    with threadpool_limits(threads if role == "memory" else None):
        for name in strategies:
            al = ActiveLearner(X, "logreg", name, classes=list(range(N_CLASSES)),
                               executor="ray" if role == "sharded" else None,
                               ray_address=address, labeled_idx=lab, labels=y[lab])
            idle = PeakRSS().workers_now()  # actors up, shards checked (their pages resident)
            al.fit()
            t0 = time.perf_counter()
            if name == "cluster_margin":  # the first round clusters the pool (once per pool)
                al.query(k, random_state=0)
                first = time.perf_counter() - t0
            else:  # warm-up: imports, the workers' first calls
                al.query(min(k, 10), random_state=0)
            base = _rss(os.getpid())
            meter = PeakRSS()
            meter.start()
            t0 = time.perf_counter()
            picks = al.query(k, random_state=0)
            seconds = time.perf_counter() - t0
            meter.stop_flag.set()
            meter.join()
            out[name] = {"seconds": seconds, "picks": picks.tolist(),
                         "driver_growth": meter.driver - base,
                         "worker_peak": sorted(meter.workers.values()),
                         "worker_idle": sorted(idle.values())}
            if name == "cluster_margin":
                out[name]["first_seconds"] = first
            if al._sharded is not None:
                out[name]["worker_rows"] = [int(pool.rows[g].sum()) for g in al._sharded.groups]
                al._sharded.close()
    return out


def _side(role, args, address) -> dict:
    cmd = [sys.executable, __file__, "--_role", role, "--shards", str(args.shards),
           "--strategies", args.strategies, "--k", str(args.k), "--threads", str(args.workers)]
    if address:
        cmd += ["--_address", address]
    env = {**os.environ, "RAY_AUTH_MODE": "disabled",
           "PYTHONPATH": f"{ROOT}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    res = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if res.returncode:
        sys.exit(f"{role} run failed:\n{res.stderr[-3000:]}")
    return json.loads(res.stdout.strip().splitlines()[-1])


def distributed(args) -> None:
    from labelwise.sharded import ShardedPool

    t0 = time.perf_counter()
    write_synthetic(args.shards, args.rows, args.dim, args.rows_per_shard)
    pool = ShardedPool(args.shards)
    gb = pool.nbytes / 2**30
    print(f"pool: {len(pool):,} x {pool.dim} float32 = {gb:.2f} GiB in {pool.n_shards} shards "
          f"({time.perf_counter() - t0:.0f} s to write or find); {N_LABELED} labeled, k = "
          f"{args.k}; cluster: head + {args.workers} worker nodes x 1 CPU")
    pids = start_cluster(args.workers, args.port, args.store_mb)
    try:
        sharded = _side("sharded", args, f"127.0.0.1:{args.port}")
    finally:
        stop_cluster(pids, args.port)
    memory = _side("memory", args, None)
    n = len(pool) - N_LABELED
    print(f"\n{'strategy':<15}{'in-memory rows/s':>18}{'sharded rows/s':>16}{'ratio':>7}"
          f"{'same picks':>12}{'driver growth':>15}{'worker RSS peak/idle/shards':>32}")
    for name in sharded:
        s, m = sharded[name], memory[name]
        same = np.mean(np.asarray(s["picks"]) == np.asarray(m["picks"]))
        shard_bytes = [r * pool.dim * 4 for r in s["worker_rows"]]
        peaks = ", ".join(f"{p / 2**20:.0f}/{i / 2**20:.0f}/{b / 2**20:.0f}" for p, i, b in
                          zip(s["worker_peak"], s["worker_idle"], sorted(shard_bytes),
                              strict=False))
        print(f"{name:<15}{n / m['seconds']:>18,.0f}{n / s['seconds']:>16,.0f}"
              f"{m['seconds'] / s['seconds']:>7.2f}{same:>12.0%}"
              f"{s['driver_growth'] / pool.nbytes:>14.1%} {peaks + ' MiB':>31}")
    for name in sharded:
        if "first_seconds" in sharded[name]:
            s, m = sharded[name]["first_seconds"], memory[name]["first_seconds"]
            print(f"{name}, first round (with its one-time clustering: HAC on a sample, every row "
                  f"assigned): in-memory {n / m:,.0f} rows/s, sharded {n / s:,.0f} rows/s, "
                  f"ratio {m / s:.2f}; the table's row is a later round (the clusters cached: "
                  "pool_cache in memory, on the workers sharded)")
    print("\nratio = sharded rows/s over in-memory rows/s on the same number of cores "
          "(target >= 0.70); driver growth = peak RSS during the query minus before, over the "
          "pool's bytes (target < 40%); worker RSS: peak during the query / after start-up "
          "(imports, the shards read once for NaN) / the bytes of its shards, MiB")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--dim", type=int, default=384)
    ap.add_argument("--rows-per-shard", type=int, default=131072)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--k", type=int, default=1000)
    ap.add_argument("--strategies", default="margin,coreset,badge,cluster_margin")
    ap.add_argument("--shards", type=Path, default=Path("/tmp/labelwise-bench-shards"))
    ap.add_argument("--port", type=int, default=6391)
    ap.add_argument("--store-mb", type=int, default=1024)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--_role", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--_address", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args._role:
        res = one_side(args._role, args.shards, args.strategies.split(","), args.k,
                       args._address, args.threads)
        print(json.dumps(res))
        return
    distributed(args)


if __name__ == "__main__":
    main()
