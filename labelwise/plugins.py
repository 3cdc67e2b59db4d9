"""User extensions: modules that register strategies or learners, loaded by the CLI and workers.

A strategy or learner registered in your own module (``register_strategy``, ``register_learner``)
exists in the processes that import that module. For the command line, the app and the worker
processes of a grid to see it too, name the module in ``LABELWISE_PLUGINS`` (comma-separated
module names importable from the current environment) or declare it as an entry point of the
group ``labelwise.plugins`` in your package's metadata::

    LABELWISE_PLUGINS=my_strategies labelwise run --strategies random,max_second
"""

from __future__ import annotations

import importlib
import os
import sys

from labelwise.validation import LabelwiseError

ENV_VAR = "LABELWISE_PLUGINS"
ENTRY_POINT_GROUP = "labelwise.plugins"
_loaded: set[str] = set()
#: entry-point modules that failed to load, with the one-line warning printed for each
skipped: dict[str, str] = {}


def plugin_modules() -> list[tuple[str, bool]]:
    """The modules to load, each with whether the user named it: ``LABELWISE_PLUGINS`` first
    (named), then the entry points other packages declare."""
    from importlib.metadata import entry_points

    named = [n.strip() for n in os.environ.get(ENV_VAR, "").split(",") if n.strip()]
    try:
        declared = [ep.value.split(":")[0].strip() for ep in entry_points(group=ENTRY_POINT_GROUP)]
    except Exception as exc:  # a package's broken metadata must not stop every command
        _warn("<entry points>", f"cannot read the {ENTRY_POINT_GROUP!r} entry points: "
                                f"{type(exc).__name__}: {exc}")
        declared = []
    out = dict.fromkeys(named, True)
    for name in declared:
        out.setdefault(name, False)
    return list(out.items())


def _warn(name: str, message: str) -> None:
    skipped[name] = message
    print(f"labelwise: warning: {message}", file=sys.stderr)


def _import(name: str) -> None:
    """Import plugin module ``name``; any failure, ``sys.exit`` included, as a LabelwiseError."""
    try:
        importlib.import_module(name)
    except SystemExit as exc:  # would end the command silently
        raise LabelwiseError(f"the plugin {name!r} called sys.exit({exc.code!r}) while loading; "
                             "a plugin module must only register strategies or learners") \
            from None
    except Exception as exc:
        reason = f"{type(exc).__name__}: {exc}".splitlines()[0]
        raise LabelwiseError(f"cannot load the plugin {name!r}: {reason}") from None


def load_plugins() -> list[str]:
    """Import every plugin module once (idempotent); returns the names loaded by this call.

    A module named in ``LABELWISE_PLUGINS`` that fails (an exception, ``sys.exit``) is a
    one-line error: the user asked for it. An entry point of another installed package that
    fails is a one-line warning on stderr (kept in :data:`skipped`), and the command goes on.

    Raises:
        LabelwiseError: a module named in ``LABELWISE_PLUGINS`` that cannot be loaded.
    """
    new = []
    for name, named in plugin_modules():
        if name in _loaded or name in skipped:
            continue
        if "" not in sys.path and os.getcwd() not in sys.path:
            sys.path.insert(0, os.getcwd())  # a module beside the user, as `python -m` would
        try:
            _import(name)
        except LabelwiseError as exc:
            if named:
                raise LabelwiseError(f"{exc} (named in {ENV_VAR})") from None
            _warn(name, f"{exc} (an entry point of the group {ENTRY_POINT_GROUP!r} of an "
                        "installed package); going on without it")
            continue
        _loaded.add(name)
        new.append(name)
    return new
