"""Resolve the ``checkpoints`` parameter into epoch indices."""

import math
from numbers import Integral

import numpy as np

__all__ = ["resolve_checkpoints"]


def resolve_checkpoints(checkpoints, n_epochs):
    """Return the sorted, unique epoch indices selected by ``checkpoints``.

    Parameters
    ----------
    checkpoints : {"all", "early", "late"}, slice, int or list of int
        ``"early"`` is the first ``ceil(T / 3)`` epochs and ``"late"`` the last
        ``ceil(T / 3)``; a slice or integers index the ``T`` captured epochs
        (0-based, negative from the end).
    n_epochs : int
        Number of captured epochs ``T``.

    Returns
    -------
    epochs : ndarray of int

    Examples
    --------
    >>> resolve_checkpoints("late", 9)
    array([6, 7, 8])
    >>> resolve_checkpoints([0, -1], 5)
    array([0, 4])
    """
    third = math.ceil(n_epochs / 3)
    if isinstance(checkpoints, str):
        named = {
            "all": slice(None),
            "early": slice(0, third),
            "late": slice(n_epochs - third, None),
        }
        if checkpoints not in named:
            raise ValueError(
                f"checkpoints={checkpoints!r} is not one of 'all', 'early', 'late'."
            )
        checkpoints = named[checkpoints]
    if isinstance(checkpoints, slice):
        epochs = np.arange(n_epochs)[checkpoints]
    else:
        epochs = np.atleast_1d(np.asarray(checkpoints))
        if epochs.dtype.kind not in "iu" and not all(
            isinstance(e, Integral) for e in epochs
        ):
            raise TypeError(
                f"checkpoints must hold integer epoch indices, got {checkpoints!r}."
            )
        bad = epochs[(epochs >= n_epochs) | (epochs < -n_epochs)]
        if bad.size:
            raise ValueError(
                f"checkpoints {bad.tolist()} are out of range for {n_epochs} captured epochs."
            )
        epochs = np.unique(epochs % n_epochs)
    if epochs.size == 0:
        raise ValueError(
            f"checkpoints={checkpoints!r} selects no epoch out of {n_epochs}."
        )
    return epochs.astype(np.int64)
