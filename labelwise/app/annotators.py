"""Annotator accounts: a personal link per annotator, so that every label names who gave it.

A project without accounts is the single-user (or trusted-team) setup: the page sends a
self-declared name. Once a project has at least one account, the server demands a personal token
on every API request and attributes each label, skip and undo to the token's annotator, whatever
name the client sends.

Only the SHA-256 of each token is stored (table ``annotators``): tokens are 32 random bytes, so a
fast hash is enough (no salt or key stretching is needed against guessing a 256-bit secret), and a
copy of the database gives no working link. A token is checked against every stored hash with
:func:`hmac.compare_digest`, without stopping at the first match, so the time taken says nothing
about which hash matched or how close a guess came.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import sqlite3
import time
from collections.abc import Callable

from labelwise.app import db
from labelwise.app.errors import check_annotator
from labelwise.validation import LabelwiseError

#: random bytes per token (``secrets.token_urlsafe`` encodes them in 43 URL-safe characters)
TOKEN_BYTES = 32


def hash_token(token: str) -> str:
    """The hex SHA-256 of ``token`` (what the database keeps)."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def personal_link(token: str, host: str = "127.0.0.1", port: int = 8000) -> str:
    """``http://HOST:PORT/?token=TOKEN`` (an IPv6 host in brackets)."""
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}/?token={token}"


class Annotators:
    """The project's annotator accounts (table ``annotators``).

    Args:
        connect: returns this thread's connection to the project's database.
    """

    def __init__(self, connect: Callable[[], sqlite3.Connection]):
        self._connect = connect

    def add(self, name: str) -> str:
        """Create an account for ``name`` and return its token (shown once, never stored).

        Raises:
            LabelwiseError: a bad name, or one that already has an account.
        """
        name = check_annotator(name)
        token = secrets.token_urlsafe(TOKEN_BYTES)
        conn = self._connect()
        with db.transaction(conn):
            if conn.execute("SELECT 1 FROM annotators WHERE name = ?", (name,)).fetchone():
                raise LabelwiseError(f"{name} already has an account; to give them a new link, "
                                     f"`labelwise annotators remove` it and add it again")
            conn.execute("INSERT INTO annotators (name, token_hash, created) VALUES (?, ?, ?)",
                         (name, hash_token(token), time.time()))
        return token

    def remove(self, name: str) -> None:
        """Delete ``name``'s account: their link stops working at once; their labels stay theirs.

        Raises:
            LabelwiseError: no account of that name.
        """
        conn = self._connect()
        with db.transaction(conn):
            gone = conn.execute("DELETE FROM annotators WHERE name = ?", (name,)).rowcount
        if not gone:
            raise LabelwiseError(f"no annotator account named {name!r} (see `labelwise "
                                 "annotators list`)")

    def list(self) -> list[dict]:
        """Every account, oldest first: ``{"name", "created", "labels"}`` (labels in force)."""
        rows = self._connect().execute(
            "SELECT a.name, a.created, (SELECT count(*) FROM labels l WHERE l.annotator = a.name "
            "AND l.undone_at IS NULL) FROM annotators a ORDER BY a.created, a.name").fetchall()
        return [{"name": n, "created": c, "labels": k} for n, c, k in rows]

    def has_accounts(self) -> bool:
        """Whether there is any account (then every API request needs a token)."""
        return self._connect().execute("SELECT 1 FROM annotators LIMIT 1").fetchone() is not None

    def for_token(self, token: str | None) -> str | None:
        """The name whose token this is, or None (no token, unknown or removed token)."""
        if not token:
            return None
        given = hash_token(token).encode()
        found = None
        for name, stored in self._connect().execute("SELECT name, token_hash FROM annotators"):
            if hmac.compare_digest(given, stored.encode()) and found is None:
                found = name  # keep comparing: the time does not depend on where the match was
        return found


# the functional interface the CLI and the server use: ``project`` is anything with ``conn``
def add_annotator(project, name: str) -> str:
    """:meth:`Annotators.add` on ``project``'s database."""
    return Annotators(lambda: project.conn).add(name)


def remove_annotator(project, name: str) -> None:
    """:meth:`Annotators.remove` on ``project``'s database."""
    Annotators(lambda: project.conn).remove(name)


def list_annotators(project) -> list[dict]:
    """:meth:`Annotators.list` on ``project``'s database."""
    return Annotators(lambda: project.conn).list()


def has_accounts(project) -> bool:
    """:meth:`Annotators.has_accounts` on ``project``'s database."""
    return Annotators(lambda: project.conn).has_accounts()


def annotator_for_token(project, token: str | None) -> str | None:
    """:meth:`Annotators.for_token` on ``project``'s database."""
    return Annotators(lambda: project.conn).for_token(token)
