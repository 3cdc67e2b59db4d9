"""The app's model round: the accuracy estimate and what each round records."""

import numpy as np

from labelwise.app.create import create_project
from labelwise.app.model_step import cross_validated_accuracy
from labelwise.learners import make_learner


def test_estimate_is_the_same_for_the_same_labels_in_every_round(tmp_path):
    rng = np.random.default_rng(0)
    y = np.repeat([0, 1, 2], 20)
    X = (rng.normal(size=(60, 3)) + 1.2 * np.eye(3)[y]).astype(np.float32)
    names = np.array(["a", "b", "c"])
    labels = [names[y[i]] if i % 10 < 2 else None for i in range(60)]  # 12 labels, noisy
    project = create_project(tmp_path / "p", [f"i{i}" for i in range(60)], X, list(names),
                             labels=labels, batch_size=4, prepare=False)
    first = project.prepare_next_batch()["cv_accuracy"]
    second = project.prepare_next_batch()["cv_accuracy"]  # prepared ahead, same 12 labels
    assert first is not None and first == second


def test_estimate_is_scikit_learns_cross_val_score_on_fixed_folds():
    from sklearn.model_selection import StratifiedKFold, cross_val_score

    rng = np.random.default_rng(1)
    y = np.repeat([0, 1], 15)
    X = rng.normal(size=(30, 2)) + y[:, None]
    learner = make_learner("logreg", 2, random_state=0)
    want = cross_val_score(learner, X, y, cv=StratifiedKFold(5, shuffle=True, random_state=7))
    assert cross_validated_accuracy(learner, X, y, random_state=7) == want.mean()


def test_the_model_stops_changing_on_easy_data_and_status_says_so(tmp_path, capsys):
    rng = np.random.default_rng(0)
    y = np.repeat([0, 1], 40)
    X = (rng.normal(size=(80, 2)) * 0.3 + 6.0 * y[:, None]).astype(np.float32)
    names = np.array(["a", "b"])
    labels = [names[y[i]] if i in (0, 79) else None for i in range(80)]
    project = create_project(tmp_path / "p", [f"i{i}" for i in range(80)], X, list(names),
                             labels=labels, batch_size=4, prepare=False)
    assert project.stopping_status() is None  # no model yet
    for _ in range(6):  # prepare, then label the current batch: each round adds 4 labels
        project.prepare_next_batch()
        for r in project.queue():
            if r["status"] == "current":
                project.conn.execute("INSERT INTO assignments VALUES (?, 'ann', 0)",
                                     (r["item"],))
                project.label(r["item"], names[y[r["item"]]], "ann")
    status = project.stopping_status()
    stab = status["criteria"]["stabilizing_predictions"]
    # the two blobs are split perfectly from the first model on: every kappa is 1
    assert stab["value"] == 1.0 and stab["stop"] and status["stopped_changing"]
    assert stab["threshold"] == 0.99
    # 2 + 5 x 4 = 22 labels: the recommended stop compares models 50 labels apart, not yet
    assert not status["stop"] and status["message"].startswith("go on: too few rounds")
    assert status["message"] == status["recommended"]["reason"]
    assert project.status()["stopping"]["stopped_changing"]
    # `labelwise status` prints the sentence and every criterion beside its threshold
    from labelwise.cli import main

    project.close()
    assert main(["status", str(tmp_path / "p")]) == 0
    out = capsys.readouterr().out
    assert "stopping: go on: too few rounds to judge" in out
    assert "stabilizing predictions 1 (threshold 0.99, stop)" in out


def test_a_second_cold_start_batch_covers_other_regions_than_the_queued_one(tmp_path):
    rng = np.random.default_rng(0)
    centres = 10.0 * np.eye(8)
    X = np.concatenate([rng.normal(size=(25, 8)) + c for c in centres]).astype(np.float32)
    project = create_project(tmp_path / "p", [f"i{i}" for i in range(200)], X, ["a", "b"],
                             batch_size=4, prepare=False)  # no labels: TypiClust picks
    project.prepare_next_batch()
    project.prepare_next_batch()  # prepared ahead while the first batch is still unlabeled
    first, second = ({i // 25 for i, r in [(q["item"], q["round"]) for q in project.queue()]
                      if r == n} for n in (1, 2))
    assert len(first) == 4 and len(second) == 4 and not first & second


def test_a_cold_start_round_runs_the_cold_start_strategy_once(tmp_path, monkeypatch):
    # the first ranking of a project without a fittable label set queries once: TypiClust on
    # a large pool costs seconds and a normalised copy of the features
    X = np.random.default_rng(0).normal(size=(60, 4)).astype(np.float32)
    project = create_project(tmp_path / "p", [f"i{i}" for i in range(60)], X, ["a", "b"],
                             batch_size=4, prepare=False)
    engine = project.engine()
    calls = []
    query = engine.query
    monkeypatch.setattr(engine, "query", lambda *a, **kw: calls.append(1) or query(*a, **kw))
    project.prepare_next_batch()
    assert len(calls) == 1 and len(project.queue()) == 4


def test_a_cold_start_after_undos_names_no_model(tmp_path):
    # a model existed, then an undo left one class: the next batch comes from the cold start,
    # and the model line must not name the old model as the one that ranked it
    X = np.random.default_rng(0).normal(size=(60, 4)).astype(np.float32)
    labels = ["a" if i in (0, 1) else None for i in range(60)]
    project = create_project(tmp_path / "p", [f"i{i}" for i in range(60)], X, ["a", "b"],
                             labels=labels, batch_size=4, prepare=False)
    project.prepare_next_batch()  # one class: cold start
    item = next(r["item"] for r in project.queue() if r["status"] == "current")
    project.conn.execute("INSERT INTO assignments VALUES (?, 'ann', 0)", (item,))
    project.label(item, "b", "ann")
    project.prepare_next_batch()  # a round ranked by the model on 3 labels
    assert project.model_labels() == 3
    project.undo("ann")  # one class again
    cold = project.model_service.rank(depth=4)
    assert cold.info["cold_start"] and cold.info["model_labels"] is None
    assert cold.info["warm_from"] is None


def test_a_restarted_app_continues_the_stopping_monitor(tmp_path):
    rng = np.random.default_rng(1)
    y = np.repeat([0, 1], 40)
    X = (rng.normal(size=(80, 2)) + 1.0 * y[:, None]).astype(np.float32)
    names = np.array(["a", "b"])

    def rows(folder, restart_after=None):
        labels = [names[y[i]] if i in (0, 79) else None for i in range(80)]
        project = create_project(folder, [f"i{i}" for i in range(80)], X, list(names),
                                 labels=labels, batch_size=4, prepare=False)
        for r in range(5):
            if r == restart_after:
                # a new process has the saved monitor only
                project.model_service.round_stopping.monitor = None
            project.prepare_next_batch()
            for q in project.queue():
                if q["status"] == "current":
                    project.conn.execute("INSERT INTO assignments VALUES (?, 'ann', 0)",
                                         (q["item"],))
                    project.label(q["item"], names[y[q["item"]]], "ann")
        return project.model_service.round_stopping.monitor.to_dict()

    straight, restarted = rows(tmp_path / "a"), rows(tmp_path / "b", restart_after=3)
    assert len(straight["kappas"]) == 4 and straight["kappas"] == restarted["kappas"]
    assert straight["rows"] == restarted["rows"]


def _services(tmp_path, X, y, batch_size=4):
    """A project's database with two seed labels, and the services the model step is built
    from, without a Project."""
    import json

    from labelwise.app import db
    from labelwise.app.labeling import Queue
    from labelwise.app.labels import Labels
    from labelwise.app.project import DB_NAME, SETTING_DEFAULTS

    n = len(X)
    labels = [str(y[i]) if i in (0, n - 1) else None for i in range(n)]
    create_project(tmp_path / "p", [f"i{i}" for i in range(n)], X, ["0", "1"], labels=labels,
                   batch_size=batch_size, prepare=False).close()
    conn = db.connect(tmp_path / "p" / DB_NAME)
    settings = {**SETTING_DEFAULTS, **{k: json.loads(v) for k, v in
                                       conn.execute("SELECT key, value FROM settings")}}
    queue = Queue(lambda: conn, settings)
    return conn, settings, queue, Labels(lambda: conn)


def test_the_model_service_works_alone_on_features_a_queue_and_the_labels(tmp_path):
    from labelwise.app.model_step import ModelService

    y = np.repeat([0, 1], 20)
    X = (np.random.default_rng(0).normal(size=(40, 2)) + 4.0 * y[:, None]).astype(np.float32)
    conn, settings, queue, labels = _services(tmp_path, X, y)
    model = ModelService(lambda: conn, settings, lambda: X, queue, labels)
    assert model.current_engine() is None and not model.has_model()
    assert model.batches_wanted() == 2  # one annotator: the batch being labeled and the next
    out = model.prepare_next_batch(batches=None, accuracy=False)
    assert out["rounds"] == [1, 2] and out["size"] == 8 and out["n_labels"] == 2
    assert model.has_model() and model.current_engine() is model.engine()
    picked = [b["item"] for b in queue.batches()]
    assert len(set(picked)) == 8 and not {0, 39} & set(picked)  # the seeds are not picked again
    assert model.batches_missing() == 0 and model.prepare_next_batch() is None
    assert model.stopping_status()["n_labeled"] == 2  # the monitor saw the 2 labels
