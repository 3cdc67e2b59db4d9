"""The selection context: the model's outputs on the candidates, computed lazily, once per round.

A strategy never trains a model or touches files; it reads arrays from a :class:`SelectionContext`.
Each array is computed on first access and cached, so a strategy that needs ``proba`` twice (or a
score and a selector that both need it) costs one forward pass.

The model's outputs on the candidates (``proba``, ``previous_proba``, ``samples``,
``predicted_loss``...) are computed in blocks of rows read straight from the pool
(:data:`BLOCK_BYTES` of features at a time): a score-based strategy (margin, entropy, BALD...)
never holds a copy of the candidates' features, so a round on a memory-mapped pool holds one
block of it at a time. ``X_candidates`` itself (what k-center, BADGE and TypiClust read) is
gathered on first access only.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cached_property

import numpy as np

#: bytes of candidate features a blocked forward pass reads from the pool at a time
BLOCK_BYTES = 32 * 2**20


def block_rows(n_features: int, itemsize: int = 4, block_bytes: int | None = None) -> int:
    """Rows of ``n_features`` values of ``itemsize`` bytes that fit in ``block_bytes`` (default
    :data:`BLOCK_BYTES`), at least 1."""
    block_bytes = BLOCK_BYTES if block_bytes is None else block_bytes
    return max(1, int(block_bytes) // max(1, int(n_features) * int(itemsize)))


class SelectionContext:
    """What a strategy may read in one round.

    Args:
        learner: the model fitted on the labeled set this round, or None before any model exists
            (cold start: only strategies that need nothing from a learner can run).
        X_candidates: (n, d) features of the unlabeled items the strategy may pick from; None
            with ``X_pool`` and ``candidate_idx`` given (the engine's way): then the rows are read
            from the pool block by block, and gathered into one array only if a strategy reads
            ``X_candidates``.
        X_labeled: (m, d) features of the labeled set.
        y_labeled: (m,) labels of the labeled set (values of ``learner.classes_``).
        previous_learner: last round's fitted model, or None in the first round.
        random_state: seed or Generator for the strategy's own randomness.
        X_pool: (N, d) the whole pool (labeled, candidates and items neither, such as queued or
            skipped ones), for strategies that model the pool's density (TypiClust); default:
            the candidates and the labeled set stacked.
        candidate_idx, labeled_idx: (n,) and (m,) rows of ``X_pool`` that are the candidates and
            the labeled set (given together with ``X_pool``).
        classes: the declared classes, when there is no learner to declare them (cold start).
        pool_cache: a dict that lives as long as the pool (the engine keeps one), for what a
            strategy computes once per pool rather than once per round (ProbCover's radius).
        pending_idx: rows of ``X_pool`` picked earlier but not labeled yet (queued batches).

    Lazily computed attributes: ``proba`` (n, K), ``embedding`` (n, d'), ``labeled_embedding``
    (m, d'), ``labeled_class_idx`` (m,) class indices, ``previous_proba`` (n, K) or None,
    ``samples`` (T, n, K) stochastic predictions, ``ema_outputs`` (dict of main/EMA proba and
    embeddings, Khosla et al. 2022), ``predicted_loss`` (n,). Any of them may be set directly (e.g.
    by a benchmark or a test that feeds arrays instead of a learner): an assigned value is used as
    is.
    """

    def __init__(self, learner, X_candidates, X_labeled, y_labeled, previous_learner=None,
                 random_state=None, X_pool=None, candidate_idx=None, labeled_idx=None,
                 classes=None, pool_cache: dict | None = None, pending_idx=None):
        self.learner = learner
        self.pending_idx = np.zeros(0, np.int64) if pending_idx is None else pending_idx
        self.classes = classes
        self.pool_cache = {} if pool_cache is None else pool_cache
        if X_pool is not None:
            self.X_pool = X_pool
            self.candidate_idx = np.asarray(candidate_idx, dtype=np.int64)
            self.labeled_idx = np.asarray(labeled_idx, dtype=np.int64)
        if X_candidates is not None:
            self.X_candidates = X_candidates
        elif X_pool is None:
            raise ValueError("SelectionContext needs X_candidates, or X_pool and candidate_idx")
        self.X_labeled = X_labeled
        self.y_labeled = y_labeled
        self.previous_learner = previous_learner
        self.rng = np.random.default_rng(random_state)

    def score_of(self, score) -> np.ndarray:
        """``score(self)``, computed once per context (a selector and an explanation share it)."""
        memo = self.__dict__.setdefault("_score_memo", {})
        if score not in memo:
            memo[score] = score(self)
        return memo[score]

    @property
    def n_candidates(self) -> int:
        if "X_candidates" in self.__dict__:
            return len(self.X_candidates)
        return len(self.candidate_idx)

    @property
    def n_classes(self) -> int:
        if self.learner is not None:
            return len(self.learner.classes_)
        if self.classes is not None:
            return len(self.classes)
        return max(len(np.unique(self.y_labeled)), 2)

    @cached_property
    def X_candidates(self) -> np.ndarray:
        """(n, d) the candidates' features, gathered from the pool on first access (strategies
        that work on the features: k-center, BADGE, TypiClust, ProbCover...)."""
        return self.X_pool[self.candidate_idx]

    def candidate_source(self) -> tuple[np.ndarray, np.ndarray | None]:
        """``(X, rows)``: the candidates are rows ``rows`` of ``X`` (the pool and
        ``candidate_idx``), or all of ``X`` (``X_candidates``, rows None) when that is at hand.
        For a strategy that needs every candidate's features at once and gathers them into an
        array of its own (TypiClust's normalised pool): no gathered copy of the candidates."""
        if "X_candidates" in self.__dict__ or "candidate_idx" not in self.__dict__:
            return self.X_candidates, None
        return self.X_pool, self.candidate_idx

    def candidate_block(self, start: int, stop: int) -> np.ndarray:
        """(stop - start, d) the features of candidates ``start:stop``, read from the pool (or
        sliced from ``X_candidates`` when that is at hand)."""
        if "X_candidates" in self.__dict__:
            return self.X_candidates[start:stop]
        return self.X_pool[self.candidate_idx[start:stop]]

    def blockwise(self, fn: Callable[[np.ndarray], np.ndarray], axis: int = 0) -> np.ndarray:
        """``fn`` (features (b, d) -> array with b along ``axis``) over the candidates, a block
        of :func:`block_rows` at a time, the results joined along ``axis``: the same as
        ``fn(X_candidates)`` without a copy of the candidates' features.

        When the candidates are ascending rows of the pool and at least half of the rows they
        span (the engine's unlabeled items), each block is a slice of the pool (a view: no copy,
        read in order from a memory map) and ``fn``'s rows of the candidates in it are kept (a
        block where they are fewer than half its rows gathers them instead); other candidates
        (a subsample) are gathered a block at a time. One block is held at a time.
        """
        if "X_candidates" in self.__dict__ or "candidate_idx" not in self.__dict__:
            return self._blockwise_gathered(fn, axis)
        idx, X = self.candidate_idx, self.X_pool
        if len(idx) == 0 or 2 * len(idx) < idx[-1] + 1 - idx[0] or np.any(np.diff(idx) <= 0):
            return self._blockwise_gathered(fn, axis)  # sparse or unordered candidates
        step = block_rows(X.shape[1], X.dtype.itemsize)
        first, last = int(idx[0]), int(idx[-1]) + 1
        out = None
        for a in range(first, last, step):
            b = min(a + step, last)
            lo, hi = np.searchsorted(idx, [a, b])
            if hi == lo:
                continue
            if 2 * (hi - lo) >= b - a:  # dense: score the slice, keep the candidates' rows
                part = np.take(np.asarray(fn(X[a:b])), idx[lo:hi] - a, axis=axis)
            else:
                part = np.asarray(fn(X[idx[lo:hi]]))
            out = self._put(out, part, lo, axis)
            del part
        return out

    def _blockwise_gathered(self, fn, axis: int) -> np.ndarray:
        """:meth:`blockwise` for any candidates: each block's rows gathered (or sliced from
        ``X_candidates``)."""
        X = self.X_candidates if "X_candidates" in self.__dict__ else self.X_pool
        n, step = self.n_candidates, block_rows(X.shape[1], X.dtype.itemsize)
        if n == 0:
            return np.asarray(fn(self.candidate_block(0, 0)))
        out = None
        for i in range(0, n, step):
            block = self.candidate_block(i, min(i + step, n))
            part = np.asarray(fn(block))
            del block  # released before the next block is read
            out = self._put(out, part, i, axis)
            del part
        return out

    def _put(self, out, part: np.ndarray, start: int, axis: int) -> np.ndarray:
        """Write ``part`` at candidate ``start`` along ``axis`` of ``out`` (allocated on the
        first block, with n_candidates along ``axis``)."""
        if out is None:
            shape = list(part.shape)
            shape[axis] = self.n_candidates
            out = np.empty(shape, dtype=part.dtype)
        index = [slice(None)] * part.ndim
        index[axis] = slice(start, start + part.shape[axis])
        out[tuple(index)] = part
        return out

    @cached_property
    def X_covered(self) -> np.ndarray:
        """(m + q, d) the labeled items and those picked but not labeled yet: what a strategy
        that spreads picks over the pool treats as covered."""
        if len(self.pending_idx) == 0:
            return self.X_labeled
        return np.concatenate([self.X_labeled, self.X_pool[self.pending_idx]])

    @cached_property
    def X_pool(self) -> np.ndarray:
        """(N, d) the whole pool; by default the candidates followed by the labeled set."""
        return np.concatenate([self.X_candidates, self.X_labeled])

    @cached_property
    def candidate_idx(self) -> np.ndarray:
        """(n,) rows of ``X_pool`` holding the candidates."""
        return np.arange(self.n_candidates)

    @cached_property
    def labeled_idx(self) -> np.ndarray:
        """(m,) rows of ``X_pool`` holding the labeled set."""
        return np.arange(self.n_candidates, self.n_candidates + len(self.X_labeled))

    @cached_property
    def proba(self) -> np.ndarray:
        """(n, K) this round's model on the candidates (blocked)."""
        return self.blockwise(self.learner.predict_proba)

    @cached_property
    def embedding(self) -> np.ndarray:
        return self.learner.embed(self.X_candidates)

    @cached_property
    def labeled_embedding(self) -> np.ndarray:
        return self.learner.embed(self.X_labeled)

    @cached_property
    def labeled_class_idx(self) -> np.ndarray:
        return self.learner.encode(self.y_labeled)

    @cached_property
    def previous_proba(self) -> np.ndarray | None:
        if self.previous_learner is None:
            return None
        return self.blockwise(self.previous_learner.predict_proba)

    @cached_property
    def compared_proba(self) -> tuple[np.ndarray | None, np.ndarray]:
        """(previous, current) probabilities on the candidates on ONE scale, for strategies that
        compare rounds (alamp): when the two models map scores to probabilities differently (the
        SVM switches to Platt scaling once every class has 5 labels), both are read through the
        mapping they share (:func:`labelwise.protocol.shared_proba_mapping`)."""
        from labelwise.protocol import shared_proba_mapping

        mapping = shared_proba_mapping(self.previous_learner, self.learner)
        if mapping is None:
            return self.previous_proba, self.proba
        return (self.blockwise(lambda X: self.previous_learner.predict_proba_as(X, mapping)),
                self.blockwise(lambda X: self.learner.predict_proba_as(X, mapping)))

    @cached_property
    def predicted_class(self) -> np.ndarray:
        """(n,) argmax of ``proba``: the current model's predicted class index."""
        return self.proba.argmax(axis=1)

    @cached_property
    def previous_predicted_class(self) -> np.ndarray | None:
        """(n,) argmax of ``previous_proba``, or None in the first round."""
        prev = self.previous_proba
        return None if prev is None else prev.argmax(axis=1)

    @cached_property
    def samples(self) -> np.ndarray:
        """(T, n, K) MC-dropout passes or ensemble members (``learner.sample_proba``)."""
        return self.blockwise(self.learner.sample_proba, axis=1)

    @cached_property
    def ema_outputs(self) -> dict:
        """Main and EMA model outputs at the LHD snapshot (``learner.ema_outputs``, Khosla et al.
        2022)."""
        return self.learner.ema_outputs(self.X_candidates)

    @cached_property
    def predicted_loss(self) -> np.ndarray:
        """(n,) the loss-prediction module's output (``learner.predict_loss``, Learning Loss)."""
        return self.blockwise(self.learner.predict_loss)
