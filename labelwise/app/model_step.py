"""The model's round in the app: the shared engine trains, fine-tunes and picks the next batch.

The worker thread calls :meth:`ModelStep.prepare_next_batch`; the engine
(:class:`labelwise.engine.ActiveLearner`) is the same one the simulations use, so a strategy picks
the same items here as in ``labelwise run`` for the same labels and seed.
"""

from __future__ import annotations

import json
import time

import numpy as np

from labelwise.app import db
from labelwise.validation import LabelwiseError


def cross_validated_accuracy(learner, X: np.ndarray, y: np.ndarray,
                             random_state: int = 0, n_splits: int = 5) -> float | None:
    """Stratified k-fold accuracy of ``learner`` on the labels so far (scikit-learn's
    ``cross_val_score``; each fold fits a clone).

    The folds are fixed by ``random_state`` (the project's seed, not the round's), so the estimate
    does not jump between rounds when the labels did not change.

    Args:
        learner: an unfitted or fitted learner (cloned per fold).
        X: (m, d) features of the labeled items; y: (m,) their labels.
        n_splits: at most this many folds (fewer when no class has that many labels).

    Returns:
        The mean accuracy over the folds that could be fitted (a fold whose training part lacks
        two classes is left out), or None with fewer than 4 labels or 2 classes.
    """
    import warnings

    from sklearn.model_selection import StratifiedKFold, cross_val_score

    _, counts = np.unique(y, return_counts=True)
    if len(counts) < 2 or len(y) < 4:
        return None
    k = int(min(n_splits, counts.max()))
    if k < 2:
        return None
    folds = StratifiedKFold(k, shuffle=True, random_state=random_state)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # small classes; folds left out when they cannot fit
        scores = cross_val_score(learner, X, y, cv=folds, error_score=np.nan)
    scores = scores[np.isfinite(scores)]
    return float(scores.mean()) if len(scores) else None


class ModelStep:
    """The model side of :class:`labelwise.app.project.Project` (a mixin).

    The project keeps one :class:`~labelwise.engine.ActiveLearner` in memory for the worker, so
    last round's model is at hand for strategies that compare rounds (alamp); after a restart it
    is refitted once on the labels that round used (found from the round's label watermark).
    """

    def engine(self):
        """The project's engine over its features (built once; thread: the worker's)."""
        from labelwise.engine import ActiveLearner

        if getattr(self, "_engine", None) is None:
            s = self.settings
            self._engine = ActiveLearner(
                self.features, s["learner"], s["strategy"], classes=self.classes,
                random_state=s["random_state"], learner_params=s.get("learner_params") or {},
                cold_start=s.get("cold_start", "random"))
        return self._engine

    def _learner(self):
        """An unfitted learner as the project's settings describe it."""
        return self.engine().template.clone()

    def _restore_previous_model(self, engine, conn) -> None:
        """After a restart, refit last round's model once for strategies that compare rounds."""
        if engine.model is not None or not engine.strategy.compares_rounds:
            return
        row = conn.execute("SELECT info FROM rounds WHERE info IS NOT NULL AND "
                           "json_extract(info, '$.fitted') ORDER BY round DESC LIMIT 1"
                           ).fetchone()
        if row is None:
            return
        info = json.loads(row[0])
        idx, y = self.labeled_arrays(upto=(info["label_watermark"], info["snapshot_at"]))
        engine.set_labels(idx, y)
        if engine.can_fit():
            engine.fit()

    def prepare_next_batch(self) -> dict | None:
        """Queue the next batch when none is prepared ahead (what the background worker runs).

        One engine round on every label in force: fit (and "+ft" fine-tuning), then the strategy
        picks ``batch_size`` items among those neither labeled, skipped nor queued, seeing last
        round's model; with labels of fewer than 2 classes the cold-start strategy picks. The
        batch is stored as round ``status='next'`` (``'current'`` when no batch is open) with what
        the engine did (``rounds.info``: strategy, cold start, pseudo-labels, label watermark) and
        each pick's strategy score (``queue.score``, "why this item").

        Returns:
            ``{"round", "size", "strategy", "cv_accuracy", "train_seconds", "select_seconds",
            "n_labels", "cv_seconds", "cold_start", "pseudo_labels"}``; the batch is committed
            (and served) before the cross-validated accuracy is computed and stored with its
            round; or None when a batch is already prepared or the pool is exhausted.
        """
        conn = self.conn
        engine = self.engine()
        conn.execute("BEGIN")  # a consistent snapshot of the labels and the queue
        try:
            if conn.execute("SELECT 1 FROM rounds WHERE status = 'next'").fetchone():
                return None
            if conn.execute("SELECT 1 FROM rounds WHERE status = 'current'").fetchone() is None \
                    and conn.execute("SELECT 1 FROM rounds").fetchone() is not None \
                    and self._pool_left(conn) == 0:
                return None
            snapshot_at = time.time()
            watermark = conn.execute("SELECT coalesce(max(id), 0) FROM labels").fetchone()[0]
            labeled_idx, y = self.labeled_arrays()
            queued = np.array([r[0] for r in conn.execute("SELECT item_idx FROM queue")] +
                              [r[0] for r in conn.execute("SELECT item_idx FROM skips")],
                              dtype=np.int64)
            new_round = (conn.execute("SELECT max(round) FROM rounds").fetchone()[0] or 0) + 1
        finally:
            conn.execute("COMMIT")
        taken = np.zeros(self.n_items, dtype=bool)
        taken[labeled_idx] = True
        taken[queued] = True
        candidates = np.flatnonzero(~taken)
        if len(candidates) == 0:
            return None
        k = min(int(self.settings["batch_size"]), len(candidates))
        seed = int(self.settings["random_state"]) + new_round
        self._restore_previous_model(engine, conn)
        engine.set_labels(labeled_idx, y)
        picks = engine.step(k, candidates, random_state=seed)
        fit, query = engine.last_fit, engine.last_query
        scores = engine.pick_scores()
        info = {"strategy": query.strategy, "cold_start": query.cold_start,
                "fitted": fit is not None, "label_watermark": int(watermark),
                "snapshot_at": snapshot_at,
                "pseudo_labels": fit.pseudo_labels if fit is not None else None}
        train_s = fit.train_seconds if fit is not None else 0.0
        with db.transaction(conn):
            if conn.execute("SELECT 1 FROM rounds WHERE status = 'next'").fetchone():
                return None
            still = {r[0] for r in conn.execute(
                "SELECT item_idx FROM queue UNION SELECT item_idx FROM skips UNION "
                "SELECT item_idx FROM labels WHERE undone_at IS NULL")}
            keep = [j for j, i in enumerate(picks) if int(i) not in still]
            if not keep:
                return None
            new_round = (conn.execute("SELECT max(round) FROM rounds").fetchone()[0] or 0) + 1
            conn.execute("INSERT INTO rounds (round, status, created, n_labels, strategy, "
                         "cv_accuracy, train_seconds, select_seconds, info) "
                         "VALUES (?, 'next', ?, ?, ?, NULL, ?, ?, ?)",
                         (new_round, time.time(), len(y), query.strategy, train_s,
                          query.query_seconds, json.dumps(info)))
            conn.executemany(
                "INSERT INTO queue (round, position, item_idx, score) VALUES (?, ?, ?, ?)",
                [(new_round, pos, int(picks[j]),
                  None if np.isnan(scores[j]) else float(scores[j]))
                 for pos, j in enumerate(keep)])
            self._advance(conn)
        t0 = time.perf_counter()
        cv = None
        if fit is not None:  # the batch is served already; the accuracy estimate feeds the chart
            cv = cross_validated_accuracy(engine.template, self.features[labeled_idx], y,
                                          random_state=int(self.settings["random_state"]))
            info.update(self._stopping(conn, engine, new_round, len(y), cv))
            with db.transaction(conn):
                conn.execute("UPDATE rounds SET cv_accuracy = ?, info = ? WHERE round = ?",
                             (cv, json.dumps(info), new_round))
        return {"round": new_round, "size": len(keep), "strategy": query.strategy,
                "cv_accuracy": cv, "train_seconds": train_s,
                "select_seconds": query.query_seconds, "n_labels": len(y),
                "cv_seconds": time.perf_counter() - t0, "cold_start": query.cold_start,
                "pseudo_labels": info["pseudo_labels"]}

    def _stopping(self, conn, engine, new_round: int, n_labels: int, cv) -> dict:
        """The stopping criteria after this round's model (:mod:`labelwise.stopping`).

        Successive models are compared on a fixed stop set of items (drawn once from the
        project's seed). Batches prepared ahead from the same labels give the same model, so a
        round counts only when it was trained on more labels than the last counted one.

        Returns:
            ``{"stop_pred": (s,) predicted classes on the stop set, "kappa": agreement with the
            last counted model or None, "stopping": {criterion: {"value", "stop"}}}``.
        """
        from labelwise import stopping as S

        history = []
        for n, acc, raw in conn.execute("SELECT n_labels, cv_accuracy, info FROM rounds "
                                        "WHERE round < ? ORDER BY round", (new_round,)):
            rec = json.loads(raw) if raw else {}
            if rec.get("stop_pred") is not None:
                history.append((n, acc, rec))
        if history and history[-1][0] >= n_labels:  # the same labels: nothing new to judge
            last = history[-1][2]
            return {"stop_pred": last["stop_pred"], "kappa": None,
                    "stopping": last.get("stopping")}
        stop_set = S.draw_stop_set(self.n_items, random_state=int(self.settings["random_state"]))
        pred = engine.model.predict_proba(self.features[stop_set]).argmax(axis=1)
        kappas = [rec["kappa"] for _, _, rec in history if rec.get("kappa") is not None]
        kappa = None
        if history:
            kappa = S.agreement_kappa(np.asarray(history[-1][2]["stop_pred"]), pred)
            kappas.append(kappa)
        ctx = engine.last_context
        picks = ctx.picked_positions
        accuracies = [acc for _, acc, _ in history] + [cv]
        crit = {"stabilizing_predictions": S.stabilizing_predictions(kappas),
                "overall_uncertainty": S.overall_uncertainty(ctx.proba),
                "max_confidence": S.max_confidence(ctx.proba[picks]),
                "accuracy_plateau": S.accuracy_plateau(accuracies)}
        for c in crit.values():  # JSON has no NaN: "not computable yet" is null
            c["value"] = c["value"] if np.isfinite(c["value"]) else None
        return {"stop_pred": pred.tolist(), "kappa": kappa,
                "stopping": {**crit, "stop_set_size": len(stop_set)}}

    def stopping_status(self) -> dict | None:
        """The latest stopping criteria and one sentence for people, or None before any model.

        ``{"criteria": {name: {"value", "stop"}}, "stopped_changing": bool, "message": str}``;
        "the model has stopped changing" follows stabilizing predictions (Bloodgood &
        Vijay-Shanker 2009), the default criterion.
        """
        row = self.conn.execute(
            "SELECT info FROM rounds WHERE json_extract(info, '$.stopping') IS NOT NULL "
            "ORDER BY round DESC LIMIT 1").fetchone()
        if row is None:
            return None
        crit = json.loads(row[0])["stopping"]
        size = crit.pop("stop_set_size", None)
        stab = crit["stabilizing_predictions"]
        if stab["stop"]:
            message = (f"the model has stopped changing: over the last 3 rounds its predictions "
                       f"on {size} items agreed with the previous model's (mean kappa "
                       f"{stab['value']:.3f} > 0.99); more labels may add little")
        elif stab["value"] is not None:
            message = (f"the model is still changing (mean kappa {stab['value']:.3f} over the "
                       f"last 3 rounds, on {size} items; it stops at > 0.99)")
        else:
            message = "the model is still changing (too few rounds to judge)"
        return {"criteria": crit, "stopped_changing": bool(stab["stop"]), "message": message}

    def predictions(self) -> tuple[np.ndarray, np.ndarray]:
        """(n,) predicted class and (n,) confidence (max probability) for every item, from the
        learner trained on all labels in force."""
        idx, y = self.labeled_arrays()
        if len(set(y.tolist())) < 2:
            raise LabelwiseError("predictions need labels of at least 2 classes")
        learner = self._learner().fit(self.features[idx], y)
        proba = learner.predict_proba(self.features)
        return learner.classes_[proba.argmax(axis=1)].astype(str), proba.max(axis=1)
