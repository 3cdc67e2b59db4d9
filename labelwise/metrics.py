"""Metrics of METHODS.md "Metrics": pure functions of arrays.

Learning-curve metrics take ``n_labeled`` (r,) increasing label counts and the metric at each.
"""

from __future__ import annotations

import numpy as np


def classification_metrics(y_true: np.ndarray, proba: np.ndarray) -> dict[str, float]:
    """Accuracy, balanced accuracy and macro-F1 of argmax predictions.

    Args:
        y_true: (n,) class indices.
        proba: (n, K) predicted probabilities.
    """
    from sklearn.metrics import balanced_accuracy_score, f1_score

    y_pred = proba.argmax(axis=1)
    labels = np.arange(proba.shape[1])
    return {
        "accuracy": float(np.mean(y_pred == y_true)),
        "balanced_accuracy": float(balanced_accuracy_score(y_true, y_pred)),
        "macro_f1": float(f1_score(y_true, y_pred, labels=labels, average="macro",
                                   zero_division=0)),
    }


def area_under_curve(n_labeled: np.ndarray, values: np.ndarray) -> float:
    """Area under the budget curve, normalised by the budget range: the mean metric over it.

    Trapezoid rule over (n_labeled, values); a single point returns that value.
    """
    n = np.asarray(n_labeled, dtype=float)
    v = np.asarray(values, dtype=float)
    if len(n) == 1:
        return float(v[0])
    return float(np.trapezoid(v, n) / (n[-1] - n[0]))


def labels_to_reach(n_labeled: np.ndarray, values: np.ndarray, target: float) -> float:
    """Labels at which the linearly interpolated curve first reaches ``target`` (NaN if never)."""
    n = np.asarray(n_labeled, dtype=float)
    v = np.asarray(values, dtype=float)
    hit = np.flatnonzero(v >= target)
    if hit.size == 0:
        return float("nan")
    i = hit[0]
    if i == 0:
        return float(n[0])
    # interpolate between the point below the target and the first point at or above it
    frac = (target - v[i - 1]) / (v[i] - v[i - 1])
    return float(n[i - 1] + frac * (n[i] - n[i - 1]))


def labels_saved(
    n_random: np.ndarray, acc_random: np.ndarray, n_strategy: np.ndarray, acc_strategy: np.ndarray
) -> float:
    """How many times fewer labels the strategy needs to reach random's final accuracy (000).

    = labels random needs to reach its own final accuracy / labels the strategy needs to reach it,
    both from linearly interpolated learning curves. NaN when the strategy never reaches it.
    """
    target = float(np.asarray(acc_random)[-1])
    return labels_to_reach(n_random, acc_random, target) / labels_to_reach(
        n_strategy, acc_strategy, target
    )


def mean_ci(values, confidence: float = 0.95) -> tuple[float, float]:
    """Mean and half-width of the Student-t confidence interval over seeds (NaNs dropped).

    Returns (mean, half_width); the half-width is NaN with fewer than 2 values.
    """
    from scipy import stats

    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    if v.size == 0:
        return float("nan"), float("nan")
    if v.size < 2:
        return float(v.mean()), float("nan")
    half = stats.t.ppf(0.5 + confidence / 2, v.size - 1) * v.std(ddof=1) / np.sqrt(v.size)
    return float(v.mean()), float(half)
