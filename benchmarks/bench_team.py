"""A team of annotators on one labeling server: how often they wait, labels/s, request latency.

A real server (``python -m labelwise.cli label``, uvicorn on 127.0.0.1, its background worker
on) over 10,000 items with 384-d features (Gaussian clusters as in ``bench_label_loop.py``, 50
seed labels), logreg, margin, batch 10. Each simulated annotator is a thread with its own HTTP
client that does what the page does: ``GET /api/next``; with an item, think (uniform 0.5x-1.5x
``--think`` seconds) and ``POST /api/label`` its true class; "waiting", poll again after 0.5 s.

Two variants, each for ``--seconds``:

- ``team``: ``--annotators`` annotators label;
- ``idle``: one of them opens an item and goes idle (its page stays open: it sends the heartbeat
  every 15 s when the server has one), the others label. An idle annotator should cost the
  others nothing: compare labels/s per working annotator with ``team``.

Per variant: share of "waiting" answers of ``/api/next``, labels/s, p50/p99 latency of
``/api/next`` and ``/api/label`` (ms), refused labels (409) and a check that every acknowledged
label is stored once. ``--baseline DIR`` also runs a checkout of older code (e.g.
``git archive main | tar -x -C /tmp/old``) in the same run, and prints the ratios. The machine's
load average is printed with the figures (other jobs share the cores).

Run: ``python benchmarks/bench_team.py [--seconds 60] [--annotators 16] [--think 0.3]
[--baseline DIR]``.
"""

from __future__ import annotations

import argparse
import os
import random
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
POLL_S = 0.5  # what the page waits before asking again while the batch is prepared
HEARTBEAT_S = 15.0

#: seconds the "slow" variant's learner sleeps in each fit (slow enough that a team would wait)
SLOW_FIT_S = 12.0
# registers "bench-slow": logistic regression whose fit first sleeps SLOW_FIT_S seconds
PRELUDE = f"""
import time
from labelwise.learners import register_learner
from labelwise.learners.sklearn import LogisticRegressionLearner

class SlowLogreg(LogisticRegressionLearner):
    def _fit(self, X, y_idx):
        time.sleep({SLOW_FIT_S})
        return super()._fit(X, y_idx)

register_learner("bench-slow", SlowLogreg, "logreg that sleeps {SLOW_FIT_S} s per fit")
"""
# run with the code under test (its labelwise on sys.path): creates the project from the arrays
CREATE = PRELUDE + """
import sys, numpy as np
from labelwise.app.create import create_project
X = np.load(sys.argv[2]); y = np.load(sys.argv[3])
seeds = np.random.default_rng(1).choice(len(X), int(sys.argv[6]), replace=False)
labels = [None] * len(X)
for i in seeds:
    labels[i] = str(y[i])
create_project(sys.argv[1], [f"item{i}" for i in range(len(X))], X, sorted(set(y.tolist())),
               labels=labels, batch_size=int(sys.argv[4]), learner=sys.argv[5])
"""
# the labeling server, with "bench-slow" registered
SERVE = PRELUDE + """
import sys
from labelwise.cli import entry
sys.argv = ["labelwise"] + sys.argv[1:]
entry()
"""
#: variant -> (learner, seed labels, class separation of the pool): "team" and "idle" fit in
#: well under a second; "slow" sleeps SLOW_FIT_S s per fit; "real" is logreg on 1,000+ labels
#: of overlapping 384-d classes (a fit of about 4 CPU-s, 10-20 s on a shared machine)
VARIANTS = {"team": ("logreg", 50, 1.0), "idle": ("logreg", 50, 1.0),
            "slow": ("bench-slow", 50, 1.0), "real": ("logreg", 1000, 0.1)}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(code: Path, project: Path):
    import httpx

    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(code), "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen([sys.executable, "-c", SERVE, "label", str(project),
                             "--port", str(port)], cwd=code, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the server of {code} exited with {proc.returncode}")
        try:
            if httpx.get(url + "/api/health", timeout=2).status_code == 200:
                return proc, url
        except httpx.HTTPError:
            time.sleep(0.3)
    proc.kill()
    raise RuntimeError("the server did not start within 120 s")


def wait_first_batch(url: str, timeout: float, poll: float) -> None:
    """Wait (at most ``timeout`` s) until the worker has prepared its first batch ahead."""
    import httpx

    deadline = time.monotonic() + timeout
    while not httpx.get(url + "/api/progress", timeout=60).json()["next_ready"] \
            and time.monotonic() < deadline:
        time.sleep(poll)


def annotate(url: str, name: str, y: np.ndarray, until: float, think: float, rec: dict,
             seed: int) -> None:
    """Label what the server serves until ``until``; record states and latencies in ``rec``."""
    import httpx

    rng = random.Random(seed)
    with httpx.Client(base_url=url, timeout=60) as c:
        while time.monotonic() < until:
            t0 = time.perf_counter()
            out = c.get("/api/next", params={"annotator": name}).json()
            rec["next_ms"].append(1000 * (time.perf_counter() - t0))
            rec["states"].append(out["state"])
            if out["state"] == "finished":
                return
            if out["item"] is None:
                time.sleep(POLL_S)
                continue
            time.sleep(think * rng.uniform(0.5, 1.5))
            idx = out["item"]["idx"]
            t0 = time.perf_counter()
            r = c.post("/api/label", json={"item": idx, "label": str(y[idx]), "annotator": name})
            rec["label_ms"].append(1000 * (time.perf_counter() - t0))
            if r.status_code == 200:
                rec["acked"].append(idx)
            else:
                rec["refused"].append(r.status_code)


def go_idle(url: str, until: float) -> None:
    """Open an item, then only keep the page alive (heartbeat, if the server has one)."""
    import httpx

    with httpx.Client(base_url=url, timeout=60) as c:
        c.get("/api/next", params={"annotator": "idle"})
        beat = True
        while beat and time.monotonic() < until:
            time.sleep(min(HEARTBEAT_S, max(0.0, until - time.monotonic())))
            r = c.post("/api/heartbeat", json={"annotator": "idle"})
            beat = r.status_code == 200


def run_variant(code: Path, root: Path, X_path: Path, y: np.ndarray, y_path: Path, args,
                variant: str) -> dict:
    import httpx

    idle = variant == "idle"
    learner, n_seeds, _ = VARIANTS[variant]
    project = root / f"{code.name}-{variant}"
    env = {**os.environ, "PYTHONPATH": str(code)}
    subprocess.run([sys.executable, "-c", CREATE, str(project), str(X_path), str(y_path),
                    str(args.batch_size), learner, str(n_seeds)], cwd=code, env=env, check=True)
    proc, url = start_server(code, project)
    try:
        # the annotators arrive once the worker has prepared its first batch ahead (the server
        # loads the features and the learner's libraries first), as on a server started earlier
        wait_first_batch(url, 120, 0.2)
        n_work = args.annotators - (1 if idle else 0)
        recs = [{"next_ms": [], "label_ms": [], "states": [], "acked": [], "refused": []}
                for _ in range(n_work)]
        load0 = os.getloadavg()[0]
        start = time.monotonic()
        until = start + args.seconds
        threads = [threading.Thread(target=annotate, args=(url, f"ann{i}", y, until, args.think,
                                                          recs[i], i)) for i in range(n_work)]
        if idle:
            threads.append(threading.Thread(target=go_idle, args=(url, until)))
            threads[-1].start()
            time.sleep(0.5)  # the idle one opens its item first
        for t in threads[:n_work]:
            t.start()
        for t in threads:
            t.join(args.seconds + 120)
        elapsed = time.monotonic() - start
        load1 = os.getloadavg()[0]
        stored = httpx.get(url + "/api/labels", timeout=60).json()
        rounds = len(httpx.get(url + "/api/progress", timeout=60).json()["history"])
    finally:
        proc.kill()
        proc.wait(10)
    states = [s for r in recs for s in r["states"]]
    acked = [i for r in recs for i in r["acked"]]
    app_items = [r["item"] for r in stored if r["annotator"].startswith("ann")]
    nxt = [v for r in recs for v in r["next_ms"]]
    lab = [v for r in recs for v in r["label_ms"]] or [float("nan")]
    return {
        "variant": variant, "workers": n_work,
        "allowed": len(acked) / elapsed / (n_work / args.think),
        "waiting": states.count("waiting") / max(1, len(states)),
        "labels_s": len(acked) / elapsed, "per_worker": len(acked) / elapsed / n_work,
        "next_p50": np.percentile(nxt, 50), "next_p99": np.percentile(nxt, 99),
        "label_p50": np.percentile(lab, 50), "label_p99": np.percentile(lab, 99),
        "refused": sum(len(r["refused"]) for r in recs), "rounds": rounds,
        "stored_ok": sorted(app_items) == sorted(acked) and len(set(acked)) == len(acked),
        "load": (load0 + load1) / 2,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--annotators", type=int, default=16)
    ap.add_argument("--think", type=float, default=0.3, help="mean seconds per label")
    ap.add_argument("--items", type=int, default=10_000)
    ap.add_argument("--batch-size", type=int, default=10)
    ap.add_argument("--baseline", type=Path, default=None,
                    help="a checkout of older code to run first, for the ratios")
    ap.add_argument("--variants", default="team,idle",
                    help="comma-separated: team, idle, slow (a 12 s fit), real (logreg on "
                         "1,000 labels of overlapping classes)")
    args = ap.parse_args()
    sys.path.insert(0, str(HERE))
    from bench_label_loop import make_pool

    pools = {}
    codes = ([("baseline", args.baseline.resolve())] if args.baseline else []) + [("this", ROOT)]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        for variant in args.variants.split(","):
            spread = VARIANTS[variant][2]
            if spread not in pools:
                X, y = make_pool(args.items, spread=spread)
                pools[spread] = (root / f"X{spread}.npy", y, root / f"y{spread}.npy")
                np.save(pools[spread][0], X)
                np.save(pools[spread][2], y)
        for tag, code in codes:
            for variant in args.variants.split(","):
                X_path, y, y_path = pools[VARIANTS[variant][2]]
                r = run_variant(code, root, X_path, y, y_path, args, variant)
                r["code"] = tag
                rows.append(r)
                print(f"  done: {tag} {variant} (load {r['load']:.1f})", file=sys.stderr)
    print(f"{args.annotators} annotators, think {args.think} s, {args.items} items, batch "
          f"{args.batch_size}, {args.seconds:.0f} s per variant, {os.cpu_count()} cores")
    print(f"{'code':>8} {'variant':>7} {'working':>7} {'waiting':>8} {'labels/s':>8} "
          f"{'allowed':>7} "
          f"{'per ann':>7} {'next p50/p99 ms':>16} {'label p50/p99 ms':>17} {'409':>4} "
          f"{'rounds':>6} {'stored':>6} {'load':>5}")
    for r in rows:
        print(f"{r['code']:>8} {r['variant']:>7} {r['workers']:>7} {100 * r['waiting']:>7.1f}% "
              f"{r['labels_s']:>8.1f} {100 * r['allowed']:>6.0f}% {r['per_worker']:>7.2f} "
              f"{r['next_p50']:>7.0f} / {r['next_p99']:<6.0f} {r['label_p50']:>8.0f} / "
              f"{r['label_p99']:<6.0f} {r['refused']:>4} {r['rounds']:>6} "
              f"{'ok' if r['stored_ok'] else 'BAD':>6} {r['load']:>5.1f}")
    if args.baseline:
        for variant in args.variants.split(","):
            old, new = (next(r for r in rows if r["code"] == c and r["variant"] == variant)
                        for c in ("baseline", "this"))
            print(f"{variant}: labels/s x{new['labels_s'] / old['labels_s']:.2f}, next p99 "
                  f"x{new['next_p99'] / old['next_p99']:.2f}, waiting "
                  f"{100 * old['waiting']:.1f}% -> {100 * new['waiting']:.1f}%")
    mine = {r["variant"]: r for r in rows if r["code"] == "this"}
    if "team" in mine and "idle" in mine:
        team, one_idle = mine["team"], mine["idle"]
        print(f"one idle annotator: labels/s per working annotator "
              f"x{one_idle['per_worker'] / team['per_worker']:.2f} of the full team's")


if __name__ == "__main__":
    main()
