"""What the servers share about the network: which addresses are this machine only (servers
there need no password), reading a request body under a size limit, and answering a JSON
error before any route runs (ASGI)."""

from __future__ import annotations

import ipaddress
import json


def is_loopback(host: str) -> bool:
    """Whether ``host`` is a loopback address (``localhost``, 127.0.0.0/8, ``::1``)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class BodyTooLarge(Exception):
    """A request body passed the server's limit (answer 413)."""


async def read_capped_body(receive, max_body: int) -> bytes | None:
    """An ASGI request body, read chunk by chunk; None when the client went away.

    Raises:
        BodyTooLarge: as soon as the chunks pass ``max_body`` bytes, so an oversized body is
            never read whole (and the app never starts a response it cannot finish).
    """
    chunks, size = [], 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
        chunks.append(message.get("body", b""))
        size += len(chunks[-1])
        if size > max_body:
            raise BodyTooLarge(size)
        if not message.get("more_body"):
            return b"".join(chunks)


def replaying(body: bytes, receive):
    """An ASGI ``receive`` that hands the app ``body`` (read already) once, then defers to the
    client's ``receive`` (which then reports a disconnect)."""
    given = False

    async def replay():
        nonlocal given
        if not given:
            given = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


async def send_json_error(send, status: int, message: str, headers=()) -> None:
    """Answer an ASGI request ``{"error": message}`` with ``status`` (before any route runs:
    the guards of the app and of the Label Studio backend), ``headers`` added."""
    body = json.dumps({"error": message}).encode()
    await send({"type": "http.response.start", "status": status, "headers": [
        (b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
        *headers]})
    await send({"type": "http.response.body", "body": body})
