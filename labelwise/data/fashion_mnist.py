"""Fashion-MNIST from its four standard idx files (the Debian package, or any folder holding them).

Where the files are looked for: the ``path`` argument if given, else the folder in
``$LABELWISE_FASHION_MNIST`` if set, else ``/usr/share/datasets/fashion-mnist`` (Debian/Ubuntu:
``apt-get install dataset-fashion-mnist``). Each file may be gzipped (``*.gz``) or not.

The split is the official one: the pool comes from the 60,000 training images and the test set
from the 10,000 test images. Embedding 70,000 images with a pretrained network takes minutes on a
laptop CPU, so the registered ``fashion-mnist`` keeps a fixed class-stratified subset
(``pool_size=10_000`` of the training images, ``test_size=2_000`` of the test images, both drawn
with ``random_state=0``); ``fashion-mnist-full`` is the whole official split.
"""

from __future__ import annotations

import gzip
import os
from pathlib import Path

import numpy as np

from labelwise.data.dataset import Dataset
from labelwise.validation import LabelwiseError

ENV_VAR = "LABELWISE_FASHION_MNIST"
DEBIAN_DIR = Path("/usr/share/datasets/fashion-mnist")
FILES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}
CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker",
           "Bag", "Ankle boot"]
HOW_TO_GET = (f"apt-get install dataset-fashion-mnist (files in {DEBIAN_DIR}), or set "
              f"${ENV_VAR} to a folder holding the four idx files ({', '.join(FILES.values())}, "
              "each optionally .gz)")

# idx type codes -> numpy dtypes (big-endian where it matters)
_IDX_DTYPES = {0x08: np.dtype(np.uint8), 0x09: np.dtype(np.int8), 0x0B: np.dtype(">i2"),
               0x0C: np.dtype(">i4"), 0x0D: np.dtype(">f4"), 0x0E: np.dtype(">f8")}


def read_idx(path: str | Path) -> np.ndarray:
    """Read one idx file (optionally gzipped): the format of MNIST and Fashion-MNIST.

    The header is two zero bytes, a type code, the number of dimensions D, then D big-endian uint32
    sizes; the data follow. Returns an array of those sizes, e.g. (n, 28, 28) uint8 images or (n,)
    uint8 labels. (mlxtend's ``loadlocal_mnist`` reads only uncompressed files, assumes 784
    pixels and checks no header, while the Debian package ships the files gzipped; it agrees
    with this reader where it applies, which a test checks.)

    Raises:
        LabelwiseError: when the file is not a valid idx file (bad magic, truncated data).
    """
    p = Path(path)
    try:
        data = gzip.open(p).read() if p.suffix == ".gz" else p.read_bytes()
    except (OSError, EOFError) as exc:
        raise LabelwiseError(f"cannot read idx file {p}: {exc}") from None
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] not in _IDX_DTYPES:
        raise LabelwiseError(f"{p} is not an idx file (bad magic number)")
    dtype, ndim = _IDX_DTYPES[data[2]], data[3]
    header = 4 + 4 * ndim
    if ndim == 0 or len(data) < header:
        raise LabelwiseError(f"{p} is not an idx file (bad header)")
    shape = tuple(int(s) for s in np.frombuffer(data, ">u4", count=ndim, offset=4))
    expected = int(np.prod(shape)) * dtype.itemsize
    if len(data) - header != expected:
        raise LabelwiseError(
            f"{p} is truncated or corrupt: header says shape {shape} ({expected} bytes of data), "
            f"found {len(data) - header} bytes"
        )
    return np.frombuffer(data, dtype, offset=header).reshape(shape).astype(dtype.newbyteorder("="))


def find_files(path: str | Path | None = None) -> dict[str, Path]:
    """The four Fashion-MNIST idx files: from ``path``, ``$LABELWISE_FASHION_MNIST`` or Debian's.

    Raises:
        LabelwiseError: naming both ways to get the files when none of the folders holds them.
    """
    # an explicit folder (argument, then the env var) is the only place looked at: a typo there
    # must not silently fall back to another copy
    explicit = path if path is not None else os.environ.get(ENV_VAR) or None
    folder = Path(explicit).expanduser() if explicit is not None else DEBIAN_DIR
    found = {}
    for key, stem in FILES.items():
        hit = next((folder / n for n in (stem + ".gz", stem) if (folder / n).is_file()), None)
        if hit is not None:
            found[key] = hit
    if len(found) == len(FILES):
        return found
    if found:
        missing = [FILES[k] for k in FILES if k not in found]
        raise LabelwiseError(f"Fashion-MNIST folder {folder} lacks {', '.join(missing)}")
    raise LabelwiseError(f"Fashion-MNIST not found in {folder}; get it with: {HOW_TO_GET}")


def _stratified_subset(y: np.ndarray, size: int | None, seed: int) -> np.ndarray:
    if size is None or size >= len(y):
        return np.arange(len(y))
    from sklearn.model_selection import train_test_split

    keep, _ = train_test_split(np.arange(len(y)), train_size=size, stratify=y, random_state=seed)
    return np.sort(keep)


def load_fashion_mnist(
    path: str | Path | None = None,
    pool_size: int | None = 10_000,
    test_size: int | None = 2_000,
    random_state: int = 0,
) -> Dataset:
    """Fashion-MNIST, official train/test split, optionally a fixed stratified subset of each.

    Args:
        path: a folder holding the four idx files (default: ``$LABELWISE_FASHION_MNIST``, then
            the Debian package's folder).
        pool_size: keep this many training images (class-stratified); ``None`` keeps all 60,000.
        test_size: keep this many test images (class-stratified); ``None`` keeps all 10,000.
        random_state: seed of the subsets (fixed at 0 for the registered data sets).

    Returns:
        A Dataset with X = pixels / 255, (n, 784) float32, and ``raw_train``/``raw_test``
        (n, 28, 28) uint8 images for the image encoders.
    """
    files = find_files(path)
    arrays = {k: read_idx(p) for k, p in files.items()}
    for split in ("train", "test"):
        images, labels = arrays[f"{split}_images"], arrays[f"{split}_labels"]
        if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
            raise LabelwiseError(
                f"Fashion-MNIST {split} files do not match: images {images.shape}, "
                f"labels {labels.shape}"
            )
        if labels.size and labels.max() >= len(CLASSES):
            raise LabelwiseError(
                f"Fashion-MNIST {split} labels go up to {labels.max()}; expected 0-9"
            )
    tr = _stratified_subset(arrays["train_labels"], pool_size, random_state)
    te = _stratified_subset(arrays["test_labels"], test_size, random_state)
    raw_train, raw_test = arrays["train_images"][tr], arrays["test_images"][te]
    n_tr, n_te = len(tr), len(te)
    return Dataset(
        name="fashion-mnist" if (pool_size, test_size) != (None, None) else "fashion-mnist-full",
        X_train=raw_train.reshape(n_tr, -1).astype(np.float32) / np.float32(255.0),
        y_train=arrays["train_labels"][tr].astype(np.int64),
        X_test=raw_test.reshape(n_te, -1).astype(np.float32) / np.float32(255.0),
        y_test=arrays["test_labels"][te].astype(np.int64),
        classes=list(CLASSES),
        description=(f"Fashion-MNIST 28x28 clothing images, 10 classes; {n_tr:,} pool (official "
                     f"train) / {n_te:,} test (official test)"),
        raw_train=raw_train,
        raw_test=raw_test,
        info={"modality": "image", "source": str(files["train_images"].parent)},
    )
