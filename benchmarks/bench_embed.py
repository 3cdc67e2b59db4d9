"""Peak memory of ``labelwise embed`` on image folders of growing size: it should not grow.

Writes synthetic folders of small PNGs (random 128 x 128 RGB, 48 KiB decoded each), embeds each
into shards of ``--rows-per-shard`` rows in a fresh process, and prints that process's peak
resident memory (``VmHWM``; ru_maxrss would carry this script's own peak into the child) and
the time. With ``--baseline DIR`` (another checkout of labelwise)
the same runs are made with that code first, so the two columns come from one run on one
machine. The default encoder is ``identity`` (pixels as features: no model, so the figures are
the data path's own memory; the shard's float32 features are 4x its pixels).

    python benchmarks/bench_embed.py --sizes 500,2000 --baseline ../main
    python benchmarks/bench_embed.py --encoder efficientnet-lite0 --sizes 200,800

Timings are noisy on a shared machine: the 1-minute load average is printed with them.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parents[1]

#: run in a fresh interpreter with the checkout under test first on sys.path
CHILD = """
import json, sys, time
import labelwise
from labelwise.distributed.embed import embed_to_shards
t = time.perf_counter()
embed_to_shards(sys.argv[1], sys.argv[2], sys.argv[3], rows_per_shard=int(sys.argv[4]),
                progress=False)
with open("/proc/self/status") as f:
    peak_kib = next(int(line.split()[1]) for line in f if line.startswith("VmHWM:"))
print(json.dumps({"seconds": time.perf_counter() - t, "code": labelwise.__file__,
                  "peak_mib": peak_kib / 1024}))
"""


def write_folder(root: Path, n: int, side: int, seed: int = 0) -> Path:
    """``n`` random ``side`` x ``side`` RGB PNGs in two class subfolders."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    for c in ("a", "b"):
        (root / c).mkdir(parents=True, exist_ok=True)
    for i in range(n):
        pix = rng.integers(0, 256, (side, side, 3), dtype=np.uint8)
        Image.fromarray(pix).save(root / "ab"[i % 2] / f"{i:06d}.png", compress_level=1)
    return root


def embed_peak(code: Path, folder: Path, out: Path, encoder: str, rows_per_shard: int) -> dict:
    """Seconds and peak RSS (MiB) of one embed in a fresh process running ``code``'s labelwise."""
    env = dict(os.environ, PYTHONPATH=str(code))
    # run outside any checkout: ``python -c`` puts the working directory first on sys.path
    res = subprocess.run([sys.executable, "-c", CHILD, str(folder), str(out), encoder,
                          str(rows_per_shard)], env=env, capture_output=True, text=True,
                         cwd=out.parent)
    if res.returncode:
        raise SystemExit(f"embed failed with {code}:\n{res.stderr[-2000:]}")
    r = json.loads(res.stdout.strip().splitlines()[-1])
    if not Path(r["code"]).is_relative_to(code):
        raise SystemExit(f"the child imported {r['code']}, not the code in {code}")
    return r


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", default="500,2000", help="images per folder, comma-separated")
    ap.add_argument("--side", type=int, default=128, help="image side in pixels")
    ap.add_argument("--rows-per-shard", type=int, default=256)
    ap.add_argument("--encoder", default="identity")
    ap.add_argument("--baseline", type=Path, default=None,
                    help="another labelwise checkout to measure first (e.g. the main branch)")
    args = ap.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",")]
    codes = ([("before", args.baseline.resolve())] if args.baseline else []) + [("after", HERE)]
    decoded = args.side * args.side * 3 / 2**20
    print(f"encoder {args.encoder}, {args.side} px PNGs ({decoded * 1024:.0f} KiB decoded each), "
          f"--rows-per-shard {args.rows_per_shard}; load average "
          f"{os.getloadavg()[0]:.1f}")
    with tempfile.TemporaryDirectory() as tmp:
        results = {}
        for n in sizes:
            folder = write_folder(Path(tmp) / f"imgs{n}", n, args.side)
            for label, code in codes:
                r = embed_peak(code, folder, Path(tmp) / f"out-{label}-{n}", args.encoder,
                               args.rows_per_shard)
                results[label, n] = r
                print(f"{label:>6} {n:>7,} images ({n * decoded:7.1f} MiB of pixels): peak RSS "
                      f"{r['peak_mib']:7.1f} MiB, {r['seconds']:6.1f} s", flush=True)
        for label, _ in codes:
            lo, hi = results[label, sizes[0]], results[label, sizes[-1]]
            print(f"{label:>6}: peak at {sizes[-1]:,} / at {sizes[0]:,} images = "
                  f"{hi['peak_mib'] / lo['peak_mib']:.2f}x "
                  f"(+{hi['peak_mib'] - lo['peak_mib']:.1f} MiB)")
        if args.baseline:
            for n in sizes:
                print(f"after / before peak at {n:,} images: "
                      f"{results['after', n]['peak_mib'] / results['before', n]['peak_mib']:.2f}x")
    print(f"load average at the end {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
