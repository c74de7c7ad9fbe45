"""How many threads a search may use: one setting for BLAS (numpy) and faiss.

A query's work is small (a few milliseconds of matrix products and one scan of the feature
vectors); on a shared or busy machine extra threads mostly wait for cores, and with two threads
a search measured ~3x slower than with one under load (benchmarks/search_zoo.py, 2 CPUs). So
searches run with ``RECYCLE_SEARCH_THREADS`` threads, default :data:`DEFAULT_THREADS` (1); a
dedicated server with idle cores may raise it. The limit holds only inside :func:`limited`
(BLAS through threadpoolctl; faiss's OpenMP pool, when faiss is loaded, is set for the call and
put back after).

Examples
--------
>>> search_threads({"RECYCLE_SEARCH_THREADS": "4"}), search_threads({})
(4, 1)
>>> with limited(): pass
"""

from __future__ import annotations

import contextlib
import functools
import os
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from recycle.errors import ConfigError

#: Threads of a search unless ``RECYCLE_SEARCH_THREADS`` says otherwise.
DEFAULT_THREADS = 1
ENV = "RECYCLE_SEARCH_THREADS"


def search_threads(environ: Mapping[str, str] | None = None) -> int:
    """The thread count of searches: ``$RECYCLE_SEARCH_THREADS`` or :data:`DEFAULT_THREADS`.

    Examples
    --------
    >>> search_threads({"RECYCLE_SEARCH_THREADS": "0"})
    Traceback (most recent call last):
    ...
    recycle.errors.ConfigError: RECYCLE_SEARCH_THREADS must be an int >= 1. Got '0' instead.
    """
    raw = (os.environ if environ is None else environ).get(ENV, str(DEFAULT_THREADS))
    if not raw.strip().isdigit() or int(raw) < 1:
        raise ConfigError(f"{ENV} must be an int >= 1. Got {raw!r} instead.")
    return int(raw)


#: Packages that load a BLAS or OpenMP library of their own when imported.
_BLAS_CARRIERS = ("numpy", "scipy", "torch", "faiss", "sklearn", "lightgbm", "xgboost")


@functools.cache  # inspecting the loaded libraries takes ~3 ms: done again only when one of
def _controller(loaded: frozenset[str]) -> Any:  # the packages that bring a BLAS was imported
    from threadpoolctl import ThreadpoolController

    return ThreadpoolController()


@contextmanager
def faiss_threads(threads: int | None = None) -> Iterator[None]:
    """Run the block with faiss's OpenMP pool at ``threads`` (default :func:`search_threads`),
    put back after; imports faiss (callers that use it have)."""
    import faiss

    n = search_threads() if threads is None else threads
    before = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(n)
    try:
        yield
    finally:
        faiss.omp_set_num_threads(before)


@contextmanager
def limited(threads: int | None = None) -> Iterator[None]:
    """Run the block with at most ``threads`` (default :func:`search_threads`) BLAS threads, and
    faiss threads when faiss is loaded (it is imported only by the IVF path, which sets its own
    limit: :func:`faiss_threads`; a cold search does not pay for importing it)."""
    n = search_threads() if threads is None else threads
    with contextlib.ExitStack() as stack:
        if "faiss" in sys.modules:
            stack.enter_context(faiss_threads(n))
        loaded = frozenset(m for m in _BLAS_CARRIERS if m in sys.modules)
        stack.enter_context(_controller(loaded).limit(limits=n, user_api="blas"))
        yield
