"""The labels in force, read alone from a project's database."""

import numpy as np

from labelwise.app import db
from labelwise.app.create import create_project
from labelwise.app.labels import Labels
from labelwise.app.project import DB_NAME


def test_the_majority_label_per_item_ties_to_the_earliest(tmp_path):
    X = np.zeros((6, 2), dtype=np.float32)
    create_project(tmp_path / "p", [f"i{i}" for i in range(6)], X, ["a", "b"],
                   prepare=False).close()
    conn = db.connect(tmp_path / "p" / DB_NAME)
    rows = [(4, "b", "x", 1.0), (4, "a", "y", 2.0), (4, "a", "z", 3.0),  # item 4: a 2-1
            (1, "b", "x", 4.0), (1, "a", "y", 5.0),  # item 1: a tie, the earlier b wins
            (2, "a", "x", 6.0)]
    conn.executemany("INSERT INTO labels (item_idx, label, annotator, created, source) "
                     "VALUES (?, ?, ?, ?, 'app')", rows)
    conn.execute("UPDATE labels SET undone_at = 7.0 WHERE item_idx = 2")  # undone: not in force
    labels = Labels(lambda: conn)
    idx, y = labels.labeled_arrays()
    assert idx.tolist() == [1, 4] and y.tolist() == ["b", "a"]
    assert [r["item"] for r in labels.active_labels()] == [4, 4, 4, 1, 1]
    # as they were at label 6, time 6.5: item 2's label was still in force
    idx, y = labels.labeled_arrays(upto=(6, 6.5))
    assert idx.tolist() == [1, 2, 4] and y.tolist() == ["b", "a", "a"]
