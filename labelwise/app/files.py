"""Crash-safe writes: a file or a folder appears whole under its name, or not at all.

- :func:`atomic_write`: a file written to a temporary name in the same folder, flushed, fsynced
  and renamed over the target (``os.replace``); on any error the temporary file is removed and
  the previous file is untouched.
- :func:`build_folder`: a folder built under a temporary name beside the target and renamed to
  it at the end; on any error it is removed. A build killed outright (``kill -9``, power loss)
  leaves its temporary folder behind; the next build of the same target removes it.
- :func:`is_disk_full`: whether an error is a full disk (``ENOSPC``, or SQLite's
  "database or disk is full"), which callers turn into a one-line
  :class:`~labelwise.app.errors.DiskFull`.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import sqlite3
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from labelwise.validation import LabelwiseError

#: the temporary folder of a build of ``NAME`` is ``.NAME.building-<pid>-<random>``
_BUILDING = ".building-"


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

    The temporary file (``.NAME.<random>.tmp``, same folder, so the rename is atomic) is flushed
    and fsynced before ``os.replace``, and the folder after it. On any error (a full disk, an
    exception in the ``with`` block, Ctrl-C) it is closed and removed, and the error re-raised:
    ``path`` keeps its previous content.
    """
    path = Path(path)
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


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # exists, but someone else's
        return True
    return True


def _stale_builds(target: Path) -> list[Path]:
    """The temporary folders that killed builds of ``target`` left behind."""
    prefix = f".{target.name}{_BUILDING}"
    out = []
    for p in target.parent.iterdir():
        pid = p.name[len(prefix):].split("-", 1)[0] if p.name.startswith(prefix) else ""
        if pid.isdigit() and p.is_dir() and not _pid_alive(int(pid)):
            out.append(p)
    return out


def interrupted_build(target: str | os.PathLike) -> bool:
    """Whether a build of ``target`` was killed and left its temporary folder behind."""
    target = Path(target)
    return target.parent.is_dir() and bool(_stale_builds(target))


def check_new_folder(target: Path, what: str = "folder") -> None:
    """Reject a ``target`` that :func:`build_folder` could not rename onto: a file (or a path
    under one), or a folder that is not empty."""
    blocked = next((p for p in target.parents if p.exists() and not p.is_dir()), None)
    if blocked is not None:
        raise LabelwiseError(f"{blocked} is a file, not a folder: choose another path for the "
                             f"{what}")
    if target.exists() and not target.is_dir():
        raise LabelwiseError(f"{target} is a file, not a folder: choose another path for the "
                             f"{what}")
    if target.is_dir() and any(target.iterdir()):
        raise LabelwiseError(f"{target} is not empty: give a new (or empty) folder for the "
                             f"{what}")


@contextlib.contextmanager
def build_folder(target: str | os.PathLike, keep: tuple[str, ...] = ()) -> Iterator[Path]:
    """Yield a new temporary folder beside ``target``; rename it to ``target`` at the end.

    ``target`` must be missing or an empty folder (see :func:`check_new_folder`). On success
    the temporary folder is fsynced and renamed (atomic: ``target`` appears whole, or not at
    all); on any error it is removed, with the parent folders this call created, and the error
    re-raised. Temporary folders left by killed builds of the same target are removed first,
    moving their entries named in ``keep`` (e.g. an embedding cache) into the new one.
    """
    target = Path(target)
    check_new_folder(target)
    created = []  # the parent folders made here, deepest first, removed on failure
    parent = target.parent
    while not parent.exists():
        created.append(parent)
        parent = parent.parent
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}{_BUILDING}{os.getpid()}-",
                                dir=target.parent))
    try:
        os.chmod(tmp, 0o777 & ~_umask())  # mkdtemp makes it private (0700), mkdir would not
        for stale in _stale_builds(target):
            for name in keep:
                if (stale / name).exists() and not (tmp / name).exists():
                    os.replace(stale / name, tmp / name)
            shutil.rmtree(stale, ignore_errors=True)
        yield tmp
        fsync_dir(tmp)
        try:
            os.rename(tmp, target)
        except OSError as exc:
            if exc.errno in (errno.ENOTEMPTY, errno.EEXIST, errno.ENOTDIR):
                raise LabelwiseError(f"{target} was created by something else meanwhile; "
                                     "choose another path") from None
            raise
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        for folder in created:
            with contextlib.suppress(OSError):
                folder.rmdir()
        raise
    fsync_dir(target.parent)
