"""The workers' direct connections for k-means++ (labelwise.distributed.mesh), in threads."""

import threading

import numpy as np
import pytest

from labelwise.distributed import mesh as M
from labelwise.distributed.seeding import choose


def _meshes(n, keys=None):
    """n meshes set up concurrently, as n workers would; (meshes, errors)."""
    keys = keys or [b"k" * 32] * n
    listeners = [M.listen() for _ in range(n)]
    addresses = [a for _, a in listeners]
    out, errors = [None] * n, [None] * n

    def connect(i):
        try:
            out[i] = M.Mesh(listeners[i][0], addresses, i, keys[i])
        except OSError as exc:
            errors[i] = exc

    threads = [threading.Thread(target=connect, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for s, _ in listeners:
        s.close()
    return out, errors


def _each(meshes, fn):
    res = [None] * len(meshes)
    threads = [threading.Thread(target=lambda i=i: res.__setitem__(i, fn(meshes[i])))
               for i in range(len(meshes))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return res


def test_masses_and_a_centre_reach_every_worker_bit_for_bit():
    meshes, errors = _meshes(3)
    assert errors == [None] * 3
    masses = [0.1 + 1e-17, 2.0 / 3.0, 1e300]
    got = _each(meshes, lambda m: m.all_masses(masses[m.me]))
    for g in got:
        assert g.tolist() == masses
    x = np.arange(5, dtype=np.float32) / 3
    r = np.array([0.25, -1 / 3])
    centre = (np.float32(7.1), 42, x, r)
    got = _each(meshes, lambda m: M.unpack_centre(
        m.broadcast(1, M.pack_centre(centre, np.float32, np.float64) if m.me == 1 else None),
        np.float32, np.float64))
    for sq, gid, gx, gr in got:
        assert np.float32(sq) == centre[0] and gid == 42
        np.testing.assert_array_equal(gx, x)
        np.testing.assert_array_equal(gr, r)
    for m in meshes:
        m.close()


def test_no_centre_and_no_residuals_pack_too():
    assert M.unpack_centre(M.pack_centre(None, np.float32, None), np.float32, None) is None
    sq, gid, x, r = M.unpack_centre(M.pack_centre((1.5, 3, np.ones(2), None), np.float64, None),
                                    np.float64, None)
    assert (sq, gid, x.tolist(), r) == (1.5, 3, [1.0, 1.0], None)


def test_a_peer_without_the_key_is_refused():
    meshes, errors = _meshes(2, keys=[b"a" * 32, b"b" * 32])
    assert isinstance(errors[0], ConnectionError) and "key" in str(errors[0])


def test_an_unreachable_worker_fails_the_setup_in_bounded_time(monkeypatch):
    monkeypatch.setattr(M, "SETUP_SECONDS", 0.5)
    s, address = M.listen()
    s.close()  # nobody listens there any more
    with pytest.raises(OSError):
        M.Mesh(None, [address, None], 1, b"k" * 32)


def test_the_choice_of_worker_follows_the_cumulative_masses():
    assert choose(np.array([1.0, 0.0, 3.0]), 0.2) == (0, 0.8)
    assert choose(np.array([1.0, 0.0, 3.0]), 0.5) == (2, 1.0)
    assert choose(np.array([1.0, 0.0, 0.0]), 1.0) == (0, 1.0)  # rounding past the last mass
    assert choose(np.zeros(3), 0.5) is None
