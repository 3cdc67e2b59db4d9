"""What the page shows beside an item: the model's suggested class and why the item was picked.

The suggestion comes from the model the project keeps in memory (the engine's last fit, see
:mod:`labelwise.app.model_step`); it is absent during the cold start and right after a restart
until the worker has trained once: a request never trains a model.

The reason is the picking strategy's own sentence (its ``family``, ``reason`` and
``score_reason``, given where it is registered in :mod:`labelwise.strategies.registry`), built
from what the round stored: the strategy that picked (``rounds.strategy``, ``rounds.info``: cold
start or not) and the pick's strategy score (``queue.score``), with the current model's
probabilities where the family is about the model's uncertainty.
"""

from __future__ import annotations

import json

import numpy as np

#: families whose reason is the model's uncertainty: they name the two most likely classes
_UNSURE = ("uncertain", "disagree", "shift")


def _registered(strategy: str):
    """The registered strategy of that name ("+ft" variants included), or None if unknown."""
    from labelwise.strategies import get_strategy
    from labelwise.validation import LabelwiseError

    try:
        return get_strategy(strategy)
    except LabelwiseError:
        return None


def family(strategy: str) -> str | None:
    """The family of a strategy name (``"margin+ft"`` -> ``"uncertain"``); None if unknown."""
    s = _registered(strategy)
    return (s.family or None) if s is not None else None


def _pct(p: float) -> str:
    return f"{100 * p:.0f}%"


def _torn(fam: str, top: list[tuple[str, float]]) -> str:
    """The sentence of the uncertainty families when the current model is at hand: the two most
    likely classes, or what the model says now if it has made up its mind since the pick."""
    (c1, p1), (c2, p2) = top[:2]
    if p1 - p2 <= 0.5:
        torn = f"torn between {c1} ({_pct(p1)}) and {c2} ({_pct(p2)})"
        if fam == "shift":
            return f"the model changed its mind about it most since last round and is {torn}"
        return f"the model is {torn}"
    # the model that picked it is a round older than the one that suggests
    return f"last round's model was unsure of it; the model now says {c1} ({_pct(p1)})"


def why_picked(strategy: str, cold_start: bool, score: float | None = None,
               proba: dict[str, float] | None = None) -> str:
    """One short sentence saying why a strategy picked an item.

    Args:
        strategy: the name of the strategy that picked it (the cold-start one during cold start).
        cold_start: whether the pick came from the cold start (no model could be trained yet).
        score: the pick's strategy score (``queue.score``; None for batch-only selectors).
        proba: the current model's probability per class, or None when no model is at hand.
    """
    s = _registered(strategy)
    if s is None or not s.reason:
        return f"picked by the {strategy} strategy" + (
            f" (score {score:.3g})" if score is not None else "")
    if s.family == "random" and cold_start:
        return "picked at random to get started"
    top = sorted(proba.items(), key=lambda kv: -kv[1]) if proba else None
    if s.family in _UNSURE and top is not None and len(top) >= 2:
        return _torn(s.family, top)
    if score is not None and s.score_reason:
        return s.score_reason.format(score=score, pct=100 * score, rest_pct=100 * (1 - score))
    return s.reason + (" (to get started)" if cold_start and s.family != "random" else "")


def current_probabilities(project, idx: int) -> dict[str, float] | None:
    """The model's probability of each class for item ``idx``, or None when the project holds no
    trained model (cold start, or a restart before the worker's first round).

    Reads the engine the worker built without building one: an engine made here would have no
    model anyway, and building it in a request could race the worker's.
    """
    engine = project.current_engine()
    model = None if engine is None else engine.model
    if model is None:
        return None
    p = np.asarray(model.predict_proba(project.features[idx:idx + 1]), dtype=float)[0]
    return {str(c): float(v) for c, v in zip(model.classes_, p, strict=True)}


def item_assist(project, idx: int) -> dict:
    """What the page shows beside item ``idx``.

    Returns:
        ``{"suggestion": {"label", "probability"} or None, "probabilities": {class: p} or None,
        "why": sentence or None (an item not in the queue), "picked_by": strategy or None,
        "cold_start": bool or None, "score": float or None}``.
    """
    proba = current_probabilities(project, idx)
    out = {"suggestion": None, "probabilities": proba, "why": None, "picked_by": None,
           "cold_start": None, "score": None}
    if proba:
        label = max(proba, key=proba.get)
        out["suggestion"] = {"label": label, "probability": proba[label]}
    row = project.conn.execute(
        "SELECT q.score, r.strategy, r.info FROM queue q JOIN rounds r ON r.round = q.round "
        "WHERE q.item_idx = ?", (idx,)).fetchone()
    if row is not None:
        score, strategy, info = row
        info = json.loads(info) if info else {}
        strategy = info.get("strategy", strategy)
        cold = bool(info.get("cold_start", False))
        out.update(picked_by=strategy, cold_start=cold, score=score,
                   why=why_picked(strategy, cold, score, proba))
    return out
