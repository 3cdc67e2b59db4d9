"""What the checks cost when a project is opened, for 10,000 and 100,000 items of 384 features.

Opening a project runs ``PRAGMA quick_check`` on the database and checks ``embeddings.npy``
(memory-mapped: shape, dtype, and every value finite, block by block). Per pool size it reports,
median over repeats with the files in the page cache (a server restart, ``labelwise status``):

- ``quick_check``: the database check alone;
- ``embeddings``: the embeddings check alone;
- ``open``: ``Project(path)`` with both checks;
- ``open, no checks``: a baseline in the same run: connect and read the settings only;
- ``np.load``: reading the whole embeddings file, what the first batch does anyway.

Run: ``python benchmarks/bench_project_open.py [--sizes 10000,100000] [--repeats 5]``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np


def timed(fn, repeats: int) -> float:
    out = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return statistics.median(out)


def bench(n: int, d: int, repeats: int, root: Path) -> dict:
    from labelwise.app import db
    from labelwise.app.create import create_project
    from labelwise.app.errors import DB_NAME, EMBEDDINGS_NAME
    from labelwise.app.project import Project, check_embeddings_file

    X = np.random.default_rng(0).normal(size=(n, d)).astype(np.float32)
    path = root / f"p{n}"
    create_project(path, [f"item{i}" for i in range(n)], X, ["a", "b"], prepare=False).close()
    del X

    def quick_check():
        conn = db.connect(path / DB_NAME)
        db.check_intact(conn, path / DB_NAME)
        conn.close()

    def bare_open():
        conn = db.connect(path / DB_NAME)
        {k: json.loads(v) for k, v in conn.execute("SELECT key, value FROM settings")}
        conn.close()

    return {
        "n": n, "db MB": (path / DB_NAME).stat().st_size / 1e6,
        "npy MB": (path / EMBEDDINGS_NAME).stat().st_size / 1e6,
        "quick_check": timed(quick_check, repeats),
        "embeddings": timed(lambda: check_embeddings_file(path / EMBEDDINGS_NAME, n, d), repeats),
        "open": timed(lambda: Project(path).close(), repeats),
        "open, no checks": timed(bare_open, repeats),
        "np.load": timed(lambda: np.load(path / EMBEDDINGS_NAME), repeats),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="10000,100000")
    parser.add_argument("--dim", type=int, default=384)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        rows = [bench(int(n), args.dim, args.repeats, Path(tmp))
                for n in args.sizes.split(",")]
    print(f"{'items':>8} {'db MB':>6} {'npy MB':>7} {'quick_check s':>14} {'embeddings s':>13} "
          f"{'open s':>7} {'no checks s':>12} {'np.load s':>10} {'open/np.load':>13}")
    for r in rows:
        print(f"{r['n']:>8} {r['db MB']:>6.1f} {r['npy MB']:>7.1f} {r['quick_check']:>14.3f} "
              f"{r['embeddings']:>13.3f} {r['open']:>7.3f} {r['open, no checks']:>12.4f} "
              f"{r['np.load']:>10.3f} {r['open'] / r['np.load']:>13.2f}")


if __name__ == "__main__":
    main()
