"""The selection context: the model's outputs on the candidates, computed lazily, once per round.

A strategy never trains a model or touches files; it reads arrays from a :class:`SelectionContext`.
Each array is computed on first access and cached, so a strategy that needs ``proba`` twice (or a
score and a selector that both need it) costs one forward pass.
"""

from __future__ import annotations

from functools import cached_property

import numpy as np


class SelectionContext:
    """What a strategy may read in one round.

    Args:
        learner: the model fitted on the labeled set this round, or None before any model exists
            (cold start: only strategies that need nothing from a learner can run).
        X_candidates: (n, d) features of the unlabeled items the strategy may pick from.
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
        self.X_candidates = X_candidates
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
        return len(self.X_candidates)

    @property
    def n_classes(self) -> int:
        if self.learner is not None:
            return len(self.learner.classes_)
        if self.classes is not None:
            return len(self.classes)
        return max(len(np.unique(self.y_labeled)), 2)

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
        return self.learner.predict_proba(self.X_candidates)

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
        return self.previous_learner.predict_proba(self.X_candidates)

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
        return (self.previous_learner.predict_proba_as(self.X_candidates, mapping),
                self.learner.predict_proba_as(self.X_candidates, mapping))

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
        return self.learner.sample_proba(self.X_candidates)

    @cached_property
    def ema_outputs(self) -> dict:
        """Main and EMA model outputs at the LHD snapshot (``learner.ema_outputs``, Khosla et al.
        2022)."""
        return self.learner.ema_outputs(self.X_candidates)

    @cached_property
    def predicted_loss(self) -> np.ndarray:
        """(n,) the loss-prediction module's output (``learner.predict_loss``, Learning Loss)."""
        return self.learner.predict_loss(self.X_candidates)
