"""Metrics of docs/methods.md, section "Metrics": pure functions of arrays.

Learning-curve metrics take ``n_labeled`` (r,) increasing label counts and the metric at each.
"""

from __future__ import annotations

import numpy as np

from labelwise.validation import LabelwiseError


def classification_metrics(y_true: np.ndarray, proba: np.ndarray) -> dict[str, float]:
    """Accuracy, balanced accuracy and macro-F1 of argmax predictions, plus ECE and Brier (Krishnan
    et al. 2021).

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
        **calibration_metrics(y_true, proba),
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


#: The two readings of "labels saved" and what each means; every report that shows labels saved
#: prints these. Both share the target T (random's accuracy at the full budget B, its last point)
#: and the strategy's side n_s (the first label count at which the strategy's linearly
#: interpolated learning curve reaches T); they differ in random's side.
LABELS_SAVED_READINGS = {
    "full-budget": "B / n_s: random's labels are the full budget B, where it has T by definition "
                   "(the reading of \"required Nx fewer labels than random sampling to achieve "
                   "random sampling's final accuracy\", Pretrained Models Are Good Active "
                   "Learners, 2021)",
    "first-crossing": "n_r / n_s, with n_r the first label count at which random's own "
                      "interpolated curve reaches T; n_r <= B, so this reading is at most the "
                      "full-budget one, and lower wherever random's noisy curve touches T before "
                      "the end",
}


def labels_saved(
    n_random: np.ndarray, acc_random: np.ndarray, n_strategy: np.ndarray,
    acc_strategy: np.ndarray, reading: str = "full-budget",
) -> tuple[float, bool]:
    """How many times fewer labels the strategy needs to reach random's final accuracy T.

    ``reading`` is "full-budget" (B / n_s, the paper's) or "first-crossing" (n_r / n_s), see
    :data:`LABELS_SAVED_READINGS`; all label counts from linearly interpolated learning curves,
    ``n_*`` (r,) increasing label counts and ``acc_*`` (r,) the metric at each.

    Returns:
        (ratio, reached). When the strategy's curve never reaches T within its budget, reached
        is False and ratio is an upper bound: random's labels / the strategy's full budget (it
        needs more labels than that).
    """
    if reading not in LABELS_SAVED_READINGS:
        raise LabelwiseError(f"labels-saved reading must be one of "
                             f"{', '.join(LABELS_SAVED_READINGS)}, got {reading!r}")
    n_random = np.asarray(n_random, dtype=float)
    target = float(np.asarray(acc_random)[-1])
    n_r = (float(n_random[-1]) if reading == "full-budget"
           else labels_to_reach(n_random, acc_random, target))
    n_s = labels_to_reach(n_strategy, acc_strategy, target)
    if np.isnan(n_s):
        return n_r / float(np.asarray(n_strategy)[-1]), False
    return n_r / n_s, True


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


def geometric_mean_ci(ratios, confidence: float = 0.95) -> tuple[float, float, float]:
    """Geometric mean of positive ratios (e.g. labels saved per seed) and its interval.

    The mean and Student-t interval are taken on log ratios and exponentiated, so the interval
    is multiplicative (gmean / f to gmean * f) and never reaches 0 or below. NaNs dropped.

    Returns:
        (gmean, low, high); low and high are NaN with fewer than 2 ratios.
    """
    v = np.asarray(ratios, dtype=float)
    v = v[np.isfinite(v)]
    if np.any(v <= 0):
        raise LabelwiseError("geometric mean needs positive ratios")
    m, h = mean_ci(np.log(v))
    return float(np.exp(m)), float(np.exp(m - h)), float(np.exp(m + h))


def _onehot(y_true: np.ndarray, n_classes: int) -> np.ndarray:
    out = np.zeros((len(y_true), n_classes))
    out[np.arange(len(y_true)), np.asarray(y_true, dtype=np.int64)] = 1.0
    return out


def expected_calibration_error(y_true: np.ndarray, proba: np.ndarray, n_bins: int = 15) -> float:
    """ECE with ``n_bins`` equal-width confidence bins (Krishnan et al. 2021, eq. 6).

    sum_b |B_b|/n * |acc(B_b) - conf(B_b)|, confidence = max_c p_c, bins (0, 1/M], ..., ((M-1)/M, 1]
    (a confidence of exactly 0 goes to the first bin).

    Args:
        y_true: (n,) class indices.
        proba: (n, K) predicted probabilities.
    """
    proba = np.asarray(proba, dtype=float)
    conf = proba.max(axis=1)
    correct = proba.argmax(axis=1) == np.asarray(y_true)
    bins = np.clip(np.ceil(conf * n_bins).astype(np.int64) - 1, 0, n_bins - 1)
    ece = 0.0
    for b in np.unique(bins):
        m = bins == b
        ece += m.mean() * abs(correct[m].mean() - conf[m].mean())
    return float(ece)


def brier_score(y_true: np.ndarray, proba: np.ndarray) -> float:
    """Multi-class Brier score (Krishnan et al. 2021): mean over examples of sum_c (p_c - 1[y =
    c])^2, in [0, 2].

    Equals scikit-learn's ``brier_score_loss(y, proba, labels=range(K), scale_by_half=False)``
    (tested); that call is not used here because it rejects a probability a hair above 1 and
    warns on every float32 probability row whose float64 sum is off by 1e-7.

    Args:
        y_true: (n,) class indices.
        proba: (n, K) predicted probabilities.
    """
    proba = np.asarray(proba, dtype=float)
    return float(np.mean(np.sum((proba - _onehot(y_true, proba.shape[1])) ** 2, axis=1)))


def calibration_metrics(y_true: np.ndarray, proba: np.ndarray) -> dict[str, float]:
    """ECE (15 bins) and Brier score of ``proba`` (n, K) against ``y_true`` (n,) (Krishnan et al.
    2021)."""
    return {"ece": expected_calibration_error(y_true, proba),
            "brier": brier_score(y_true, proba)}


def per_group_accuracy(y_true: np.ndarray, y_pred: np.ndarray, groups: np.ndarray
                       ) -> dict[int, float]:
    """Accuracy within each group (Pretrained Models Are Good Active Learners, 2021: the four
    bird/background groups of Waterbirds).

    Args:
        y_true, y_pred, groups: (n,) arrays; groups are any hashable ids.

    Returns:
        {group: accuracy} in sorted group order.
    """
    y_true, y_pred, groups = map(np.asarray, (y_true, y_pred, groups))
    return {g.item() if hasattr(g, "item") else g: float(np.mean(y_pred[groups == g]
                                                                 == y_true[groups == g]))
            for g in np.unique(groups)}


def worst_group_accuracy(y_true: np.ndarray, y_pred: np.ndarray, groups: np.ndarray) -> float:
    """The lowest per-group accuracy (Pretrained Models Are Good Active Learners, 2021), see
    :func:`per_group_accuracy`."""
    return float(min(per_group_accuracy(y_true, y_pred, groups).values()))


def minority_average_precision(y_true: np.ndarray, proba: np.ndarray, minority: int = 1) -> float:
    """Average precision of the minority class (An Empirical Study of Deep Active Learning, 2021,
    imbalanced binary 1:19).

    Ranks the test examples by p_minority and scores that ranking with scikit-learn's
    ``average_precision_score`` against y == minority.

    Args:
        y_true: (n,) class indices.
        proba: (n, K) predicted probabilities; column ``minority`` is used.
    """
    from sklearn.metrics import average_precision_score

    return float(average_precision_score(np.asarray(y_true) == minority,
                                         np.asarray(proba)[:, minority]))


def clean_pick_fraction(picked_is_noisy: np.ndarray) -> float:
    """Share of picks that are clean (Khosla et al. 2022, Tables 3-4: "% clean picks"), in [0, 1].

    Args:
        picked_is_noisy: (b,) bool, True where the picked example is one of the noisy ones.
    """
    v = np.asarray(picked_is_noisy, dtype=bool)
    return float("nan") if v.size == 0 else float(1.0 - v.mean())


def group_oversampling(pick_groups: np.ndarray, pool_groups: np.ndarray) -> dict[int, float]:
    """Per-group oversampling (Pretrained Models Are Good Active Learners, 2021, Fig. 4): share of a
    group among the picks divided by its share in the pool the picks were drawn from, minus 1. 0 =
    as random; 1 = picked twice as often.

    Args:
        pick_groups: (b,) group of each pick.
        pool_groups: (n,) group of each item of the (unlabeled) pool.

    Returns:
        {group: oversampling} for every group present in the pool.
    """
    pick_groups, pool_groups = np.asarray(pick_groups), np.asarray(pool_groups)
    out = {}
    for g in np.unique(pool_groups):
        share_pool = np.mean(pool_groups == g)
        share_picks = np.mean(pick_groups == g) if pick_groups.size else float("nan")
        out[g.item() if hasattr(g, "item") else g] = float(share_picks / share_pool - 1.0)
    return out


def class_counts(labels: np.ndarray, n_classes: int) -> np.ndarray:
    """(K,) number of examples of each class among ``labels`` (n,) class indices."""
    return np.bincount(np.asarray(labels, dtype=np.int64), minlength=n_classes)


def imbalance_profile(labels: np.ndarray, n_classes: int) -> np.ndarray:
    """Imbalance profile of a labeled set (Aggarwal et al. 2022, Fig. 4): per-class counts, sorted
    largest first, (K,) int."""
    return np.sort(class_counts(labels, n_classes))[::-1]


def imbalance_ratio(counts: np.ndarray) -> float:
    """Imbalance ratio ir = sigma / mu of per-class counts (Aggarwal et al. 2022, Table 2;
    population std).

    0 for a balanced set. Args: counts (K,) per-class counts.
    """
    c = np.asarray(counts, dtype=float)
    return float(c.std() / c.mean()) if c.mean() > 0 else float("nan")


def sampling_bias(labels: np.ndarray, n_classes: int) -> float:
    """Sampling bias of a labeled set (Krishnan et al. 2021, eq. 4-5): 1 - H(class distribution) /
    log K.

    0 when the labeled set is perfectly balanced, 1 when it holds a single class.

    Args:
        labels: (m,) class indices of the labeled set.
        n_classes: K.
    """
    counts = class_counts(labels, n_classes).astype(float)
    p = counts[counts > 0] / counts.sum()
    return float(1.0 - (-(p * np.log(p)).sum()) / np.log(n_classes))


def relative_query_time(seconds: float, entropy_seconds: float) -> float:
    """Query time relative to entropy sampling's in the same setting (Krishnan et al. 2021, Table
    1)."""
    return float(seconds) / float(entropy_seconds) if entropy_seconds > 0 else float("nan")


def ood_auroc(scores_in: np.ndarray, scores_out: np.ndarray, higher_means_ood: bool = True
              ) -> float:
    """AUROC of separating out-of-distribution from in-distribution inputs by a strategy's own
    acquisition score (Krishnan et al. 2021, Fig. 4a).

    Args:
        scores_in: (n_in,) scores of in-distribution test inputs.
        scores_out: (n_out,) scores of OOD inputs.
        higher_means_ood: True for scores where larger = pick first (entropy, BALD, DFM...);
            False for "lowest first" scores (margin, SCAL's similarity).
    """
    from sklearn.metrics import roc_auc_score

    s = np.concatenate([np.asarray(scores_in, float), np.asarray(scores_out, float)])
    y = np.concatenate([np.zeros(len(scores_in)), np.ones(len(scores_out))])
    return float(roc_auc_score(y, s if higher_means_ood else -s))
