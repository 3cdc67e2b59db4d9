"""Ray, imported where it is used, and its results with a worker's errors made one line."""

from __future__ import annotations

from labelwise.validation import LabelwiseError


def import_ray():
    """The ray module, or one line saying how to install it."""
    try:
        import ray
    except ImportError:
        raise LabelwiseError("the ray executor needs Ray: pip install 'labelwise[ray]'") from None
    return ray


def connect(address: str | None):
    """The ray module, connected to the cluster at ``address`` (None: RAY_ADDRESS or a local
    one) unless this process is connected already."""
    ray = import_ray()
    if not ray.is_initialized():
        ray.init(address=address, include_dashboard=False, log_to_driver=False)
    return ray


def get(refs):
    """``ray.get`` that turns a worker's LabelwiseError back into a one-line LabelwiseError."""
    ray = import_ray()
    try:
        return ray.get(refs)
    except ray.exceptions.RayTaskError as exc:
        cause = getattr(exc, "cause", None)
        if isinstance(cause, LabelwiseError):
            raise LabelwiseError(str(cause).splitlines()[-1]) from None
        raise
    except ray.exceptions.RayActorError as exc:
        cause = getattr(exc, "cause", None) or getattr(exc, "error_msg", "")
        text = str(cause)
        for line in text.splitlines()[::-1]:
            if "LabelwiseError" in line:
                raise LabelwiseError(line.split("LabelwiseError: ", 1)[-1]) from None
        raise
