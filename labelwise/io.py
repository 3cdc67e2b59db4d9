"""Writing files safely: whole or not at all, and never over something that is not a file.

- :func:`atomic_write`: a file written to a temporary name in the same folder, flushed, fsynced
  and renamed over the target (``os.replace``); on any error the temporary file is removed and
  the previous file is untouched. The target must be a regular file or missing: a symlink is
  written through (its target file is replaced, the link stays), a folder, a device, a FIFO or
  a socket is refused with a one-line :class:`~labelwise.validation.LabelwiseError` (a rename
  would have put a regular file in its place).
- :func:`fsync_dir`: make a rename durable.
- :func:`is_disk_full`: whether an error is a full disk (``ENOSPC``, or SQLite's
  "database or disk is full"), which callers turn into a one-line error.

The app (``labelwise.app``), the exports and the integrations all write through here.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import sqlite3
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from labelwise.validation import LabelwiseError


def writable_target(path: str | os.PathLike) -> Path:
    """The regular file a writer may replace for ``path``: ``path`` itself when it is a
    regular file or missing, the file a symlink points to (followed to the end; it may be
    missing), never anything else.

    Raises:
        LabelwiseError: ``path`` (or what it links to) is a folder, a device, a FIFO or a
            socket, or a symlink loop.
    """
    path = Path(path)
    target = Path(os.path.realpath(path)) if path.is_symlink() else path
    try:
        mode = os.stat(target).st_mode
    except FileNotFoundError:
        return target
    except OSError as exc:  # a loop of links, a path through a file
        raise LabelwiseError(f"cannot write {path}: {exc.strerror}; choose another path") \
            from None
    if not stat.S_ISREG(mode):
        kind = ("a folder" if stat.S_ISDIR(mode) else "a device" if stat.S_ISCHR(mode)
                or stat.S_ISBLK(mode) else "a FIFO" if stat.S_ISFIFO(mode) else "a socket"
                if stat.S_ISSOCK(mode) else "not a regular file")
        shown = path if target == path else f"{path} (a link to {target})"
        raise LabelwiseError(f"{shown} is {kind}: labelwise only replaces regular files; "
                             "choose a file path")
    return target


def is_disk_full(exc: BaseException, where: str | os.PathLike | None = None) -> bool:
    """Whether ``exc`` says the disk (or the user's quota) is full.

    Args:
        where: the folder written to. Some writers do not pass ``ENOSPC`` on: numpy's
            ``tofile`` may raise "N requested and M written" without an errno, SQLite reports some
            writes (creating its ``-wal``/``-shm`` files) as a "disk I/O error". Such an error
            counts as a full disk when the disk under ``where`` has less than 1 MiB free.
    """
    if isinstance(exc, OSError) and (exc.errno in (errno.ENOSPC, errno.EDQUOT)
                                     or "Not enough free space" in str(exc)):  # numpy's fallocate
        return True
    code = getattr(exc, "sqlite_errorcode", None) or 0  # Python 3.11+
    if isinstance(exc, sqlite3.Error) and (code == 13 or "database or disk is full" in str(exc)):
        return True  # SQLITE_FULL
    vague = (isinstance(exc, OSError) and exc.errno is None) or (
        isinstance(exc, sqlite3.Error) and (code & 0xFF == 10 or "disk I/O error" in str(exc)))
    if where is not None and vague:  # SQLITE_IOERR_*, or an OSError without errno
        try:
            return shutil.disk_usage(where).free < 2**20
        except OSError:
            return False
    return False


def _umask() -> int:
    """The process's umask, read without changing it (Linux), else the usual 0o022."""
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    return 0o022


def fsync_dir(folder: str | os.PathLike) -> None:
    """Make a rename or a new entry in ``folder`` durable (no-op where folders cannot be
    opened, e.g. on Windows)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:  # some file systems do not sync folders; the rename is done anyway
        pass
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike, mode: str = "w", encoding: str | None = "utf-8",
                 newline: str | None = None) -> Iterator[IO]:
    """Open a temporary file beside ``path`` for writing; rename it to ``path`` on success.

    ``path`` must be a regular file, missing, or a symlink (the file it points to is written);
    anything else is refused (see :func:`writable_target`).

    The temporary file (``.NAME.<random>.tmp``, same folder, so the rename is atomic) is flushed
    and fsynced before ``os.replace``, and the folder after it. On any error (a full disk, an
    exception in the ``with`` block, Ctrl-C) it is closed and removed, and the error re-raised:
    ``path`` keeps its previous content.
    """
    path = writable_target(path)
    if "b" in mode:
        encoding = newline = None
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        # mkstemp makes the file private (0600); give it the mode open() would have given
        os.chmod(tmp, path.stat().st_mode & 0o7777 if path.exists() else 0o666 & ~_umask())
        with open(fd, mode, encoding=encoding, newline=newline) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    fsync_dir(path.parent)
