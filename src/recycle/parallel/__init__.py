"""One map over sources, run locally (threads) or on Ray.

``map_sources(fn, items)`` applies ``fn`` to every item and returns one :class:`MapResult` per
item, in order. A failing item does not stop the map: its ``error`` is set and the caller decides
(selection skips it with a warning). The backend is ``"local"`` (default) or ``"ray"``
(``RECYCLE_BACKEND=ray``; ``RECYCLE_RAY_ADDRESS`` joins an existing cluster, see
:mod:`recycle.parallel.ray_backend`). Both backends return :class:`MapResult`
(:mod:`recycle.parallel.result`, the bottom of the package).

``shared=`` passes one large read-only argument (the target array, say) to every call as
``fn(item, shared)``; Ray puts it in its object store once instead of shipping it per task.

Examples
--------
>>> results = map_sources(lambda x: x * 2, [1, 2, 3])
>>> [r.value for r in results]
[2, 4, 6]
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from recycle.errors import ConfigError
from recycle.parallel import ray_backend
from recycle.parallel.result import UNSET, MapResult, call
from recycle.progress import ProgressCallback

T = TypeVar("T")
R = TypeVar("R")

BACKENDS = ("local", "ray")

__all__ = ["BACKENDS", "MapResult", "map_sources", "resolve_backend"]


def resolve_backend(backend: str | None) -> str:
    """Return the backend to use: the argument, else ``$RECYCLE_BACKEND``, else ``"local"``."""
    chosen = backend or os.environ.get("RECYCLE_BACKEND") or "local"
    if chosen not in BACKENDS:
        raise ConfigError(
            f"Unknown parallel backend {chosen!r}; valid backends are {', '.join(BACKENDS)} "
            "(set RECYCLE_BACKEND or pass backend=)."
        )
    return chosen


def _timed(fn: Callable[..., R], index: int, item: T, shared: Any = UNSET) -> MapResult[R]:
    return MapResult(index, *call(fn, item, shared))


def map_sources(
    fn: Callable[..., R],
    items: Sequence[T],
    *,
    shared: Any = UNSET,
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
        ``fn(item)``, or ``fn(item, shared)`` when ``shared`` is given.
    items : sequence
        The items (usually sources or source ids).
    shared : object, optional
        One argument passed to every call (e.g. the target array); on Ray it is put in the
        object store once (and arrives read-only).
    backend : {"local", "ray"}, optional
        Defaults to ``$RECYCLE_BACKEND`` or ``"local"``.
    max_workers : int, optional
        Local threads; defaults to 1 (torch already uses the cores inside one call).
    progress : callable, optional
        ``progress(task, done, total)``.
    task : str
        The label passed to ``progress``.
    **ray_options
        For ``backend="ray"``: ``address``, ``num_cpus``, ``max_retries``,
        ``num_cpus_per_task`` (see :func:`recycle.parallel.ray_backend.map_sources_ray`); the local
        backend ignores them, so one call works with either backend.

    Examples
    --------
    >>> [r.value for r in map_sources(pow, [1, 2, 3], shared=2)]
    [1, 4, 9]
    """
    chosen = resolve_backend(backend)
    if chosen == "ray":
        return ray_backend.map_sources_ray(
            fn,
            items,
            shared=None if shared is UNSET else shared,
            use_shared=shared is not UNSET,
            progress=progress,
            task=task,
            **ray_options,
        )
    total = len(items)
    if progress is not None:
        progress(task, 0, total)
    results: list[MapResult[R]] = []
    workers = max(1, max_workers or 1)
    if workers == 1:
        for i, item in enumerate(items):
            results.append(_timed(fn, i, item, shared))
            if progress is not None:
                progress(task, i + 1, total)
        return results
    with ThreadPoolExecutor(max_workers=workers) as pool:
        futures = [pool.submit(_timed, fn, i, item, shared) for i, item in enumerate(items)]
        for done, fut in enumerate(futures, start=1):
            results.append(fut.result())
            if progress is not None:
                progress(task, done, total)
    return results
