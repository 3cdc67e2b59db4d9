"""labelwise.io: files written whole or not at all, over regular files only (links are written
through; folders, devices and FIFOs are refused with one line), and what counts as a full disk."""

import errno
import os
import sqlite3
import stat

import pytest

from labelwise.io import atomic_write, is_disk_full, writable_target
from labelwise.validation import LabelwiseError


def mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


def write(path, text="new"):
    with atomic_write(path) as f:
        f.write(text)


def test_a_symlink_is_written_through_and_stays_a_link(tmp_path):
    (tmp_path / "real.json").write_text("old")
    (tmp_path / "link.json").symlink_to("real.json")
    write(tmp_path / "link.json")
    assert (tmp_path / "link.json").is_symlink() and os.readlink(tmp_path / "link.json") == \
        "real.json"
    assert (tmp_path / "real.json").read_text() == "new"
    assert sorted(os.listdir(tmp_path)) == ["link.json", "real.json"]  # no temporary file left


def test_a_link_to_a_missing_file_creates_it(tmp_path):
    (tmp_path / "sub").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "sub" / "made.txt")
    write(tmp_path / "link")
    assert (tmp_path / "sub" / "made.txt").read_text() == "new" and (tmp_path / "link").is_symlink()


def test_a_device_is_refused_and_untouched(tmp_path):
    before = os.stat("/dev/null")
    with pytest.raises(LabelwiseError, match=r"^/dev/null is a device: labelwise only replaces "
                                             r"regular files; choose a file path$"):
        write("/dev/null")
    (tmp_path / "out").symlink_to("/dev/null")  # the attack: export --out a link to a device
    with pytest.raises(LabelwiseError, match=r"out \(a link to /dev/null\) is a device"):
        write(tmp_path / "out")
    after = os.stat("/dev/null")
    assert (after.st_mode, after.st_ino) == (before.st_mode, before.st_ino)
    assert os.listdir(tmp_path) == ["out"]


def test_a_folder_or_a_fifo_is_refused(tmp_path):
    (tmp_path / "d").mkdir()
    with pytest.raises(LabelwiseError, match="d is a folder"):
        write(tmp_path / "d")
    os.mkfifo(tmp_path / "p")
    with pytest.raises(LabelwiseError, match="p is a FIFO"):
        write(tmp_path / "p")
    assert (tmp_path / "d").is_dir() and sorted(os.listdir(tmp_path)) == ["d", "p"]


def test_a_symlink_loop_is_a_one_line_error(tmp_path):
    (tmp_path / "a").symlink_to("b")
    (tmp_path / "b").symlink_to("a")
    with pytest.raises(LabelwiseError, match="cannot write .*a: "):
        writable_target(tmp_path / "a")


def test_the_label_studio_export_refuses_a_link_to_a_device(tmp_path):
    """The issue's case: an export's --out, a link to a device, used to become a regular file."""
    from labelwise.integrations.label_studio import write_export

    (tmp_path / "ls.json").symlink_to("/dev/null")
    with pytest.raises(LabelwiseError, match="is a device"):
        write_export(tmp_path / "ls.json", [], "<View/>")
    assert (tmp_path / "ls.json").is_symlink()


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
