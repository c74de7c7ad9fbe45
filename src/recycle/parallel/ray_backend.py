"""The Ray backend of :func:`recycle.parallel.map_sources`.

One Ray task per item. The function and the ``shared`` argument (e.g. the target array) go into
Ray's object store once (``ray.put``) and every task reads them from there, so a large target is
not re-serialized per source. A task that raises is reported in its :class:`MapResult` exactly as
in the local backend; a worker that dies is retried ``max_retries`` times and then reported too.
Progress is reported as tasks complete (``ray.wait``), not in submission order.

Ray starts locally (``num_cpus=2``, no dashboard) unless an address is given as ``address=`` or
``$RECYCLE_RAY_ADDRESS`` (e.g. ``127.0.0.1:6379`` of a ``ray start --head`` node); a Ray runtime
that is already initialised in this process is reused. Values from the object store are
read-only numpy arrays: copy before writing to them. The nodes of a remote cluster need the
same Python environment (recycle and the sources' packages installed).

Examples
--------
>>> from recycle.parallel import map_sources
>>> results = map_sources(pow, [1, 2, 3], backend="ray", shared=2)  # doctest: +SKIP
>>> [r.value for r in results]  # doctest: +SKIP
[1, 4, 9]
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Callable, Sequence
from typing import Any

from recycle.errors import ConfigError
from recycle.parallel.result import UNSET, MapResult, call
from recycle.progress import ProgressCallback

#: Local Ray runtime size when none is running and no address is given (the dev box has 2 cores).
DEFAULT_NUM_CPUS = 2
#: Times Ray re-runs a task whose worker process died (not for exceptions raised by ``fn``).
DEFAULT_MAX_RETRIES = 2
#: Environment variable naming an existing Ray cluster to join.
ADDRESS_ENV = "RECYCLE_RAY_ADDRESS"


def _import_ray() -> Any:
    try:
        import ray
    except ImportError as exc:  # pragma: no cover - ray is in the [ray] extra
        raise ConfigError(
            "backend='ray' needs the ray package; install it with: pip install 'ray[default]'."
        ) from exc
    return ray


def ensure_ray(address: str | None = None, num_cpus: int | None = None) -> Any:
    """Return the ``ray`` module with a runtime connected: the running one, ``address``,
    ``$RECYCLE_RAY_ADDRESS``, or a fresh local one.

    Parameters
    ----------
    address : str, optional
        ``host:port`` of a Ray head node (``ray start --head``) or ``"auto"``.
    num_cpus : int, optional
        CPUs of a new local runtime (default :data:`DEFAULT_NUM_CPUS`).

    Examples
    --------
    >>> ray = ensure_ray()  # doctest: +SKIP
    >>> ray.is_initialized()  # doctest: +SKIP
    True
    """
    ray = _import_ray()
    if ray.is_initialized():
        return ray
    address = address or os.environ.get(ADDRESS_ENV) or None
    quiet = {"log_to_driver": False, "logging_level": logging.ERROR, "configure_logging": True}
    try:
        if address:
            ray.init(address=address, **quiet)
        else:
            # "local": a new runtime, never a cluster someone else left in /tmp/ray
            ray.init(
                address="local",
                num_cpus=num_cpus or DEFAULT_NUM_CPUS,
                include_dashboard=False,
                **quiet,
            )
    except ConnectionError as exc:
        raise ConfigError(
            f"Could not join the Ray cluster at {address!r} ({exc}); start one with "
            f"'ray start --head' or unset {ADDRESS_ENV} to run Ray locally."
        ) from exc
    return ray


def _run_one(fn: Callable[..., Any], item: Any, shared: Any, use_shared: bool) -> tuple:
    """Body of one Ray task: ``(value, error, seconds)``; exceptions of ``fn`` are captured."""
    return call(fn, item, shared if use_shared else UNSET)


_ANSI = re.compile(r"\x1b\[[0-9;]*m")
#: Longest error text kept per item (Ray's messages carry whole remote tracebacks).
MAX_ERROR_CHARS = 300


def _crash_message(exc: BaseException) -> str:
    """One line for a task Ray itself gave up on (dead worker, argument that failed to load)."""
    cause = getattr(exc, "cause", None)
    if isinstance(cause, BaseException) and cause is not exc:
        exc = cause
    lines = [ln.strip() for ln in _ANSI.sub("", str(exc)).splitlines()]
    useful = [ln for ln in lines if ln and not ln.startswith(("ray::", "^", "traceback"))]
    text = f"{type(exc).__name__}: {useful[0] if useful else ''}"
    return text[:MAX_ERROR_CHARS]


def map_sources_ray(
    fn: Callable[..., Any],
    items: Sequence[Any],
    *,
    shared: Any = None,
    use_shared: bool = False,
    progress: ProgressCallback | None = None,
    task: str = "sources",
    address: str | None = None,
    num_cpus: int | None = None,
    max_retries: int = DEFAULT_MAX_RETRIES,
    num_cpus_per_task: float = 1.0,
) -> list[Any]:
    """Run ``fn`` over ``items`` as Ray tasks; results in input order, errors captured per item.

    Parameters
    ----------
    fn : callable
        ``fn(item)``, or ``fn(item, shared)`` when ``use_shared``.
    items : sequence
        One task per item (items are serialized per task: keep them small, e.g. source ids).
    shared : object, optional
        Put in the object store once and passed to every call.
    use_shared : bool, default False
        Whether to pass ``shared`` (set by :func:`recycle.parallel.map_sources`).
    progress : callable, optional
        ``progress(task, done, total)`` as tasks complete.
    task : str
        The progress label.
    address, num_cpus : optional
        Where Ray runs; see :func:`ensure_ray`.
    max_retries : int, default 2
        Re-runs of a task whose worker died.
    num_cpus_per_task : float, default 1.0
        CPUs Ray reserves per task.

    Returns
    -------
    list of MapResult

    Examples
    --------
    >>> [r.value for r in map_sources_ray(abs, [-1, 2])]  # doctest: +SKIP
    [1, 2]
    """
    if max_retries < 0:
        raise ConfigError(f"max_retries must be >= 0; got {max_retries}.")
    total = len(items)
    if progress is not None:
        progress(task, 0, total)
    if total == 0:
        return []
    ray = ensure_ray(address, num_cpus)
    remote = ray.remote(_run_one).options(
        max_retries=max_retries, retry_exceptions=False, num_cpus=num_cpus_per_task
    )
    fn_ref = ray.put(fn)
    shared_ref = ray.put(shared) if use_shared else None
    refs = [remote.remote(fn_ref, item, shared_ref, use_shared) for item in items]
    position = {ref: i for i, ref in enumerate(refs)}
    results: list[Any] = [None] * total
    pending = list(refs)
    done = 0
    while pending:
        ready, pending = ray.wait(pending, num_returns=1)
        for ref in ready:
            index = position[ref]
            try:
                value, error, seconds = ray.get(ref)
            except Exception as exc:  # the worker died or the task was lost: report, go on
                value, error, seconds = None, _crash_message(exc), 0.0
            results[index] = MapResult(index, value, error, seconds)
            done += 1
            if progress is not None:
                progress(task, done, total)
    return results


def shutdown() -> None:
    """Disconnect from (or stop the local) Ray runtime, if one is running.

    Examples
    --------
    >>> shutdown()  # doctest: +SKIP
    """
    ray = _import_ray()
    if ray.is_initialized():
        ray.shutdown()
