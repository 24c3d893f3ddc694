"""Torch intra-op threads: chosen by problem size, the caller's setting restored.

torch runs every operation on all cores by default. On matrices of a few
thousand entries (a batch of 64 rows of a 64-column table) the threads spend
more time waking and waiting for each other than computing, and on a machine
whose cores are busy with other processes a late thread stalls every
operation: the small jobs of this library ran 8x slower than on one thread.
Threads pay off only on large operations, and only on cores that are free.
"""

import os
from contextlib import contextmanager
from contextvars import ContextVar

import joblib
import torch

__all__ = ["default_threads", "free_cpus", "resolve_threads", "torch_threads"]

# What "auto" means inside ``default_threads``: the command line's --threads
# reaches detectors built by code that does not pass ``n_threads`` on.
_DEFAULT = ContextVar("skinfluence_n_threads", default="auto")

# Entries of one operand below which one thread is used. A float32 matrix of
# 2**17 entries is 512 KiB, about a core's L2 cache: below it, one core does
# the work in well under a millisecond and thread wake-ups dominate.
SMALL_OPERAND = 2**17


def resolve_threads(n_threads, operand_size):
    """Number of torch intra-op threads for operations of a given size.

    Parameters
    ----------
    n_threads : "auto", int or None
        ``"auto"`` or None: the count set by :func:`default_threads` if any;
        otherwise one thread when ``operand_size`` is below
        ``SMALL_OPERAND`` (``2**17`` entries), and else torch's current
        count, capped by the cores the machine leaves free (see
        :func:`free_cpus`). A positive int: that many threads. -1: one per
        CPU available to the process (``joblib.cpu_count()``).
    operand_size : int
        Entries of a typical operand, e.g. ``batch_size * n_features`` for
        training.

    Returns
    -------
    n_threads : int
        The count to run with.

    Examples
    --------
    >>> from skinfluence._threads import resolve_threads
    >>> resolve_threads("auto", 64 * 64), resolve_threads(3, 64)
    (1, 3)
    """
    if n_threads is None or n_threads == "auto":
        n_threads = _DEFAULT.get()
    if n_threads == "auto":
        if operand_size < SMALL_OPERAND:
            return 1
        free = free_cpus()
        current = torch.get_num_threads()
        return current if free is None else max(1, min(current, free))
    if n_threads == -1:
        return joblib.cpu_count()
    return int(n_threads)


def free_cpus():
    """CPUs that other processes leave free, from the 1-minute load average.

    ``cpu_count - load + 1``: the load counts this process too when it is
    running. A lagging estimate (a minute's average), but it tells a shared,
    busy machine, where threads stall each other, from an idle one.

    Returns
    -------
    n_free : int or None
        At least 1; None where the platform has no load average (Windows).
    """
    try:
        load = os.getloadavg()[0]
    except (AttributeError, OSError):
        return None
    return max(1, int(joblib.cpu_count() - load + 1))


@contextmanager
def torch_threads(n_threads):
    """Run the block with ``n_threads`` torch intra-op threads.

    The caller's count is restored when the block ends, also when it raises.
    None runs the block with the current setting untouched.

    Parameters
    ----------
    n_threads : int or None

    Examples
    --------
    >>> import torch
    >>> from skinfluence._threads import torch_threads
    >>> before = torch.get_num_threads()
    >>> with torch_threads(1):
    ...     torch.get_num_threads()
    1
    >>> torch.get_num_threads() == before
    True
    """
    previous = torch.get_num_threads()
    if n_threads is None or n_threads == previous:
        yield
        return
    torch.set_num_threads(n_threads)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


@contextmanager
def default_threads(n_threads):
    """Make ``n_threads`` what ``"auto"`` resolves to inside the block.

    Parameters
    ----------
    n_threads : "auto", int or None
        As the detector's ``n_threads``; None or ``"auto"`` changes nothing.

    Examples
    --------
    >>> from skinfluence._threads import default_threads, resolve_threads
    >>> with default_threads(2):
    ...     resolve_threads("auto", 10)
    2
    """
    token = _DEFAULT.set("auto" if n_threads is None else n_threads)
    try:
        yield
    finally:
        _DEFAULT.reset(token)
