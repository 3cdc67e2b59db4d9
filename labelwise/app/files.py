"""Building a project folder whole: it appears under its name complete, or not at all.

- :func:`build_folder`: a folder built under a temporary name beside the target and renamed to
  it at the end; on any error it is removed. A build killed outright (``kill -9``, power loss)
  leaves its temporary folder behind; the next build of the same target removes it.

Writing single files (``atomic_write``) and recognising a full disk (``is_disk_full``) live in
:mod:`labelwise.io`, shared with the exports and the integrations.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from labelwise.io import _umask, fsync_dir
from labelwise.validation import LabelwiseError

#: the temporary folder of a build of ``NAME`` is ``.NAME.building-<pid>-<random>``
_BUILDING = ".building-"


def pid_alive(pid: int) -> bool:
    """Whether process ``pid`` exists on this machine (someone else's counts)."""
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
        if pid.isdigit() and p.is_dir() and not pid_alive(int(pid)):
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
