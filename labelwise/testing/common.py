"""What the contract checks share: the toy data, the error they raise and the quick learners."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from labelwise.validation import LabelwiseError

#: learners the strategy checks may fit, in order of preference (cheap first, plain features)
TOY_LEARNERS = ("logreg", "svm", "mlp", "ensemble", "supcon", "lossnet")
#: short training for the torch learners in the checks; applied only where a learner has the key
QUICK_PARAMS = {"max_epochs": 8, "hidden": 16, "mc_samples": 4, "ft_epochs": 2,
                "contrastive_epochs": 4, "n_members": 2, "projection": 8, "loss_hidden": 8,
                "snapshot_patience": 2, "max_steps": 4}


class ContractError(AssertionError):
    """A strategy or learner broke the contract; ``subject``, ``check`` and ``problem`` say how."""

    def __init__(self, subject: str, check: str, problem: str):
        super().__init__(f"{subject} fails check {check!r}: {problem}")
        self.subject, self.check, self.problem = subject, check, problem


def gaussian_blobs(centres, n: int, scale: float = 1.0, labels: str = "cycle", seed: int = 0,
                   dtype=None) -> tuple[np.ndarray, np.ndarray]:
    """Synthetic classes: item i is ``centres[y[i]]`` plus Gaussian noise of sd ``scale``.

    Args:
        centres: (K, d) one centre per class.
        n: the number of items.
        labels: how y (n,) of class indices is laid out: ``"cycle"`` (0, 1, ..., K-1, 0, ...),
            ``"block"`` (the first n // K items are class 0, the next class 1, ..., the last class
            takes the remainder) or ``"random"`` (drawn uniformly, before the noise).
        seed: seeds the labels (``"random"``) and the noise.
        dtype: the dtype of X (default float64).

    Returns: X (n, d) and y (n,) int64.
    """
    centres = np.asarray(centres, dtype=float)
    K = len(centres)
    rng = np.random.default_rng(seed)
    if labels == "cycle":
        y = np.arange(n) % K
    elif labels == "block":
        y = np.minimum(np.arange(n) // max(n // K, 1), K - 1)
    elif labels == "random":
        y = rng.integers(0, K, n)
    else:
        raise LabelwiseError(f"labels must be cycle, block or random, got {labels!r}")
    X = centres[y] + rng.normal(0, scale, (n, centres.shape[1]))
    return (X if dtype is None else X.astype(dtype)), y.astype(np.int64)


def toy_data(n: int = 60, n_classes: int = 3, d: int = 4, seed: int = 0,
             dtype=np.float64) -> tuple[np.ndarray, np.ndarray]:
    """``n_classes`` well-separated Gaussian blobs: X (n, d) of ``dtype``, y (n,) strings "c0"...
    (string labels, so a learner must map labels to columns itself)."""
    centres = np.random.default_rng(seed).normal(scale=4.0, size=(n_classes, d))
    X, y_idx = gaussian_blobs(centres, n, seed=seed + 1, dtype=dtype)
    return X, np.array([f"c{i}" for i in y_idx])


class _Runner:
    """Runs checks in order and turns the first failure into a ContractError."""

    def __init__(self, subject: str):
        self.subject = subject
        self.done: list[str] = []

    def __call__(self, name: str, fn: Callable[[], None]) -> None:
        try:
            fn()
        except ContractError:
            raise
        except AssertionError as exc:
            raise ContractError(self.subject, name, str(exc) or "assertion failed") from exc
        except Exception as exc:  # noqa: BLE001 - any crash breaks the contract, say which
            raise ContractError(self.subject, name,
                                f"raised {type(exc).__name__}: {exc}") from exc
        self.done.append(name)


def quick_learner(name: str, classes, params: dict | None = None, random_state: int = 0):
    """The registered learner ``name`` with short training (``QUICK_PARAMS`` where it takes
    them), then ``params``."""
    from labelwise.learners import make_learner

    params = params or {}
    model = make_learner(name, classes, random_state=random_state, **params)
    own = model.get_params(deep=False)
    return model.set_params(**{k: v for k, v in QUICK_PARAMS.items()
                               if k in own and k not in params})
