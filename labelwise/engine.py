"""The active-learning engine: one round step that every caller shares.

:class:`ActiveLearner` owns the pool, the labeled indices and their labels, the learner spec, the
strategy and last round's model. One round is ``fit`` (train a fresh copy of the learner on the
labels; for a "+ft" strategy, fine-tune it on confident pseudo-labels of the unlabeled pool, as
Khosla et al. 2022, Algorithm 2) followed by ``query`` (the strategy picks among the candidates,
reading this round's model and last round's). The simulated loop
(:func:`labelwise.loop.run_active_learning`), the benchmark grids and the labeling app's worker all
go through it, so a strategy behaves the same everywhere: the same labels and seed give the same
model and, with the same strategy seed, the same picks. Each round fits a fresh clone of the
learner seeded with the engine's ``random_state``; nothing carries from one round's model to the
next (LHD's EMA step counter included), so a model never depends on how many rounds ran before
in this process (docs/round.md). ``warm_start=True`` departs from that on purpose: each round's
fit starts from last round's model (logistic regression's coefficients, a ``partial_fit``
classifier's state, a torch network's weights), which is faster on a large labeled set, and the
model (hence the picks) then depends on the history of rounds, not only on the labels and seed.

Before the labels hold the classes a learner needs (a fresh project, a real pool with no labels),
``query`` falls back to the ``cold_start`` strategy, one that needs no model.

Example::

    al = ActiveLearner(X, learner="logreg", strategy="margin", classes=["cat", "dog"])
    al.teach([3, 17], ["cat", "dog"])
    al.fit()
    picks = al.query(10)            # (10,) pool indices, never labeled ones
"""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass, field

import numpy as np

from labelwise.strategies import SelectionContext, Strategy, get_strategy
from labelwise.validation import (
    LabelwiseError,
    LabelwiseWarning,
    check_features,
    check_indices,
    check_k,
    check_labels,
    plural,
)


@dataclass
class FitInfo:
    """What :meth:`ActiveLearner.fit` did.

    Attributes:
        n_labeled: labels the model was trained on.
        train_seconds: wall time of ``fit`` plus fine-tuning.
        pseudo_labels: what the "+ft" fine-tuning did (e.g. how many confident pseudo-labels it
            used, or why it was skipped), or None for strategies without "+ft".
    """

    n_labeled: int
    train_seconds: float
    pseudo_labels: dict | None = None
    #: whether the fit started from last round's model (``warm_start``, a model, and the
    #: learner could continue it)
    warm_started: bool = False
    #: labels of the model it started from (None: fitted from scratch)
    warm_from: int | None = None
    #: with ``warm_start``, why this fit started from scratch after all (one line), else None
    warm_note: str | None = None


@dataclass
class QueryInfo:
    """What :meth:`ActiveLearner.query` did.

    Attributes:
        strategy: the strategy that picked (the cold-start one when no model could be fitted).
        cold_start: whether the picks came from the cold-start strategy.
        query_seconds: wall time of scoring + selection.
        picks: (k,) the pool indices picked.
    """

    strategy: str
    cold_start: bool
    query_seconds: float
    picks: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=np.int64))


def check_capabilities(strategy: Strategy, learner) -> None:
    """Fail before training when ``learner`` (instance or class) lacks what ``strategy`` needs."""
    from labelwise.learners import learners_with

    name = learner.__name__ if isinstance(learner, type) else type(learner).__name__
    missing = sorted(strategy.needs - set(learner.capabilities))
    if missing:
        cap = missing[0]
        have = learners_with(cap)
        raise LabelwiseError(
            f"strategy {strategy.name!r} needs the learner capability {cap!r}, which "
            f"{name} lacks; learners that have it: {', '.join(have) or 'none'}"
        )


def check_picks(picks, k: int, n_candidates: int, name: str) -> np.ndarray:
    """``picks`` as (k,) int64 positions into the candidates, or a LabelwiseError naming the
    strategy ``name``: a 1-D array of integers (not floats, not booleans), each in
    [0, n_candidates), no duplicates, exactly ``k`` of them. Positions index the candidates,
    which hold no labeled item, so valid positions are never labeled items."""
    where = f"strategy {name!r} broke the selection contract:"
    try:
        arr = np.asarray(picks)
    except Exception as exc:  # a ragged list and the like
        raise LabelwiseError(f"{where} its picks are not an array ({exc})") from None
    if arr.ndim != 1:
        raise LabelwiseError(f"{where} it returned an array of shape {arr.shape}, not (k,)")
    if arr.size and (arr.dtype.kind not in "iu"):
        raise LabelwiseError(f"{where} it returned {arr.dtype} values; picks must be integer "
                             "positions into the candidates")
    if len(arr) != k:
        raise LabelwiseError(f"{where} it returned {len(arr)} picks for k={k}")
    arr = arr.astype(np.int64, copy=False)
    if k and (arr.min() < 0 or arr.max() >= n_candidates):
        bad = arr[(arr < 0) | (arr >= n_candidates)][0]
        raise LabelwiseError(f"{where} pick {bad} is outside the {n_candidates} candidates "
                             f"(positions run from 0 to {n_candidates - 1})")
    if len(np.unique(arr)) != k:
        raise LabelwiseError(f"{where} it returned {k - len(np.unique(arr))} duplicate picks")
    return arr


def select_from(strategy: Strategy, learner, X_pool, labeled_idx, y_labeled, k, candidates,
                previous_learner=None, random_state=None, classes=None,
                pool_cache: dict | None = None,
                pending_idx=None) -> tuple[np.ndarray, SelectionContext]:
    """Run ``strategy`` once on validated arrays; returns (picks as pool indices, the context).

    ``learner`` may be None for strategies that need nothing from a model (cold start); then
    ``classes`` declares the classes. ``pool_cache`` persists across rounds of one pool.
    ``pending_idx``: pool items already picked but not labeled yet (a queued batch).
    """
    # no X_pool[candidates] copy: the context reads the candidates' rows from the pool in blocks
    ctx = SelectionContext(learner, None, X_pool[labeled_idx], y_labeled,
                           previous_learner=previous_learner, random_state=random_state,
                           X_pool=X_pool, candidate_idx=candidates, labeled_idx=labeled_idx,
                           classes=classes, pool_cache=pool_cache, pending_idx=pending_idx)
    pos = check_picks(strategy.select(ctx, k), k, len(candidates), strategy.name)
    ctx.picked_positions = pos
    return candidates[pos], ctx


def fitted_learner(model):
    """``model`` as is when it follows the learner protocol; a fitted scikit-learn classifier
    wrapped (an unfitted one is a LabelwiseError)."""
    from labelwise.learners import BaseLearner, wrap_fitted

    if isinstance(model, BaseLearner) or hasattr(model, "capabilities"):
        return model
    return wrap_fitted(model)


class ActiveLearner:
    """Pool-based active learning state and its one round step.

    Args:
        X_pool: (n, d) features of the whole pool.
        learner: a registered learner name, a labelwise learner, or any scikit-learn classifier
            (wrapped: probabilities, and the features as its embedding). It is never fitted in
            place: each round fits a fresh clone. None: no model ever, for a strategy that needs
            none (random, the cold-start ones); ``classes`` may then be left out.
        strategy: a registered strategy name (``"margin"``, ``"badge+ft"``) or a
            :class:`~labelwise.strategies.Strategy`.
        classes: the declared classes; default: ``learner.classes_`` of a labelwise learner.
        random_state: seeds the learner and, unless ``query`` is given a seed, the strategy.
        learner_params: parameters for a learner given by name.
        cold_start: the strategy used while no model can be fitted (it must need nothing from
            a learner, e.g. ``"random"``).
        labeled_idx, labels: an initial labeled set (as :meth:`teach`).
        warm_start: start each round's fit from last round's model (off by default: the papers
            retrain from scratch every round, and the model then depends only on the labels and
            seed). Only learners that can (``logreg``, ``mlp``, ``ensemble``, ``torch-module``,
            a scikit-learn classifier with ``partial_fit``); others get a LabelwiseError here.
            A round whose model cannot continue the previous one (logreg: the labels hold
            another set of classes) fits from scratch; ``FitInfo.warm_note`` says why.
        executor: ``"ray"`` selects where the shards of a :class:`~labelwise.sharded.ShardedPool`
            live (the default for one); ``ray_address`` names the cluster (None: a local one).
    """

    def __init__(self, X_pool, learner="logreg", strategy="margin", classes=None,
                 random_state: int | None = 0, learner_params: dict | None = None,
                 cold_start="random", labeled_idx=(), labels=(), executor: str | None = None,
                 ray_address: str | None = None, warm_start: bool = False):
        from labelwise.learners import as_learner

        self._sharded = None  # selection where a sharded pool's shards live (labelwise.distributed)
        if executor == "ray" or type(X_pool).__name__ == "ShardedPool":
            from labelwise.distributed import ShardedSelection

            self._sharded = ShardedSelection(X_pool, ray_address)
            self.X_pool = self._sharded.pool  # rows read on demand: the labeled ones to fit
        else:
            self.X_pool = check_features(X_pool, "pool features")
        self.strategy = get_strategy(strategy)
        if self._sharded is not None:
            self._sharded.check_strategy(self.strategy)  # before any training
        self.cold_start = get_strategy(cold_start)
        if self.cold_start.needs:
            raise LabelwiseError(f"cold-start strategy {self.cold_start.name!r} needs a model "
                                 f"({', '.join(sorted(self.cold_start.needs))}); choose one "
                                 "that needs none, e.g. 'random'")
        if learner is None:
            if self.strategy.needs:
                raise LabelwiseError(f"strategy {self.strategy.name!r} needs a fitted learner "
                                     f"({', '.join(sorted(self.strategy.needs))}); pass one")
            self.template = None
            self.classes_ = None if classes is None else np.asarray(classes)
        else:
            self.template = as_learner(learner, classes, random_state=random_state,
                                       **(learner_params or {}))
            check_capabilities(self.strategy, self.template)
            self.classes_ = self.template.classes_
        self.warm_start = bool(warm_start)
        if self.warm_start and not getattr(self.template, "can_warm_start", lambda: False)():
            from labelwise.learners import warm_start_refusal

            raise LabelwiseError(warm_start_refusal(self.template))
        self.random_state = random_state
        self._rng = np.random.default_rng(random_state)
        self.labeled_idx = np.empty(0, dtype=np.int64)
        self.labels = self._no_labels()
        self.model = None
        self.previous_model = None
        self._model_labels: int | None = None  # labels of ``model`` (a warm start's origin)
        self.pool_cache: dict = {}  # what strategies compute once per pool
        if len(labeled_idx):
            self.teach(labeled_idx, labels)

    def close(self) -> None:
        """Release what selection holds outside this process (a sharded pool's Ray workers);
        nothing for a pool in memory."""
        if self._sharded is not None:
            self._sharded.close()

    @classmethod
    def around(cls, X_pool, model, strategy="margin", labeled_idx=(), labels=(),
               previous_model=None, random_state=None) -> ActiveLearner:
        """An engine around a model fitted outside it, ready to :meth:`query` (nothing is
        fitted): how :func:`labelwise.query` selects, so that it takes the engine's route.

        Args:
            model: a fitted labelwise learner or scikit-learn classifier (an unfitted one is a
                LabelwiseError), or None for a strategy that needs no model.
            labeled_idx, labels: (m,) the labeled pool indices and their labels.
            previous_model: last round's fitted model, for strategies that compare rounds.
            random_state: seeds the strategy when ``query`` is given no seed (None: unseeded).
        """
        strategy = get_strategy(strategy)
        # built with no learner and a strategy that needs none, then given the model as is:
        # it is fitted already and never refitted here, so it needs no clone() or fit()
        engine = cls(X_pool, None, "random", random_state=random_state)
        if model is not None:
            model = fitted_learner(model)
            check_capabilities(strategy, model)
            engine.template, engine.classes_ = model, np.asarray(model.classes_)
            engine.labels = engine._no_labels()
        elif strategy.needs:
            raise LabelwiseError(f"strategy {strategy.name!r} needs a fitted learner "
                                 f"({', '.join(sorted(strategy.needs))}); pass one")
        if engine._sharded is not None:
            engine._sharded.check_strategy(strategy)
        engine.strategy = strategy
        if len(labeled_idx):
            engine.teach(labeled_idx, labels)
        engine.model, engine.previous_model = model, previous_model
        return engine

    def _no_labels(self) -> np.ndarray:
        return np.empty(0, dtype=np.float64 if self.classes_ is None else self.classes_.dtype)

    # -- labels --------------------------------------------------------------------------------
    @property
    def n_labeled(self) -> int:
        return len(self.labeled_idx)

    def unlabeled_idx(self) -> np.ndarray:
        """(n - m,) pool indices without a label, ascending."""
        mask = np.ones(len(self.X_pool), dtype=bool)
        mask[self.labeled_idx] = False
        return np.flatnonzero(mask)

    def teach(self, idx, labels) -> None:
        """Add labels for pool items ``idx`` (k,); items already labeled are refused."""
        idx = check_indices(idx, len(self.X_pool), "labeled")
        labels = check_labels(labels, self.classes_, "labels")
        if len(idx) != len(labels):
            raise LabelwiseError(f"{len(idx)} indices but {len(labels)} labels")
        if np.isin(idx, self.labeled_idx).any():
            raise LabelwiseError("some of these items are labeled already")
        self.labeled_idx = np.concatenate([self.labeled_idx, idx])
        # no declared classes (no learner): the labels keep their own dtype
        self.labels = np.concatenate([self.labels, labels]) if len(self.labels) else labels

    def set_labels(self, idx, labels) -> None:
        """Replace the whole labeled set (a project's labels after undo, import, ...)."""
        self.labeled_idx = np.empty(0, dtype=np.int64)
        self.labels = self._no_labels()
        if len(idx):
            self.teach(idx, labels)

    def can_fit(self) -> bool:
        """Whether the labels hold as many classes as the learner needs (never without one)."""
        if self.template is None:
            return False
        return len(np.unique(self.labels)) >= getattr(self.template, "min_classes", 2)

    # -- the round step ------------------------------------------------------------------------
    def fit(self) -> FitInfo:
        """Train a fresh clone of the learner on the labels; last round's model becomes
        ``previous_model``. For a "+ft" strategy, then fine-tune on confident pseudo-labels of the
        unlabeled pool (Khosla et al. 2022, Algorithm 2).

        The model depends only on the labels and the engine's ``random_state`` (docs/round.md,
        "One model per labels and seed"): every round fits a fresh clone of the template, seeded
        with ``random_state``, on the labeled rows in pool order (not teach order), so the app
        after a restart, this engine after ten rounds and ``labelwise run`` fit the same model.
        With ``warm_start`` the clone starts from last round's model instead (``warm_fit``), and
        that rule no longer holds.
        """
        if self.template is None:
            raise LabelwiseError("this engine has no learner to fit; build it with one")
        order = np.argsort(self.labeled_idx, kind="stable")
        rows = self.labeled_idx[order]
        X_l, y_l = self.X_pool[rows], self.labels[order]
        t0 = time.perf_counter()
        if self.warm_start:
            model = self.template.clone().warm_fit(X_l, y_l, self.model)
            # a learner of one's own may not report it: then it started from any model given
            warm = getattr(model, "warm_started_", self.model is not None)
            note = getattr(model, "warm_start_note_", None)
        else:
            model, warm, note = self.template.clone().fit(X_l, y_l), False, None
        pseudo = None
        if self.strategy.finetune:
            out = model.finetune_pseudo_labels(self.X_pool[self.unlabeled_idx()], X_l, y_l)
            pseudo = out if isinstance(out, dict) else getattr(model, "pseudo_label_info_", None)
            pseudo = dict(pseudo) if pseudo is not None else {}
        seconds = time.perf_counter() - t0
        self.previous_model, self.model = self.model, model
        warm_from = self._model_labels if warm else None
        self._model_labels = len(y_l)
        return FitInfo(len(y_l), seconds, pseudo, warm, warm_from, note)

    def fit_or_cold_start(self) -> FitInfo | None:
        """:meth:`fit` when the labels allow it (:meth:`can_fit`); else forget the models, so
        that :meth:`query` picks with the cold-start strategy, and return None. With labels of
        a single class (a one-class seed set, undos) this warns once per call, naming the class:
        the strategy cannot run until another class is labeled."""
        if self.can_fit():
            return self.fit()
        self.model = self.previous_model = None
        present = np.unique(self.labels)
        if len(present) and self.template is not None:
            need = getattr(self.template, "min_classes", 2)
            warnings.warn(
                f"the labels hold only {plural(len(present), 'class', 'classes')} "
                f"({', '.join(map(repr, present.tolist()[:5]))}) and the learner needs {need}: "
                f"no model this round; the cold-start strategy {self.cold_start.name!r} picks "
                "until another class is labeled", LabelwiseWarning, stacklevel=2)
        return None

    def query(self, k: int, candidates=None, random_state=None, pending=None) -> np.ndarray:
        """The next ``k`` pool indices to label (never labeled ones); details in ``last_query``.

        This is the one route to a selection: the simulated loop, the labeling app and the
        Label Studio backend all call it. The strategy's picks are checked (unique integer
        positions of unlabeled candidates, exactly ``k``) and a strategy that breaks the contract
        gets a LabelwiseError naming it.

        Args:
            k: how many to pick (at most the number of candidates).
            candidates: pool indices to choose among (e.g. a random subset of the pool, or the
                items not queued yet); default: every unlabeled item.
            random_state: seed of the strategy's randomness; default: the engine's own stream.
            pending: pool indices picked earlier but not labeled yet (the labeling app's queued
                batches); strategies that spread picks over the pool (TypiClust, ProbCover)
                count them as covered.
        """
        if candidates is None:
            cand = self.unlabeled_idx()
        else:
            cand = check_indices(candidates, len(self.X_pool), "candidate")
            if np.isin(cand, self.labeled_idx).any():
                raise LabelwiseError("candidate indices include items that are already labeled")
        k = check_k(k, len(cand))
        if random_state is None:
            random_state = self._rng.integers(2**32)
        cold = self.model is None and not self.strategy.needs
        strategy, model = self.strategy, self.model
        if self.model is None and self.strategy.needs:
            strategy, model, cold = self.cold_start, None, True
        t0 = time.perf_counter()
        select = self._sharded.select_from if self._sharded is not None else select_from
        picks, ctx = select(strategy, model, self.X_pool, self.labeled_idx, self.labels, k,
                            cand, self.previous_model if model is not None else None,
                            random_state, self.classes_, self.pool_cache,
                            None if pending is None else np.asarray(pending, np.int64))
        seconds = time.perf_counter() - t0
        self.last_query = QueryInfo(strategy.name, cold, seconds, picks)
        self._last = (strategy, ctx)
        return picks

    @property
    def last_context(self) -> SelectionContext:
        """The last query's :class:`SelectionContext` (its arrays are computed already)."""
        return self._last[1]

    def pick_scores(self) -> np.ndarray:
        """(k,) the last query's strategy score of each pick (NaN for batch-only selectors such as
        BADGE and for random picks): what "why was this picked" shows. The score is the one the
        selection ranked by, read from the context's memo when the selection computed it."""
        strategy, ctx = self._last
        pos = ctx.picked_positions
        if strategy.score is None or not strategy.needs:
            return np.full(len(pos), np.nan)
        return np.asarray(ctx.score_of(strategy.score), dtype=float)[pos]

    def step(self, k: int, candidates=None, random_state=None, pending=None) -> np.ndarray:
        """One round: :meth:`fit` when the labels allow it, then :meth:`query` (from the
        cold-start strategy when they do not, e.g. after undos left one class)."""
        self.last_fit = self.fit_or_cold_start()
        return self.query(k, candidates, random_state, pending)
