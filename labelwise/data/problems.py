"""What user-data loaders do with bad rows or files: fail listing them all, or skip them loudly.

Loaders never drop input silently: by default a bad entry is an error that lists every offender
(the first few shown, with the count); with ``skip_bad=True`` the offenders are left out and a
warning lists them.
"""

from __future__ import annotations

import warnings

from labelwise.validation import LabelwiseError


def list_offenders(offenders: list[str], limit: int = 8) -> str:
    """``"a (why); b (why) ... and 3 more"``: the first ``limit`` offenders and the count left."""
    shown = "; ".join(offenders[:limit])
    return shown + (f" ... and {len(offenders) - limit} more" if len(offenders) > limit else "")


def handle_offenders(offenders: list[str], what: str, source: str, skip_bad: bool) -> None:
    """Raise a LabelwiseError listing ``offenders`` (or warn, when ``skip_bad``); no-op if none.

    Args:
        offenders: one ``"<row or path> (<why>)"`` string per bad entry.
        what: what the entries are, plural (``"rows"``, ``"files"``).
        source: the file or folder they came from.
        skip_bad: leave them out with a warning instead of failing.
    """
    if not offenders:
        return
    msg = f"{len(offenders)} bad {what} in {source}: {list_offenders(offenders)}"
    if skip_bad:
        warnings.warn(f"skipped {msg}", UserWarning, stacklevel=3)
        return
    raise LabelwiseError(f"{msg} (fix them, or pass skip_bad=True to leave them out)")
