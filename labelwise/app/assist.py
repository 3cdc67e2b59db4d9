"""What the page shows beside an item: the model's suggested class and why the item was picked.

The suggestion comes from the model the project keeps in memory (the engine's last fit, see
:mod:`labelwise.app.model_step`); it is absent during the cold start and right after a restart
until the worker has trained once: a request never trains a model.

The reason is one short sentence per strategy family, built from what the round stored: the
strategy that picked (``rounds.strategy``, ``rounds.info``: cold start or not) and the pick's
strategy score (``queue.score``), with the current model's probabilities where the family is about
the model's uncertainty.
"""

from __future__ import annotations

import json

import numpy as np

#: strategy name -> family (a "+ft" variant belongs to the family of its base strategy)
FAMILIES = {
    "least_confidence": "uncertain", "margin": "uncertain", "entropy": "uncertain",
    "marg_div": "uncertain", "bald": "disagree", "variation_ratio": "disagree",
    "alamp": "shift", "alamp_div": "shift", "random": "random", "rand_div": "random",
    "coreset": "far", "badge": "badge", "lhd": "lhd", "featuresim": "unlike",
    "scal": "unlike", "dfm": "reconstruction", "learning_loss": "loss",
    "typiclust": "typical", "probcover": "typical",
}

#: families whose reason is the model's uncertainty: they name the two most likely classes
_UNSURE = ("uncertain", "disagree", "shift")

_PLAIN = {
    "far": "far from everything labeled so far",
    "typical": "typical of a dense region not yet labeled",
    "badge": "the model is unsure of it and it is unlike the rest of this batch",
    "lhd": "the model and its running average disagree most about it",
    "unlike": "unlike the labeled items of the class the model predicts for it",
    "reconstruction": "poorly explained by the labeled items of the class the model predicts",
    "loss": "the model expects to be most wrong about it",
}


def family(strategy: str) -> str | None:
    """The family of a strategy name (``"margin+ft"`` -> ``"uncertain"``); None if unknown."""
    return FAMILIES.get(strategy.removesuffix("+ft"))


def _pct(p: float) -> str:
    return f"{100 * p:.0f}%"


def _unsure_reason(fam: str, strategy: str, score: float | None,
                   top: list[tuple[str, float]] | None) -> str:
    """The sentence of the uncertainty families: the two most likely classes when the current
    model is at hand, else what the stored score says."""
    if top is not None and len(top) >= 2:
        (c1, p1), (c2, p2) = top[:2]
        if p1 - p2 <= 0.5:
            torn = f"torn between {c1} ({_pct(p1)}) and {c2} ({_pct(p2)})"
            if fam == "shift":
                return f"the model changed its mind about it most since last round and is {torn}"
            return f"the model is {torn}"
        # the model that picked it is a round older than the one that suggests
        return f"last round's model was unsure of it; the model now says {c1} ({_pct(p1)})"
    base = strategy.removesuffix("+ft")
    if fam == "shift":
        return "the model changed its mind about it most since last round"
    if fam == "disagree":
        return "the model's samples disagreed about it"
    if score is not None and base in ("margin", "marg_div"):
        return (f"the model was unsure: its two most likely classes were "
                f"{100 * score:.0f} points apart")
    if score is not None and base == "least_confidence":
        return f"the model's best guess had only {_pct(1 - score)} confidence"
    return "the model was unsure of it"


def why_picked(strategy: str, cold_start: bool, score: float | None = None,
               proba: dict[str, float] | None = None) -> str:
    """One short sentence saying why a strategy picked an item.

    Args:
        strategy: the name of the strategy that picked it (the cold-start one during cold start).
        cold_start: whether the pick came from the cold start (no model could be trained yet).
        score: the pick's strategy score (``queue.score``; None for batch-only selectors).
        proba: the current model's probability per class, or None when no model is at hand.
    """
    fam = family(strategy)
    top = sorted(proba.items(), key=lambda kv: -kv[1]) if proba else None
    if fam == "random":
        if cold_start:
            return "picked at random to get started"
        return ("picked at random among the classes the model predicts"
                if strategy.removesuffix("+ft") == "rand_div" else "picked at random")
    if fam in _UNSURE:
        return _unsure_reason(fam, strategy, score, top)
    if fam in _PLAIN:
        return _PLAIN[fam] + (" (to get started)" if cold_start else "")
    return f"picked by the {strategy} strategy" + (
        f" (score {score:.3g})" if score is not None else "")


def current_probabilities(project, idx: int) -> dict[str, float] | None:
    """The model's probability of each class for item ``idx``, or None when the project holds no
    trained model (cold start, or a restart before the worker's first round).

    Reads the engine the worker built without building one: an engine made here would have no
    model anyway, and building it in a request could race the worker's.
    """
    engine = getattr(project, "_engine", None)
    model = getattr(engine, "model", None)
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
