"""Acquisition scores: pure functions of prediction arrays.

Each takes class probabilities ``p`` of shape (n, K) (rows sum to 1) and returns a score of shape
(n,). Unless a docstring says otherwise, a higher score means "pick first".
"""

from __future__ import annotations

import numpy as np

EPS = 1e-12


def least_confidence(p: np.ndarray) -> np.ndarray:
    """1 - max_c p_c (papers 000; 002 "CONF"). Shape (n, K) -> (n,)."""
    return 1.0 - p.max(axis=1)


def margin(p: np.ndarray) -> np.ndarray:
    """p_(1) - p_(2), the gap between the two most likely classes (002 "MARG", 003).

    Pick the SMALLEST. Shape (n, K) -> (n,).
    """
    top2 = np.partition(p, p.shape[1] - 2, axis=1)[:, -2:]
    return top2[:, 1] - top2[:, 0]


def entropy(p: np.ndarray) -> np.ndarray:
    """-sum_c p_c log p_c, natural log, p clipped at 1e-12 (papers 000, 004). (n, K) -> (n,)."""
    pc = np.clip(p, EPS, 1.0)
    return -(p * np.log(pc)).sum(axis=1)
