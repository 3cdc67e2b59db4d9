"""Memory of the labeling app: creating a project and serving it, against the features' bytes.

Creates a project from an (n, d) float32 feature array (Gaussian clusters as in
``bench_label_loop.py``, ``--seeds`` seed labels (50: the first batch comes from a logreg fit
and margin; 0: from the TypiClust cold start), batch 10) in a fresh process and reports its
peak resident memory (``VmHWM``) above the same process's memory after the imports (the fixed
overhead, printed too) and above its memory after a warm-up create of 1,000 items (the
libraries' first-use memory, also fixed); then starts the labeling server (``labelwise label``)
on it and reports its resident memory idle (first batch ready) and at work (``--annotators``
clients label for ``--seconds``; ``VmHWM``, the peak; ``--create-only`` skips serving). Also
whether the server process loaded torch (it should not for logreg). ``--baseline DIR`` runs a
checkout of older code too, for the ratios.

Target: creating and serving hold at most about 2x the features' bytes plus the fixed
overhead. Run: ``python benchmarks/bench_app_memory.py [--items 100000] [--dim 384]
[--seeds 50] [--create-only] [--baseline DIR]``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent

CREATE = """
import json, sys
import numpy as np
import labelwise.app.create  # noqa: the imports are the fixed overhead
import sklearn.linear_model  # noqa
def status(key):
    with open("/proc/self/status") as f:
        return next(int(l.split()[1]) for l in f if l.startswith(key + ":")) * 1024
base = status("VmRSS")
from labelwise.app.create import create_project
def create(path, X, y):
    seeds = np.random.default_rng(1).choice(len(X), int(sys.argv[4]), replace=False)
    labels = [None] * len(X)
    for i in seeds:
        labels[i] = str(y[i])
    create_project(path, [f"item{i}" for i in range(len(X))], X, sorted(set(y.tolist())),
                   labels=labels, batch_size=10).close()
# warm-up: the same create on 1,000 items, so the libraries' first-use memory (BLAS and
# OpenMP buffers, modules imported on first use) is counted apart from the features' share
create(sys.argv[1] + "-warmup", np.array(np.load(sys.argv[2], mmap_mode="r")[:1000]),
       np.load(sys.argv[3])[:1000])
warm = status("VmRSS")
X = np.load(sys.argv[2])
y = np.load(sys.argv[3])
create(sys.argv[1], X, y)
# VmHWM, not ru_maxrss: Linux carries the peak of the memory a process had before exec into
# its ru_maxrss, and a child started by vfork (subprocess does) inherits this script's peak
print(json.dumps({"base": base, "warm": warm, "peak": status("VmHWM")}))
"""


def proc_status(pid: int) -> dict:
    with open(f"/proc/{pid}/status") as f:
        rows = dict(line.split(":", 1) for line in f)
    return {k: int(rows[k].split()[0]) * 1024 for k in ("VmRSS", "VmHWM")}


def loaded_torch(pid: int) -> bool:
    with open(f"/proc/{pid}/maps") as f:
        return "libtorch" in f.read()


def label_for(url: str, name: str, y, until: float) -> None:
    import httpx

    with httpx.Client(base_url=url, timeout=60) as c:
        while time.monotonic() < until:
            out = c.get("/api/next", params={"annotator": name}).json()
            if out["item"] is None:
                time.sleep(0.2)
                continue
            idx = out["item"]["idx"]
            c.post("/api/label", json={"item": idx, "label": str(y[idx]), "annotator": name})


def run(code: Path, root: Path, X_path: Path, y, y_path: Path, args) -> dict:

    sys.path.insert(0, str(HERE))
    from bench_team import start_server, wait_first_batch

    env = {**os.environ, "PYTHONPATH": str(code)}
    project = root / f"{code.name}-project"
    out = subprocess.run([sys.executable, "-c", CREATE, str(project), str(X_path), str(y_path),
                          str(args.seeds)], cwd=code, env=env, check=True, capture_output=True,
                         text=True)
    created = json.loads(out.stdout.strip().splitlines()[-1])
    if args.create_only:
        return {"create_base": created["base"], "create_warm": created["warm"],
                "create_peak": created["peak"]}
    proc, url = start_server(code, project)
    try:
        wait_first_batch(url, 300, 0.5)
        time.sleep(2.0)
        idle = proc_status(proc.pid)
        until = time.monotonic() + args.seconds
        threads = [threading.Thread(target=label_for, args=(url, f"a{i}", y, until))
                   for i in range(args.annotators)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(args.seconds + 120)
        work = proc_status(proc.pid)
        torch = loaded_torch(proc.pid)
    finally:
        proc.kill()
        proc.wait(10)
    return {"create_base": created["base"], "create_warm": created["warm"],
            "create_peak": created["peak"],
            "idle": idle["VmRSS"], "work": work["VmRSS"], "work_peak": work["VmHWM"],
            "torch": torch}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--items", type=int, default=100_000)
    ap.add_argument("--dim", type=int, default=384)
    ap.add_argument("--annotators", type=int, default=4)
    ap.add_argument("--seconds", type=float, default=15.0)
    ap.add_argument("--seeds", type=int, default=50, help="seed labels (0: cold start)")
    ap.add_argument("--create-only", action="store_true", help="skip serving")
    ap.add_argument("--baseline", type=Path, default=None)
    args = ap.parse_args()
    sys.path.insert(0, str(HERE))
    from bench_label_loop import make_pool

    X, y = make_pool(args.items, d=args.dim)
    mb = X.nbytes / 2**20
    codes = ([("baseline", args.baseline.resolve())] if args.baseline else []) + [("this", ROOT)]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        np.save(root / "X.npy", X)
        np.save(root / "y.npy", y)
        del X
        for tag, code in codes:
            r = run(code, root, root / "X.npy", y, root / "y.npy", args)
            r["code"] = tag
            rows.append(r)
            print(f"  done: {tag}", file=sys.stderr)
    print(f"{args.items} x {args.dim} float32 features: {mb:.0f} MB; {args.seeds} seed labels; "
          f"load {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    print(f"{'code':>8} {'imports MB':>10} {'warm-up MB':>10} {'create peak MB':>15} "
          f"{'x feat':>6} {'x warm':>6}" + ("" if args.create_only else
          f" {'serve idle MB':>13} {'x feat':>6} {'at work MB':>10} {'peak MB':>8} {'x feat':>6} "
          f"{'torch':>5}"))
    for r in rows:
        base, warm, peak = (r[k] / 2**20 for k in ("create_base", "create_warm", "create_peak"))
        line = (f"{r['code']:>8} {base:>10.0f} {warm - base:>10.0f} {peak:>15.0f} "
                f"{(peak - base) / mb:>6.2f} {(peak - warm) / mb:>6.2f}")
        if not args.create_only:
            i, w, pk = (r[k] / 2**20 for k in ("idle", "work", "work_peak"))
            line += (f" {i:>13.0f} {(i - base) / mb:>6.2f} {w:>10.0f} {pk:>8.0f} "
                     f"{(pk - base) / mb:>6.2f} {'yes' if r['torch'] else 'no':>5}")
        print(line)
    print("x feat: (memory - the imports' memory) / the features' bytes; x warm: (create peak - "
          "the memory after the imports and a 1,000-item warm-up create) / the features' bytes; "
          "target <= about 2")

if __name__ == "__main__":
    main()
