"""Bring your own images: a folder with one subfolder per class, or a flat folder (unlabeled).

Layout::

    photos/cat/001.png        labeled "cat" (files in nested folders under cat/ too)
    photos/dog/a.jpg          labeled "dog"
    photos/unsorted.png       a file at the top level: unlabeled (label None)

Images are read with Pillow (PNG, JPEG, BMP, GIF, TIFF, WebP) and converted to RGB, (H, W, 3)
uint8. Hidden files (``.DS_Store`` ...) are ignored; any other file that is not a readable image
is an error listing every offender, unless ``skip_bad=True``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from labelwise.data.dataset import RawData
from labelwise.data.problems import handle_offenders
from labelwise.validation import LabelwiseError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp")


def _visible_files(folder: Path) -> list[Path]:
    return sorted(
        p for p in folder.rglob("*")
        if p.is_file() and not any(part.startswith(".") for part in p.relative_to(folder).parts)
    )


def read_image(path: str | Path, max_side: int | None = None) -> np.ndarray:
    """One image file as (H, W, 3) uint8 RGB (grayscale, palette and alpha images converted).

    With ``max_side``, a larger image is shrunk (aspect kept, Pillow's antialiasing thumbnail) so
    that neither side exceeds it.

    Raises:
        LabelwiseError: when Pillow cannot decode the file.
    """
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            im.load()
            rgb = im.convert("RGB")
            if max_side is not None and max(rgb.size) > max_side:
                rgb.thumbnail((max_side, max_side))
            return np.asarray(rgb, dtype=np.uint8)
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as exc:
        raise LabelwiseError(f"cannot read image {path}: {exc}") from None


#: larger images are shrunk to this side when read (the loaders' default)
MAX_SIDE = 512


def image_entries(root: Path):
    """Each visible file under ``root`` in the loaders' order, as ``(path, relative posix
    path, why it is not an image or None)``."""
    for f in _visible_files(root):
        rel = f.relative_to(root).as_posix()
        yield f, rel, (None if f.suffix.lower() in IMAGE_SUFFIXES
                       else f"not an image file: {', '.join(IMAGE_SUFFIXES)}")


def load_image_folder(path: str | Path, skip_bad: bool = False,
                      max_side: int | None = MAX_SIDE) -> RawData:
    """Read a folder of images: one subfolder per class, top-level files unlabeled.

    Args:
        path: the folder.
        skip_bad: leave out unreadable or non-image files with a warning, instead of failing.
        max_side: shrink larger images so that no side exceeds this (aspect kept), so that a
            folder of camera photos fits in memory; the encoders work at 224 px or less.
            ``None`` keeps full size.

    Returns:
        RawData with ``items`` (H, W, 3) uint8 arrays in sorted path order, ``labels`` (the class
        subfolder's name, or None for a top-level file; ``labels`` is None when no file has a
        class), ``ids`` the paths relative to ``path`` and ``modality="image"``.

    Raises:
        LabelwiseError: for a missing or empty folder, or listing every unreadable image and
            non-image file (unless ``skip_bad``).
    """
    root = Path(path).expanduser()
    if not root.is_dir():
        raise LabelwiseError(f"image folder not found: {root}")
    items, labels, ids, bad = [], [], [], []
    for f, rel, not_image in image_entries(root):
        if not_image:
            bad.append(f"{rel} ({not_image})")
            continue
        try:
            img = read_image(f, max_side)
        except LabelwiseError as exc:
            bad.append(f"{rel} ({str(exc).rsplit(': ', 1)[-1]})")
            continue
        items.append(img)
        labels.append(rel.split("/", 1)[0] if "/" in rel else None)
        ids.append(rel)
    handle_offenders(bad, "files", str(root), skip_bad)
    if not items:
        raise LabelwiseError(f"no images in {root} (looked for {', '.join(IMAGE_SUFFIXES)})")
    has_labels = any(lab is not None for lab in labels)
    return RawData(items=items, labels=labels if has_labels else None, ids=ids,
                   modality="image", source=str(root))
