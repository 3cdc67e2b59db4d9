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
