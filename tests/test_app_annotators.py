"""Annotator accounts: personal tokens, stored only as hashes, and the `annotators` command."""

import hashlib
import re
import sqlite3

import numpy as np
import pytest

from labelwise.app.annotators import (
    add_annotator,
    annotator_for_token,
    has_accounts,
    hash_token,
    list_annotators,
    personal_link,
    remove_annotator,
)
from labelwise.app.create import create_project
from labelwise.app.project import DB_NAME, Project
from labelwise.validation import LabelwiseError


@pytest.fixture
def project(tmp_path):
    X = np.random.default_rng(0).normal(size=(12, 3)).astype(np.float32)
    return create_project(tmp_path / "p", [f"i{i}" for i in range(12)], X, ["a", "b"],
                          batch_size=3)


def test_a_token_names_its_annotator_and_only_its_hash_is_stored(project):
    assert not has_accounts(project)
    alice, bob = add_annotator(project, "alice"), add_annotator(project, " bob ")
    assert len(alice) == 43 and alice != bob  # 32 random bytes, URL-safe base64
    assert has_accounts(project)
    assert annotator_for_token(project, alice) == "alice"
    assert annotator_for_token(project, bob) == "bob"
    for wrong in ("", None, alice[:-1], alice + "x", hash_token(alice)):
        assert annotator_for_token(project, wrong) is None
    stored = dict(project.conn.execute("SELECT name, token_hash FROM annotators"))
    assert stored["alice"] == hashlib.sha256(alice.encode()).hexdigest()
    project.conn.execute("PRAGMA wal_checkpoint(FULL)")
    data = b"".join(f.read_bytes() for f in project.path.glob(DB_NAME + "*"))
    assert alice.encode() not in data and bob.encode() not in data


def test_names_are_unique_and_removal_revokes_the_link(project):
    token = add_annotator(project, "alice")
    with pytest.raises(LabelwiseError, match="already has an account"):
        add_annotator(project, "alice")
    with pytest.raises(LabelwiseError, match="non-empty name"):
        add_annotator(project, "  ")
    project.next_item("alice")
    item = project.next_item("alice")["item"]["idx"]
    project.label(item, "a", "alice")
    assert [(r["name"], r["labels"]) for r in list_annotators(project)] == [("alice", 1)]
    remove_annotator(project, "alice")
    assert annotator_for_token(project, token) is None and not has_accounts(project)
    assert [r["annotator"] for r in project.active_labels()] == ["alice"]  # the label stays
    with pytest.raises(LabelwiseError, match="no annotator account named 'alice'"):
        remove_annotator(project, "alice")


def test_an_older_project_gets_the_table_when_opened(project):
    with sqlite3.connect(project.path / DB_NAME) as conn:
        conn.execute("DROP TABLE annotators")
    reopened = Project(project.path)
    assert not has_accounts(reopened)
    add_annotator(reopened, "carol")
    assert has_accounts(reopened)


def test_personal_link():
    assert personal_link("T", "10.0.0.5", 8080) == "http://10.0.0.5:8080/?token=T"
    assert personal_link("T", "::1", 80) == "http://[::1]:80/?token=T"


def test_cli_add_list_remove(project, capsys):
    from labelwise.cli import main

    assert main(["annotators", "add", str(project.path), "dana", "--port", "9000"]) == 0
    link = capsys.readouterr().out.splitlines()[0]
    m = re.fullmatch(r"http://127\.0\.0\.1:9000/\?token=([A-Za-z0-9_-]{43})", link)
    assert m and annotator_for_token(Project(project.path), m.group(1)) == "dana"
    assert main(["annotators", "list", str(project.path)]) == 0
    assert re.match(r"dana  0 labels  since \d{4}-", capsys.readouterr().out)
    assert main(["annotators", "add", str(project.path), "dana"]) == 2
    assert "already has an account" in capsys.readouterr().err
    assert main(["annotators", "remove", str(project.path), "dana"]) == 0
    assert main(["annotators", "remove", str(project.path), "dana"]) == 2
    assert "no annotator account" in capsys.readouterr().err


def test_the_accounts_work_alone_on_a_connection(project):
    from labelwise.app.annotators import Annotators

    conn = sqlite3.connect(project.path / DB_NAME)
    accounts = Annotators(lambda: conn)
    assert not accounts.has_accounts() and accounts.for_token("nothing") is None
    token = accounts.add("ann")
    assert accounts.has_accounts() and accounts.for_token(token) == "ann"
    assert [a["name"] for a in accounts.list()] == ["ann"]
    accounts.remove("ann")
    assert accounts.for_token(token) is None and accounts.list() == []
