"""Timing and peak-memory helpers shared by the benchmark scripts."""

import threading
import time
from contextlib import contextmanager

import psutil

__all__ = ["Report", "measure"]


@contextmanager
def measure(result):
    """Record wall time and peak RSS growth (bytes) of the block into ``result``.

    RSS is sampled every millisecond by a thread: torch allocations are not
    seen by tracemalloc, so the process's resident size is the honest figure.
    """
    process = psutil.Process()
    start_rss = process.memory_info().rss
    peak = [start_rss]
    done = threading.Event()

    def sample():
        while not done.is_set():
            peak[0] = max(peak[0], process.memory_info().rss)
            done.wait(0.001)

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    start = time.perf_counter()
    try:
        yield result
    finally:
        result["seconds"] = time.perf_counter() - start
        done.set()
        thread.join()
        result["peak_bytes"] = peak[0] - start_rss


class Report:
    """Print lines and, with a path, also write them to a file for the docs.

    The performance page includes these files verbatim, so its figures come
    from runs, never from typing.
    """

    def __init__(self, path=None):
        self.path = path
        self.lines = []

    def __call__(self, line=""):
        print(line, flush=True)
        self.lines.append(line)

    def tables(self, title, table, summary_title, summary):
        """``title``, then ``table``, then ``summary_title`` and ``summary`` (3 decimals)."""
        self(title)
        self(table.round(3).to_string())
        self()
        self(summary_title)
        self(summary.round(3).to_string())

    def save(self):
        if self.path:
            with open(self.path, "w") as file:
                file.write("\n".join(self.lines) + "\n")
