"""Where a job's worker runs: a local limited process, or a Ray task (the project's backends).

:func:`start_run` picks the backend with :func:`recycle.parallel.resolve_backend`
(``RECYCLE_BACKEND``). Both kinds of run answer the same three calls the supervisor in
:mod:`recycle.service.jobs` makes: ``recv(timeout)`` (a message or ``None``; ``EOFError`` once
the worker is gone), ``kill()`` and ``how_it_died()``.

- local: :class:`recycle.service.sandbox.Worker` running :func:`run_job` (progress streams);
- Ray: one task per job on a fresh Ray worker (``max_calls=1``, ``max_retries=0``), ``memory``
  reserved by Ray's scheduler and ``RLIMIT_AS`` inside the task; cancel and timeouts use
  ``ray.cancel(force=True)``, which kills that worker. Progress is reported when it ends.
"""

from __future__ import annotations

from typing import Any

from recycle.parallel import resolve_backend
from recycle.service.job_worker import run_job
from recycle.service.sandbox import MIB, Limits, Worker, apply_limits


def start_run(payload: dict[str, Any], limits: Limits) -> Any:
    """Start ``payload``'s job on the configured backend; return the run handle."""
    if resolve_backend(None) == "ray":
        return RayRun(payload, limits)
    return Worker(run_job, (payload,), limits)


class _Collect:
    """A pipe stand-in inside a Ray task: keeps the last message."""

    def __init__(self) -> None:
        self.last: Any = None

    def send(self, message: Any) -> None:
        self.last = message


def _ray_job(payload: dict[str, Any], memory_mb: int) -> Any:
    apply_limits(memory_mb, None, on_top=True)  # this Ray worker runs one task (max_calls=1)
    out = _Collect()
    run_job(out, payload)
    return out.last


class RayRun:
    """A job as a Ray task; see the module docstring."""

    pid = None  # the worker lives in Ray's process tree, possibly on another node

    def __init__(self, payload: dict[str, Any], limits: Limits) -> None:
        from recycle.parallel.ray_backend import ensure_ray

        self.ray = ensure_ray()
        remote = self.ray.remote(max_calls=1, max_retries=0, num_cpus=1)(_ray_job)
        task = remote.options(memory=limits.memory_mb * MIB)
        self.ref = task.remote(payload, limits.memory_mb)
        self._ended = False
        self._died = ""

    def recv(self, timeout: float) -> Any:
        if self._ended:
            raise EOFError("task ended")
        ready, _ = self.ray.wait([self.ref], timeout=timeout)
        if not ready:
            return None
        self._ended = True
        try:
            return self.ray.get(self.ref)
        except Exception as exc:  # the task's worker died (memory, signal) or was cancelled
            self._died = type(exc).__name__
            raise EOFError("task died") from None

    def kill(self) -> None:
        if not self._ended:
            self.ray.cancel(self.ref, force=True)
            self._ended = True

    def how_it_died(self) -> str:
        return f"(a Ray task) ended with {self._died or 'no result'}"
