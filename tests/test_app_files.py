"""Crash-safe writes: atomic_write, build_folder, and what counts as a full disk."""

import errno
import os
import sqlite3
import stat
import subprocess
import sys

import pytest

from labelwise.app.files import build_folder, interrupted_build
from labelwise.io import atomic_write, is_disk_full
from labelwise.validation import LabelwiseError


def mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


def test_atomic_write_replaces_whole_or_not_at_all(tmp_path):
    out = tmp_path / "out.txt"
    with atomic_write(out) as f:
        f.write("first")
    umask = os.umask(0)
    os.umask(umask)
    assert out.read_text() == "first" and mode(out) == 0o666 & ~umask  # not mkstemp's 0600
    os.chmod(out, 0o640)
    with pytest.raises(ZeroDivisionError), atomic_write(out) as f:
        f.write("half of the second")
        raise ZeroDivisionError
    assert out.read_text() == "first" and os.listdir(tmp_path) == ["out.txt"]
    with atomic_write(out, "wb") as f:
        f.write(b"second")
    assert out.read_bytes() == b"second" and mode(out) == 0o640  # the mode it had


def test_build_folder_renames_at_the_end_and_cleans_up_on_failure(tmp_path):
    target = tmp_path / "a" / "b" / "p"
    with pytest.raises(KeyboardInterrupt), build_folder(target) as tmp:
        assert tmp.parent == target.parent and tmp.name.startswith(".p.building-")
        (tmp / "x").write_text("1")
        assert not target.exists()
        raise KeyboardInterrupt
    assert os.listdir(tmp_path) == []  # the parents it made are gone too
    (tmp_path / "empty").mkdir()
    with build_folder(tmp_path / "empty") as tmp:
        (tmp / "x").write_text("1")
    assert os.listdir(tmp_path / "empty") == ["x"]
    (tmp_path / "f").write_text("")
    with pytest.raises(LabelwiseError, match="is a file, not a folder"), \
            build_folder(tmp_path / "f"):
        pass
    with pytest.raises(LabelwiseError, match="is not empty"), build_folder(tmp_path / "empty"):
        pass


def test_only_the_leftovers_of_dead_builds_count_as_interrupted(tmp_path):
    target = tmp_path / "p"
    (tmp_path / f".p.building-{os.getpid()}-abc").mkdir()  # a live build (this process)
    (tmp_path / ".q.building-1-abc").mkdir()  # another target's
    assert not interrupted_build(target)
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    (tmp_path / f".p.building-{proc.pid}-abc").mkdir()  # a build whose process is gone
    assert interrupted_build(target)
    with build_folder(target):
        pass
    assert sorted(os.listdir(tmp_path)) == [".p.building-" f"{os.getpid()}-abc",
                                            ".q.building-1-abc", "p"]


@pytest.mark.parametrize("exc, full", [
    (OSError(errno.ENOSPC, "No space left on device"), True),
    (OSError(errno.EDQUOT, "Disk quota exceeded"), True),
    (OSError("Not enough free space to write 100 bytes after offset 128"), True),
    (OSError(errno.EACCES, "Permission denied"), False),
    (sqlite3.OperationalError("database or disk is full"), True),
    (sqlite3.OperationalError("disk I/O error"), False),  # this disk has room
    (sqlite3.OperationalError("database is locked"), False),
    (OSError("100 requested and 50 written"), False),  # this disk has room
    (ValueError("no"), False),
])
def test_what_counts_as_a_full_disk(tmp_path, exc, full):
    assert is_disk_full(exc, where=tmp_path) is full
