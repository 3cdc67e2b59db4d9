"""What every command module of the CLI shares: the Typer ``app`` and the option parsers."""

from __future__ import annotations

import errno

import typer

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="labelwise: pool-based active learning. Try `labelwise run`.",
)


def _split(value: str) -> list[str]:
    return [v.strip() for v in value.split(",") if v.strip()]


def parse_learner_params(pairs: list[str]) -> dict:
    """``["C=0.5", "class_weight=balanced"]`` -> ``{"C": 0.5, "class_weight": "balanced"}``.

    Each value is read as a Python literal (numbers, True/False/None, tuples, quoted text) and
    kept as text otherwise; lists become tuples so that a run's settings stay hashable.
    """
    import ast

    from labelwise.validation import LabelwiseError

    params = {}
    for pair in pairs:
        key, sep, text = pair.partition("=")
        key = key.strip()
        if not sep or not key.isidentifier():
            raise LabelwiseError(f"--learner-param takes KEY=VALUE (e.g. C=0.5), got {pair!r}")
        try:
            value = ast.literal_eval(text.strip())
        except (ValueError, SyntaxError):
            value = text.strip()
        params[key] = tuple(value) if isinstance(value, list) else value
    return params


def _check_at_least(minimum: int, **options) -> None:
    """One-line error for a numeric option below ``minimum`` (None = not given), named as typed:
    ``_check_at_least(1, jobs=0)`` -> "--jobs must be an integer >= 1, got 0"."""
    from labelwise.validation import check_positive_int

    for name, value in options.items():
        if value is not None:
            check_positive_int(value, "--" + name.replace("_", "-"), minimum)


def _check_port(host: str, port: int) -> None:
    """A one-line error for a port out of range, in use, or a host this machine cannot listen
    on: found by binding a socket (closed again at once) before the server starts."""
    import socket

    from labelwise.validation import LabelwiseError

    if not 1 <= port <= 65535:
        raise LabelwiseError(f"--port must be 1-65535, got {port}")
    try:  # the address family uvicorn picks: IPv6 when the host has a colon
        family, kind, proto, _, address = socket.getaddrinfo(
            host, port, socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM,
            flags=socket.AI_PASSIVE)[0]
    except (OSError, UnicodeError) as exc:
        raise LabelwiseError(f"cannot resolve --host {host!r}: {exc}") from None
    with socket.socket(family, kind, proto) as sock:
        # as uvicorn does: a port left in TIME_WAIT by a stopped server is free to reuse
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(address)
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise LabelwiseError(f"port {port} on {host} is in use: pass --port N") from None
            raise LabelwiseError(f"cannot listen on {host} port {port}: "
                                 f"{exc.strerror or exc}") from None
