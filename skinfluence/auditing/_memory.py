"""Handing freed memory back to the operating system during a large audit.

glibc's ``malloc`` keeps freed blocks for reuse: after scoring 200 000
rows in chunks, 0.3 GB of freed, fragmented heap stayed resident (the
process's RSS, which the operating system counts against its memory), and
at a million rows the resident memory after scoring fell from 3.2 to 2.8 GB
with both helpers. They are no-ops where the C library is not glibc.
"""

import ctypes
import sys

__all__ = ["map_large_allocations", "return_freed_memory"]

_M_MMAP_THRESHOLD = -3  # mallopt's parameter number in glibc's malloc.h
_LARGE = 4 * 2**20


def _glibc():
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return None
    # musl and other C libraries have no malloc_trim.
    return libc if hasattr(libc, "malloc_trim") else None


def return_freed_memory():
    """Return the free pages of the heap to the operating system (``malloc_trim``).

    Cheap (it only walks the free lists); the audit calls it after each
    stage, so that the next stage does not start on the last one's holes.
    """
    libc = _glibc()
    if libc is not None:
        libc.malloc_trim(0)


def map_large_allocations(threshold=_LARGE):
    """Give every allocation of ``threshold`` bytes or more its own mapping.

    glibc raises its ``mmap`` threshold as large blocks are freed (up to
    32 MiB), so that the chunked arrays of a streamed computation come from
    the heap and their holes stay resident; with a fixed threshold each is
    unmapped, and its memory returned, as soon as it is freed. Process-wide,
    so only the ``skinfluence audit`` command sets it, once.
    """
    libc = _glibc()
    if libc is not None and hasattr(libc, "mallopt"):
        libc.mallopt(_M_MMAP_THRESHOLD, int(threshold))
