"""The labeling server attacked: every garbage request gets a one-line 4xx JSON error (never a
500, never a traceback in the log), an annotator acts only on what it holds, a restart gives
every annotator its held item back first, and a damaged project is a one-line error.

In-process test client (the worker off); each test is the attack it is named after.
"""

import json
import logging
import sqlite3

import numpy as np
import pytest

pytest.importorskip("httpx")
pytest.importorskip("fastapi")

from fastapi.testclient import TestClient  # noqa: E402

from labelwise.app.annotators import add_annotator  # noqa: E402
from labelwise.app.create import create_project  # noqa: E402
from labelwise.app.project import Project  # noqa: E402
from labelwise.app.server import create_app  # noqa: E402
from labelwise.validation import LabelwiseError  # noqa: E402


@pytest.fixture
def project(tmp_path):
    rng = np.random.default_rng(0)
    X = np.r_[rng.normal(0, 1, (30, 3)), rng.normal(6, 1, (30, 3))]
    return create_project(tmp_path / "p", [f"i{i}" for i in range(60)], X, ["a", "b"],
                          labels=["a", "b"] + [None] * 58, batch_size=4)


def tok(token):
    return {"X-Labelwise-Token": token}


def one_line_4xx(r) -> str:
    assert 400 <= r.status_code < 500, (r.status_code, r.text)
    message = r.json()["error"]
    assert isinstance(message, str) and message and "\n" not in message
    assert "Traceback" not in message
    return message


# (method, url, body): bodies are raw bytes or JSON-able values
GARBAGE = [
    ("POST", "/api/label", b"not json"),
    ("POST", "/api/label", b"{\"item\": 1, "),
    ("POST", "/api/label", b"\xff\xfe\x00"),
    ("POST", "/api/label", []),
    ("POST", "/api/label", "a string"),
    ("POST", "/api/label", 7),
    ("POST", "/api/label", None),
    ("POST", "/api/label", {}),
    ("POST", "/api/label", {"item": "3", "label": "a"}),
    ("POST", "/api/label", {"item": 3.5, "label": "a"}),
    ("POST", "/api/label", {"item": True, "label": "a"}),
    ("POST", "/api/label", {"item": 10**30, "label": "a"}),
    ("POST", "/api/label", {"item": -1, "label": "a"}),
    ("POST", "/api/label", {"item": 3, "label": 5}),
    ("POST", "/api/label", {"item": 3, "label": ["a"]}),
    ("POST", "/api/label", {"item": 3, "label": "nope"}),
    ("POST", "/api/label", {"item": 3, "label": "a", "annotator": ""}),
    ("POST", "/api/label", {"item": 3, "label": "a", "annotator": "x" * 101}),
    ("POST", "/api/label", {"item": 3, "label": "a", "annotator": {"$ne": 1}}),
    ("POST", "/api/label", {"item": 3, "label": "a", "extra": 1}),
    ("POST", "/api/label", {"item": {"idx": 3}, "label": "a"}),
    ("POST", "/api/skip", {"item": None}),
    ("POST", "/api/skip", {"item": 10**30}),
    ("POST", "/api/skip", b"[1, 2"),
    ("POST", "/api/undo", {"annotator": 5}),
    ("POST", "/api/undo", b"nan"),
    ("POST", "/api/heartbeat", {"annotator": ["a"]}),
    ("POST", "/api/heartbeat", b""),
    ("GET", "/api/next?annotator=" + "x" * 300, None),
    ("GET", "/api/next?annotator=%20", None),
    ("GET", "/api/items/abc/content", None),
    ("GET", "/api/items/-1/content", None),
    ("GET", "/api/items/99999999999999999999999/content", None),
    ("GET", "/api/items/1e3/content", None),
    ("GET", "/api/nothing", None),
    ("DELETE", "/api/labels", None),
    ("PUT", "/api/label", {"item": 3, "label": "a"}),
    ("GET", "/static/..%2fserver.py", None),
]


def send(c, method, url, body, headers=None):
    if isinstance(body, bytes) or body is None:
        return c.request(method, url, content=body, headers={
            "content-type": "application/json", **(headers or {})})
    return c.request(method, url, content=json.dumps(body).encode(), headers={
        "content-type": "application/json", **(headers or {})})


def test_garbage_on_every_route_gets_a_one_line_4xx_and_no_traceback(project, caplog):
    caplog.set_level(logging.DEBUG)
    with TestClient(create_app(project, start_worker=False), raise_server_exceptions=False) as c:
        c.get("/api/next?annotator=x")  # an item held, so a well-formed label could pass
        for method, url, body in GARBAGE:
            one_line_4xx(send(c, method, url, body))
    assert not [r for r in caplog.records if r.exc_info or "Traceback" in r.getMessage()]
    assert project.active_labels()[2:] == []  # none of it was stored


def test_a_body_over_the_limit_gets_413_on_every_route(project):
    big = b"{" + b" " * 70_000 + b"}"
    with TestClient(create_app(project, start_worker=False, max_body=64 * 1024)) as c:
        for method, url in (("POST", "/api/label"), ("POST", "/api/skip"),
                            ("POST", "/api/undo"), ("POST", "/api/heartbeat"),
                            ("GET", "/api/next"), ("GET", "/api/progress"),
                            ("GET", "/api/labels"), ("GET", "/api/queue"),
                            ("GET", "/api/config"), ("GET", "/api/items/0/content"),
                            ("POST", "/api/nothing")):
            r = c.request(method, url, content=big)
            assert r.status_code == 413 and "request body over 65536 bytes" in \
                one_line_4xx(r), url

        def chunks():  # no content-length: the server counts what arrives
            for _ in range(20):
                yield b" " * 8192

        r = c.post("/api/label", content=chunks())
        assert r.status_code == 413


def test_in_token_mode_an_annotator_cannot_skip_what_another_holds(project):
    alice, mallory = add_annotator(project, "alice"), add_annotator(project, "mallory")
    with TestClient(create_app(project, start_worker=False)) as c:
        held = c.get("/api/next", headers=tok(alice)).json()["item"]["idx"]
        for body in ({"item": held}, {"item": held, "annotator": "alice"}):
            r = c.post("/api/skip", headers=tok(mallory), json=body)
            assert r.status_code == 409 and "assigned to alice" in one_line_4xx(r)
            r = c.post("/api/label", headers=tok(mallory), json={**body, "label": "a"})
            assert r.status_code == 409
        r = c.post("/api/undo", headers=tok(mallory), json={"annotator": "alice"})
        assert r.status_code == 409  # mallory has no label of her own to undo
        # the owner's label goes through: nobody took the item from her
        r = c.post("/api/label", headers=tok(alice), json={"item": held, "label": "a"})
        assert r.status_code == 200 and r.json()["annotator"] == "alice"
        # an item in the queue that nobody was served cannot be skipped either
        queued = {q["item"] for q in c.get("/api/queue", headers=tok(alice)).json()}
        free = sorted(queued - {held})[0]
        r = c.post("/api/skip", headers=tok(mallory), json={"item": free})
        assert r.status_code == 409 and "not served to mallory" in one_line_4xx(r)
    assert project.conn.execute("SELECT count(*) FROM skips").fetchone()[0] == 0


def test_a_restarted_server_gives_every_annotator_its_held_item_first(project, clock):
    team = ["w", "x", "y", "z"]
    held = {a: project.next_item(a)["item"]["idx"] for a in team}
    assert len(set(held.values())) == 4
    clock.advance(3600)  # the server was down for an hour: every lease has lapsed
    restarted = Project(project.path)
    with TestClient(create_app(restarted, start_worker=False)) as c:
        # newcomers arrive first and ask for work; the old hands come back after them
        for n in range(4):
            got = c.get(f"/api/next?annotator=new{n}").json()["item"]
            assert got is None or got["idx"] not in held.values()
        for a in reversed(team):
            assert c.get(f"/api/next?annotator={a}").json()["item"]["idx"] == held[a]


def test_a_settings_row_missing_batch_size_is_a_damaged_project(project):
    project.conn.execute("DELETE FROM settings WHERE key = 'batch_size'")
    with pytest.raises(LabelwiseError) as err:
        Project(project.path)
    message = str(err.value)
    assert "\n" not in message and "is damaged (no setting 'batch_size')" in message


@pytest.mark.parametrize("value", ['"ten"', "0", "-3", "true", "{not json"])
def test_a_malformed_batch_size_is_a_damaged_project(project, value):
    project.conn.execute("UPDATE settings SET value = ? WHERE key = 'batch_size'", (value,))
    with pytest.raises(LabelwiseError, match=r"is damaged \(.*batch_size|is damaged \(Expecting"):
        Project(project.path)


def test_a_dropped_assignments_table_is_a_damaged_project(project):
    with TestClient(create_app(project, start_worker=False),
                    raise_server_exceptions=False) as c:
        project.conn.execute("DROP TABLE assignments")  # while the server runs
        r = c.get("/api/next?annotator=a")
        assert r.status_code == 503
        message = r.json()["error"]
        assert "\n" not in message and "the project database is damaged (no such table: " \
            "assignments)" in message
    with pytest.raises(LabelwiseError, match=r"is damaged \(no table assignments\)"):
        Project(project.path)


@pytest.fixture
def clock(monkeypatch):
    """A settable clock for the labeling module (its leases): ``clock.t`` seconds."""
    import types

    import labelwise.app.labeling as labeling

    fake = types.SimpleNamespace(t=1_000_000.0)
    fake.time = lambda: fake.t
    fake.advance = lambda s: setattr(fake, "t", fake.t + s)
    monkeypatch.setattr(labeling, "time", fake)
    return fake


def test_sqlite_errors_are_not_mistaken_for_client_errors():
    from labelwise.app.db import is_corrupt

    assert is_corrupt(sqlite3.OperationalError("no such table: assignments"))
    assert not is_corrupt(sqlite3.OperationalError("database is locked"))
