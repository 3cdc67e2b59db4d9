"""Input checks at the library's boundary.

Every public entry point validates its inputs here, so that bad input gets one clear sentence
naming the problem (a :class:`LabelwiseError`), not a traceback from deep inside numpy.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np


class LabelwiseError(ValueError):
    """A user-facing error: its message names the problem in one line."""


class LabelwiseWarning(UserWarning):
    """A user-facing warning in one line: the run goes on, but not as asked (e.g. labels of one
    class, so the cold-start strategy picks)."""


def plural(n: int, noun: str, nouns: str | None = None) -> str:
    """``n`` and the noun, plural unless ``n`` is 1: ``plural(1, "seed")`` = "1 seed",
    ``plural(3, "class", "classes")`` = "3 classes"."""
    return f"{n} {noun if n == 1 else nouns or noun + 's'}"


def unknown_name_error(kind: str, name: str, choices: Iterable[str]) -> LabelwiseError:
    """An error for a name that is not in a registry, listing the valid choices."""
    return LabelwiseError(f"unknown {kind} {name!r}; choose one of: {', '.join(sorted(choices))}")


def check_features(X, name: str = "X") -> np.ndarray:
    """Return ``X`` as a 2-D float array of shape (n, d), rejecting NaN, inf and wrong shapes.

    scikit-learn's ``check_array`` does the checks and the conversion (float32 and float64 are
    kept, other numbers become float32); when it refuses ``X``, :func:`_features_problem` names
    the problem in one line (sklearn's own messages span lines and print the whole array).
    """
    from sklearn.utils import check_array

    try:
        return check_array(X, dtype=(np.float32, np.float64), ensure_min_samples=0,
                           ensure_min_features=1)
    except (ValueError, TypeError) as exc:
        raise LabelwiseError(_features_problem(X, name, exc)) from None


def _features_problem(X, name: str, exc: Exception) -> str:
    """One line saying why ``check_array`` refused ``X`` (only computed on failure)."""
    if hasattr(X, "toarray"):
        return f"{name} is a sparse matrix; pass a dense array ({name}.toarray())"
    try:
        arr = np.asarray(X)
    except Exception as err:  # ragged lists and the like
        return f"{name} cannot be read as a numeric array: {err}"
    if arr.ndim == 2 and arr.shape[1] == 0:
        return f"{name} has no feature columns (shape {arr.shape})"
    if arr.dtype.kind == "c":
        return f"{name} must hold real numbers, got complex values"
    if arr.dtype.kind not in "biuf":
        try:
            arr = arr.astype(np.float64)
        except (ValueError, TypeError):
            return (f"{name} must be numeric, got values of type {arr.dtype}; "
                    "encode texts or categories as numbers first")
    if arr.ndim == 1:
        return f"{name} must be 2-D (n_samples, n_features), got a 1-D array"
    if arr.ndim != 2:
        return (f"{name} must be 2-D (n_samples, n_features), got shape {arr.shape}; "
                "flatten images first or use an encoder")
    bad = ~np.isfinite(arr)
    if bad.any():
        rows = np.flatnonzero(bad.any(axis=1))
        kind = "NaN" if np.isnan(arr[rows[0]]).any() else "inf"
        return (f"{name} contains NaN or inf values ({kind} in {plural(len(rows), 'row')}, "
                f"first at row {rows[0]}); drop or impute them first")
    return f"{name} cannot be used as features: {str(exc).splitlines()[0]}"


def check_labels(y, classes: Sequence | None = None, name: str = "y") -> np.ndarray:
    """Return ``y`` as a 1-D array; with ``classes``, reject labels outside them."""
    arr = np.asarray(y)
    if arr.ndim != 1:
        raise LabelwiseError(f"{name} must be 1-D, got shape {arr.shape}")
    if arr.dtype.kind == "f" and not np.isfinite(arr).all():
        raise LabelwiseError(f"{name} contains NaN or inf labels")
    if classes is not None:
        known = set(np.asarray(classes).tolist())
        outside = sorted({v for v in arr.tolist() if v not in known}, key=str)
        if outside:
            shown = ", ".join(map(repr, outside[:5])) + (" ..." if len(outside) > 5 else "")
            raise LabelwiseError(
                f"{name} has labels outside the declared classes: {shown} "
                f"(classes are {', '.join(map(repr, np.asarray(classes).tolist()))})"
            )
    return arr


def check_same_length(a, b, name_a: str = "X", name_b: str = "y") -> None:
    """Reject two arrays whose first dimensions differ."""
    if len(a) != len(b):
        raise LabelwiseError(f"{name_a} has {len(a)} rows but {name_b} has {len(b)}")


def check_indices(idx, n: int, name: str = "labeled") -> np.ndarray:
    """Return ``idx`` as unique int64 positions into a pool of ``n`` items.

    Integers, or floats holding whole numbers, are accepted; anything else (fractions, booleans,
    strings such as a DataFrame's index labels) is refused with one line, as are positions
    outside [0, n) and duplicates.
    """
    arr = np.asarray(idx if idx is not None else [])
    if arr.ndim != 1:
        arr = arr.ravel()
    if arr.size and arr.dtype.kind not in "iuf":
        shown = repr(arr[0].item()) if arr.dtype.kind != "O" else repr(arr[0])
        hint = (" (labels of a DataFrame's index? pass positions, e.g. "
                "df.index.get_indexer(labels))" if arr.dtype.kind in "OUS" else "")
        raise LabelwiseError(f"{name} indices must be integer positions into the pool, got "
                             f"{arr.dtype} values such as {shown}{hint}")
    if arr.size and arr.dtype.kind == "f":
        if not np.all(np.isfinite(arr)) or np.any(arr != np.round(arr)):
            bad = arr[~np.isfinite(arr) | (arr != np.round(arr))][0]
            raise LabelwiseError(f"{name} indices must be whole numbers, got {bad}")
    arr = arr.astype(np.int64, copy=False)
    if arr.size and (arr.min() < 0 or arr.max() >= n):
        raise LabelwiseError(f"{name} indices must lie in [0, {n}), got {arr.min()}..{arr.max()}")
    if np.unique(arr).size != arr.size:
        raise LabelwiseError(f"{name} indices contain duplicates")
    return arr


def check_k(k: int, n_candidates: int) -> int:
    """Check that ``k`` items can be picked from ``n_candidates``."""
    if int(k) != k or k < 1:
        raise LabelwiseError(f"k (the number of items to pick) must be a positive integer, got {k}")
    if n_candidates == 0:
        raise LabelwiseError("the pool is empty: there are no unlabeled items to pick from")
    if k > n_candidates:
        raise LabelwiseError(
            f"k={k} is larger than the unlabeled pool ({plural(n_candidates, 'item')})"
        )
    return int(k)


def check_positive_int(value, name: str, minimum: int = 1) -> int:
    """Check an integer option such as the batch size or the number of rounds."""
    if int(value) != value or value < minimum:
        raise LabelwiseError(f"{name} must be an integer >= {minimum}, got {value}")
    return int(value)
