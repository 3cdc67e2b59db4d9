"""labelwise.net: loopback addresses and reading a request body under a limit (both servers)."""

import asyncio

import pytest

from labelwise.net import BodyTooLarge, is_loopback, read_capped_body, replaying


def receiver(*messages):
    queue = list(messages)

    async def receive():
        return queue.pop(0) if queue else {"type": "http.disconnect"}

    return receive


def chunk(body: bytes, more: bool) -> dict:
    return {"type": "http.request", "body": body, "more_body": more}


@pytest.mark.parametrize("host, loopback", [("localhost", True), ("127.0.0.1", True),
                                            ("127.5.6.7", True), ("::1", True),
                                            ("0.0.0.0", False), ("10.0.0.1", False),
                                            ("example.org", False)])
def test_is_loopback(host, loopback):
    assert is_loopback(host) is loopback


def test_chunks_are_joined_and_replayed_once():
    receive = receiver(chunk(b"ab", True), chunk(b"cd", False))
    body = asyncio.run(read_capped_body(receive, max_body=4))
    assert body == b"abcd"
    replay = replaying(body, receive)
    first, second = asyncio.run(replay()), asyncio.run(replay())
    assert first == chunk(b"abcd", False)
    assert second == {"type": "http.disconnect"}


def test_a_body_over_the_limit_stops_at_the_chunk_that_passes_it():
    receive = receiver(chunk(b"abc", True), chunk(b"de", True), chunk(b"never read", False))
    with pytest.raises(BodyTooLarge):
        asyncio.run(read_capped_body(receive, max_body=4))
    assert asyncio.run(receive()) == chunk(b"never read", False)  # the rest was left unread


def test_a_client_that_goes_away_gives_none():
    assert asyncio.run(read_capped_body(receiver(chunk(b"ab", True)), max_body=10)) is None
