"""A project folder built whole: build_folder, and the leftovers of killed builds."""

import os
import stat
import subprocess
import sys

import pytest

from labelwise.app.files import build_folder, interrupted_build
from labelwise.validation import LabelwiseError


def mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


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
