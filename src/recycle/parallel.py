"""One map over sources, run locally (threads) or on Ray.

``map_sources(fn, items)`` applies ``fn`` to every item and returns one :class:`MapResult` per
item, in order. A failing item does not stop the map: its ``error`` is set and the caller decides
(selection skips it with a warning). The backend is ``"local"`` (default) or ``"ray"``
(``RECYCLE_BACKEND=ray``; ``RECYCLE_RAY_ADDRESS`` joins an existing cluster).

Examples
--------
>>> results = map_sources(lambda x: x * 2, [1, 2, 3])
>>> [r.value for r in results]
[2, 4, 6]
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from recycle.errors import ConfigError
from recycle.progress import ProgressCallback

T = TypeVar("T")
R = TypeVar("R")

BACKENDS = ("local", "ray")


@dataclass
class MapResult(Generic[R]):
    """Outcome of ``fn(item)``: its value, or the error it raised, and how long it took."""

    index: int
    value: R | None
    error: str | None
    seconds: float

    @property
    def ok(self) -> bool:
        return self.error is None


def resolve_backend(backend: str | None) -> str:
    """Return the backend to use: the argument, else ``$RECYCLE_BACKEND``, else ``"local"``."""
    chosen = backend or os.environ.get("RECYCLE_BACKEND") or "local"
    if chosen not in BACKENDS:
        raise ConfigError(
            f"Unknown parallel backend {chosen!r}; valid backends are {', '.join(BACKENDS)} "
            "(set RECYCLE_BACKEND or pass backend=)."
        )
    return chosen


def _timed(fn: Callable[[T], R], index: int, item: T) -> MapResult[R]:
    start = time.perf_counter()
    try:
        value = fn(item)
    except Exception as exc:  # a failing source is reported, not fatal
        return MapResult(index, None, f"{type(exc).__name__}: {exc}", time.perf_counter() - start)
    return MapResult(index, value, None, time.perf_counter() - start)


def map_sources(
    fn: Callable[[T], R],
    items: Sequence[T],
    *,
    backend: str | None = None,
    max_workers: int | None = None,
    progress: ProgressCallback | None = None,
    task: str = "sources",
    **ray_options: Any,
) -> list[MapResult[R]]:
    """Apply ``fn`` to each item; return results in input order, errors captured per item.

    Parameters
    ----------
    fn : callable
        Function of one item.
    items : sequence
        The items (usually sources or source ids).
    backend : {"local", "ray"}, optional
        Defaults to ``$RECYCLE_BACKEND`` or ``"local"``.
    max_workers : int, optional
        Local threads; defaults to 1 (torch already uses the cores inside one call).
    progress : callable, optional
        ``progress(task, done, total)``.
    """
    chosen = resolve_backend(backend)
    if chosen == "ray":
        from recycle import parallel_ray

        return parallel_ray.map_sources_ray(fn, items, progress=progress, task=task, **ray_options)
    total = len(items)
    if progress is not None:
        progress(task, 0, total)
    results: list[MapResult[R]] = []
    workers = max(1, max_workers or 1)
    if workers == 1:
        for i, item in enumerate(items):
            results.append(_timed(fn, i, item))
            if progress is not None:
                progress(task, i + 1, total)
        return results
    with ThreadPoolExecutor(max_workers=workers) as pool:
        futures = [pool.submit(_timed, fn, i, item) for i, item in enumerate(items)]
        for done, fut in enumerate(futures, start=1):
            results.append(fut.result())
            if progress is not None:
                progress(task, done, total)
    return results
