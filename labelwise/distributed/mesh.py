"""Direct TCP connections between the shard workers, for the per-pick messages of k-means++.

A Ray task round trip costs milliseconds on a busy machine (measured: 2-4 ms each, two per
pick), a message on an open socket tens of microseconds. k-means++ seeding over shards needs,
per pick, every worker's D^2 mass at every worker and the drawn centre at every worker: two
small messages, sent here worker to worker, with the driver out of the loop.

Every worker listens on its node's address (:func:`listen`); the driver hands every worker the
list of addresses and a fresh random key; worker ``i`` connects to each worker ``j < i`` and
accepts one connection from each ``j > i`` (lower indices accept first: no cycle of waits), and
each connection opens with an HMAC of the key, so only the workers of this query connect.
Messages are a 4-byte length and raw bytes: float64 masses and a packed centre, never pickles.
Setting up is bounded by :data:`SETUP_SECONDS`; a cluster whose nodes cannot open ports to one
another fails there, and the driver runs the seeding as Ray tasks instead.
"""

from __future__ import annotations

import hashlib
import hmac
import socket
import struct

import numpy as np

#: the longest wait for a connection while setting up
SETUP_SECONDS = 30.0

_HEAD = struct.Struct("<dqqq")  # a centre: squared norm, global id, len(x), len(r) (-1: no r)


def listen() -> tuple[socket.socket, tuple[str, int]]:
    """A listening socket on this node's address (as Ray reports it) and that address."""
    try:
        from ray.util import get_node_ip_address

        host = get_node_ip_address()
    except Exception:  # noqa: BLE001 - no Ray here (the tests of this module): loopback
        host = "127.0.0.1"
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind((host, 0))
    s.listen(64)
    return s, s.getsockname()[:2]


def _proof(key: bytes, i: int) -> bytes:
    return hmac.new(key, b"labelwise-mesh/1 %d" % i, hashlib.sha256).digest()


class Mesh:
    """Worker ``me``'s connections to the other workers (``peers[j]``, None for itself)."""

    def __init__(self, listener: socket.socket, addresses: list, me: int, key: bytes):
        self.me, self.n = me, len(addresses)
        self.peers: list[socket.socket | None] = [None] * self.n
        try:
            for j in range(me):
                s = socket.create_connection(tuple(addresses[j]), timeout=SETUP_SECONDS)
                s.sendall(struct.pack("<q", me) + _proof(key, me))
                self.peers[j] = s
            if me + 1 < self.n:
                listener.settimeout(SETUP_SECONDS)
            for _ in range(me + 1, self.n):
                s, _ = listener.accept()
                s.settimeout(SETUP_SECONDS)
                hello = _recv_exact(s, 8 + 32)
                j = struct.unpack("<q", hello[:8])[0]
                if not (me < j < self.n and self.peers[j] is None and
                        hmac.compare_digest(hello[8:], _proof(key, j))):
                    s.close()
                    raise ConnectionError("a connection to the k-means++ mesh did not "
                                          "prove the key")
                self.peers[j] = s
        except BaseException:
            self.close()
            raise
        for s in self.peers:
            if s is not None:
                s.settimeout(None)  # a pick may take long on a big shard: wait for it
                s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def close(self) -> None:
        for s in self.peers:
            if s is not None:
                s.close()
        self.peers = [None] * self.n

    def _send(self, j: int, payload: bytes) -> None:
        self.peers[j].sendall(struct.pack("<I", len(payload)) + payload)

    def _recv(self, j: int) -> bytes:
        (n,) = struct.unpack("<I", _recv_exact(self.peers[j], 4))
        return _recv_exact(self.peers[j], n)

    def allgather(self, payload: bytes) -> list[bytes]:
        """Every worker's ``payload``, in worker order (sends first: messages are small)."""
        for j in range(self.n):
            if j != self.me:
                self._send(j, payload)
        return [payload if j == self.me else self._recv(j) for j in range(self.n)]

    def all_masses(self, mass: float) -> np.ndarray:
        """(n,) float64: every worker's D^2 mass, bit for bit."""
        got = self.allgather(struct.pack("<d", mass))
        return np.array([struct.unpack("<d", b)[0] for b in got])

    def broadcast(self, root: int, payload: bytes | None) -> bytes:
        """``payload`` from worker ``root`` (given there) at every worker."""
        if root != self.me:
            return self._recv(root)
        for j in range(self.n):
            if j != self.me:
                self._send(j, payload)
        return payload


def _recv_exact(s: socket.socket, n: int) -> bytes:
    buf = bytearray()
    while len(buf) < n:
        chunk = s.recv(n - len(buf))
        if not chunk:
            raise ConnectionError("a k-means++ worker closed its connection (did it die?)")
        buf += chunk
    return bytes(buf)


def pack_centre(centre, x_dtype, r_dtype) -> bytes:
    """A centre (sq, global id, x (d,), r (K,) or None), or None, as bytes."""
    if centre is None:
        return _HEAD.pack(0.0, -1, 0, -1)
    sq, gid, x, r = centre
    x = np.ascontiguousarray(x, dtype=x_dtype)
    rb = b"" if r is None else np.ascontiguousarray(r, dtype=r_dtype).tobytes()
    return _HEAD.pack(float(sq), int(gid), len(x), -1 if r is None else len(r)) + x.tobytes() + rb


def unpack_centre(b: bytes, x_dtype, r_dtype):
    """The inverse of :func:`pack_centre` (the squared norm as a float; the caller casts it)."""
    sq, gid, nx, nr = _HEAD.unpack_from(b)
    if gid < 0:
        return None
    x_dtype, at = np.dtype(x_dtype), _HEAD.size
    x = np.frombuffer(b, dtype=x_dtype, count=nx, offset=at)
    r = None if nr < 0 else np.frombuffer(b, dtype=r_dtype, count=nr,
                                          offset=at + nx * x_dtype.itemsize)
    return sq, gid, x, r
