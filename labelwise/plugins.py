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


def plugin_modules() -> list[str]:
    """The module names to load: ``LABELWISE_PLUGINS`` first, then the entry points."""
    from importlib.metadata import entry_points

    names = [n.strip() for n in os.environ.get(ENV_VAR, "").split(",") if n.strip()]
    names += [ep.value.split(":")[0] for ep in entry_points(group=ENTRY_POINT_GROUP)]
    return list(dict.fromkeys(names))


def load_plugins() -> list[str]:
    """Import every plugin module once (idempotent); returns the names loaded by this call.

    Raises:
        LabelwiseError: a module that cannot be imported, named with the reason.
    """
    new = []
    for name in plugin_modules():
        if name in _loaded:
            continue
        if "" not in sys.path and os.getcwd() not in sys.path:
            sys.path.insert(0, os.getcwd())  # a module beside the user, as `python -m` would
        try:
            importlib.import_module(name)
        except Exception as exc:
            raise LabelwiseError(f"cannot load the plugin {name!r} named in {ENV_VAR} or the "
                                 f"{ENTRY_POINT_GROUP!r} entry points: "
                                 f"{type(exc).__name__}: {exc}") from None
        _loaded.add(name)
        new.append(name)
    return new
