"""Cold start from embeddings alone: TypiClust and ProbCover, seconds and peak memory, with the
neighbour search done by FAISS or by scikit-learn (the fallback), in the same run.

Data: the clustered Gaussian pool of ``bench_select.py`` (a 50-component mixture of
16-dimensional Gaussians in d = 384, float32), no labeled items, budget b = 100. Per pool size
n and backend, one child process (so that peaks do not mix) measures, one after the other:

- ``typiclust``: all of TypiClust (k-means into 100 clusters + typicality in the visited ones);
  ``k-means`` alone is measured too: the rest is the k-NN step;
- ``delta``: ProbCover's delta estimation (k-means into K = 10 "classes" + for every point the
  nearest point of another cluster, n^2 d work);
- ``graph``: the sparse delta-graph at that delta (n^2 d work, kept as CSR int32);
- ``greedy``: the greedy max coverage on it (out- and in-edges).

Peak memory is the process's peak resident set during the step (Linux VmHWM, reset before
each step) above its resident set when the step started, so it includes FAISS's C++ buffers
(glibc's mmap threshold is fixed so that freed arrays leave the resident set).
Threads: ``--threads 1`` (default) pins OpenMP/BLAS to one thread, so that CPU seconds measure
the work and the ratio (of CPU seconds) compares the searches, not a busy machine's scheduling;
wall seconds are printed beside them.

Run: ``python benchmarks/bench_coldstart.py [--quick] [--sizes 10000,100000] [--threads 1]``
(``--quick``: n = 10,000 only).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
BUDGET = 100
CLASSES = 10


def _status_kb(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def _measure(fn):
    """(result, (wall seconds, CPU seconds), peak MB above the resident set at the start)."""
    try:
        Path("/proc/self/clear_refs").write_text("5")  # reset the peak (VmHWM) to now
    except OSError:
        pass
    start_kb = _status_kb("VmRSS")
    t, c = time.perf_counter(), time.process_time()
    out = fn()
    seconds = (time.perf_counter() - t, time.process_time() - c)
    return out, seconds, max(0, _status_kb("VmHWM") - start_kb) / 1024


def child(n: int, backend: str) -> dict:
    sys.path[:0] = [str(HERE.parent), str(HERE)]  # this checkout's labelwise, bench_select
    from bench_select import mixture

    from labelwise.strategies.coldstart import kmeans_labels, prepare_features
    from labelwise.strategies.neighbours import radius_graph
    from labelwise.strategies.probcover import estimate_delta, max_coverage
    from labelwise.strategies.typiclust import typiclust

    X = mixture(n, 384)
    Xn = prepare_features(X)
    # warm up: imports and first calls are not what is measured
    typiclust(X[:300], 5, None, 0, backend=backend)
    estimate_delta(X[:300], 2, random_state=0, backend=backend)
    row: dict = {"n": n, "backend": backend}
    picks, row["typiclust_s"], row["typiclust_mb"] = _measure(
        lambda: typiclust(X, BUDGET, None, 0, backend=backend))
    row["typiclust_picks"] = picks.tolist()
    if backend == "faiss":  # backend-independent, once
        _, row["kmeans_s"], row["kmeans_mb"] = _measure(lambda: kmeans_labels(Xn, BUDGET, 0))
    delta, row["delta_s"], row["delta_mb"] = _measure(
        lambda: estimate_delta(X, CLASSES, random_state=0, backend=backend))
    row["delta"] = delta
    graph, row["graph_s"], row["graph_mb"] = _measure(
        lambda: radius_graph(Xn, delta, backend, max_edges=400_000_000))
    indptr, indices = graph
    row["edges"] = int(len(indices))
    row["graph_bytes"] = int(indptr.nbytes + indices.nbytes)
    picks, row["greedy_s"], row["greedy_mb"] = _measure(
        lambda: max_coverage(indptr, indices, BUDGET, None, 0))
    row["probcover_picks"] = picks.tolist()
    return row


def run_child(n: int, backend: str, threads: int) -> dict:
    # a fixed mmap threshold returns every freed array to the OS at once (glibc otherwise
    # raises it after the first large free and keeps later frees resident, hiding later peaks)
    env = dict(os.environ, MALLOC_MMAP_THRESHOLD_="65536")
    if threads:
        for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
            env[var] = str(threads)
    out = subprocess.run([sys.executable, __file__, "--child", f"{n},{backend}"], env=env,
                         capture_output=True, text=True)
    if out.returncode:
        sys.exit(f"n={n} {backend} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def table(f: dict, s: dict) -> None:
    n = f["n"]
    print(f"\nn = {n:,}, d = 384, b = {BUDGET}; delta = {f['delta']:.2f} (faiss) / "
          f"{s['delta']:.2f} (sklearn), {f['edges']:,} edges ({f['edges'] / n:.0f} per point), "
          f"graph {f['graph_bytes'] / 2**20:.0f} MB as CSR")
    print("seconds: CPU (wall); ratio of CPU seconds")
    print(f"{'step':<24}{'faiss s':>16}{'sklearn s':>16}{'skl/faiss':>11}{'faiss MB':>10}"
          f"{'sklearn MB':>12}")

    def sec(t):
        return f"{t[1]:.2f} ({t[0]:.1f})"

    km = f["kmeans_s"]
    print(f"{'k-means (100 clusters)':<24}{sec(km):>16}{'':>16}{'':>11}{f['kmeans_mb']:>10.0f}")
    for step, name in [("typiclust", "TypiClust (all)"), ("delta", "delta estimation"),
                       ("graph", "delta-graph"), ("greedy", "greedy cover")]:
        a, b = f[f"{step}_s"], s[f"{step}_s"]
        print(f"{name:<24}{sec(a):>16}{sec(b):>16}{b[1] / a[1]:>11.2f}{f[step + '_mb']:>10.0f}"
              f"{s[step + '_mb']:>12.0f}")
    knn_f = np.subtract(f["typiclust_s"], km)
    knn_s = np.subtract(s["typiclust_s"], km)
    print(f"{'TypiClust k-NN step':<24}{sec(knn_f):>16}{sec(knn_s):>16}"
          f"{knn_s[1] / max(knn_f[1], 1e-9):>11.2f}   (TypiClust minus k-means)")
    pc_f = np.add(f["graph_s"], f["greedy_s"])
    pc_s = np.add(s["graph_s"], s["greedy_s"])
    print(f"{'ProbCover (given delta)':<24}{sec(pc_f):>16}{sec(pc_s):>16}"
          f"{pc_s[1] / pc_f[1]:>11.2f}")
    same_t = f["typiclust_picks"] == s["typiclust_picks"]
    same_p = f["probcover_picks"] == s["probcover_picks"]
    print(f"same picks with both backends: TypiClust {same_t}, ProbCover {same_p}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", default="10000,100000")
    ap.add_argument("--quick", action="store_true", help="n = 10,000 only")
    ap.add_argument("--threads", type=int, default=1, help="OpenMP/BLAS threads (0: default)")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        n, backend = args.child.split(",")
        print(json.dumps(child(int(n), backend)))
        return
    sizes = [10_000] if args.quick else [int(s) for s in args.sizes.split(",")]
    print(f"threads: {args.threads or 'default'}; one child process per (n, backend)")
    for n in sizes:
        table(run_child(n, "faiss", args.threads), run_child(n, "sklearn", args.threads))


if __name__ == "__main__":
    np.seterr(all="ignore")
    main()
