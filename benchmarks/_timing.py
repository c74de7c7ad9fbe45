"""The timing loop of the search benchmarks: each query searched a few times, wall and CPU time.

The first search of a query may read from disk (set files, memory-mapped vectors) and the
repeats from the page cache, so both are kept apart. CPU time is the process time of one
search: what it costs on an idle core, where wall time on a loaded machine also counts waiting.

Examples
--------
>>> results, stats = time_queries(lambda q: q * 2, [1, 2, 3], repeats=2)
>>> results, sorted(stats)
([2, 4, 6], ['again_ms_max', 'again_ms_median', 'cpu_ms_median', 'first_ms_median'])
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import TypeVar

import numpy as np

Q = TypeVar("Q")
R = TypeVar("R")


def timed(search: Callable[[Q], R], query: Q) -> tuple[R, float, float]:
    """``search(query)``, its wall seconds and its CPU (process) seconds."""
    w0, c0 = time.perf_counter(), time.process_time()
    result = search(query)
    return result, time.perf_counter() - w0, time.process_time() - c0


def time_queries(
    search: Callable[[Q], R], queries: Sequence[Q], repeats: int
) -> tuple[list[R], dict[str, float]]:
    """Search every query ``repeats`` times; the results of the last repeats and, in ms, the
    median wall time of first searches, the median and max of the repeats, the median CPU time.
    """
    results, first, again, cpu = [], [], [], []
    for query in queries:
        for r in range(repeats):
            result, wall, used = timed(search, query)
            (first if r == 0 else again).append(wall)
            cpu.append(used)
        results.append(result)
    again = again or first  # one repeat: the first searches are all there is
    stats = {
        "first_ms_median": 1000 * float(np.median(first)),
        "again_ms_median": 1000 * float(np.median(again)),
        "again_ms_max": 1000 * float(np.max(again)),
        "cpu_ms_median": 1000 * float(np.median(cpu)),
    }
    return results, stats
