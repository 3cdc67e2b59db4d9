"""``python -m labelwise.cli``: the ``labelwise`` command."""

from labelwise.cli import entry

entry()
