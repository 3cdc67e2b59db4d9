"""The app's stopping service, alone on a database: no advice before a model, the latest after."""

import json
import sqlite3

from labelwise.app.round_stopping import RoundStopping


def test_the_latest_advice_is_read_from_the_newest_round_that_has_one():
    conn = sqlite3.connect(":memory:")
    conn.execute("CREATE TABLE rounds (round INTEGER, info TEXT)")
    assert RoundStopping.status(conn) is None
    cell = {"value": 0.5, "threshold": 0.1, "stop": False}
    row = {c: cell for c in ("stabilizing_predictions", "overall_uncertainty", "max_confidence",
                             "accuracy_plateau")}
    for r, stop in ((1, False), (2, True)):
        advice = {**row, "recommended": {**cell, "stop": stop, "reason": f"round {r}"},
                  "n_labeled": 10 * r}
        conn.execute("INSERT INTO rounds VALUES (?, ?)", (r, json.dumps({"stopping": advice})))
    conn.execute("INSERT INTO rounds VALUES (3, ?)", (json.dumps({"fitted": False}),))
    got = RoundStopping.status(conn)
    assert (got["stop"], got["message"], got["n_labeled"]) == (True, "round 2", 20)
    assert got["stopped_changing"] is False and set(got["criteria"]) == set(row)
