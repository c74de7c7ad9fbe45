"""Black-box inference of uploaded models in sandboxed worker processes, never in the server.

:class:`InferencePool` keeps up to ``RECYCLE_SANDBOX_WORKERS`` spawned workers
(:class:`recycle.service.sandbox.Worker`), each limited to ``RECYCLE_SANDBOX_MEMORY_MB`` of
address space, ``RECYCLE_SANDBOX_CPU_S`` CPU seconds per call and ``RECYCLE_SANDBOX_WALL_S``
seconds of wall clock per call. A worker opens the zoo by location, loads models (and keeps
them), runs ``embed``/``predict_proba`` in batches of ``RECYCLE_INFERENCE_BATCH`` rows (the
server's batch size, whatever the provider configured) and sends the outputs back as ``.npy``
bytes. A worker that fails in any way (error, memory, CPU, wall clock) is killed and the next
call gets a fresh one, so one hostile model cannot poison the calls that follow.
"""

from __future__ import annotations

import importlib
import os
import threading
import time
from typing import Any

import numpy as np

from recycle import errors
from recycle.errors import DataError, RecycleError, SourceFailedError
from recycle.service.sandbox import Limits, Worker, extend_cpu, zoo_address

EXTRA_ARCH_ENV = "RECYCLE_EXTRA_ARCH_MODULES"  # operator plugins (see recycle.zoo.checker)
POLL_S = 0.5  # how often a waiting call checks its worker is alive


def _is_memory(exc: BaseException | None) -> bool:
    text = str(exc).lower()
    return isinstance(exc, MemoryError) or ("alloc" in text and "memory" in text)


def serve(channel: Any, zoo_location: str, artifacts: str, batch: int, cpu_s: float) -> None:
    """A worker's loop: ``(entry_id, method, X)`` in, ``["ok"] + outputs`` or an error out.

    After an error the worker ends (the server starts a fresh one).
    """
    import recycle.sources  # noqa: F401  (torch, onnxruntime: imported before the first call)
    from recycle.zoo import Zoo

    for plugin in filter(None, os.environ.get(EXTRA_ARCH_ENV, "").split(",")):
        importlib.import_module(plugin.strip())
    zoo = Zoo.open(zoo_location, artifacts=artifacts)
    while True:
        try:
            entry_id, method, X = channel.recv()
        except EOFError:
            return
        extend_cpu(cpu_s)
        try:
            source = zoo.load(entry_id)
            if hasattr(source, "batch_size"):
                source.batch_size = min(int(source.batch_size), batch)
            out = np.asarray(getattr(source, method)(X), dtype=np.float32)
        except BaseException as exc:  # every failure is reported, then this worker ends
            kind = "memory" if _is_memory(exc) or _is_memory(exc.__cause__) else "error"
            channel.send([kind, type(exc).__name__, str(exc)[:300]])
            return
        channel.send(["ok"], out)


class InferencePool:
    """Run inference calls in sandboxed workers; see the module docstring.

    Parameters
    ----------
    zoo : Zoo
        The server's zoo (workers open it again by location).
    settings : Settings
    """

    def __init__(self, zoo: Any, settings: Any) -> None:
        self.zoo = zoo
        self.settings = settings
        self.limits = Limits(
            settings.sandbox_memory_mb, settings.sandbox_cpu_s, settings.sandbox_wall_s
        )
        self._idle: list[Worker] = []
        self._slots = threading.BoundedSemaphore(settings.sandbox_workers)
        self._lock = threading.Lock()
        self._closed = False

    def warm(self, count: int | None = None) -> None:
        """Start ``count`` workers (default all) in the background, so calls do not wait."""

        def start() -> None:
            for _ in range(self.settings.sandbox_workers if count is None else count):
                worker = self._spawn()
                with self._lock:
                    if not self._closed:
                        self._idle.append(worker)
                        continue
                worker.kill()  # the server stopped meanwhile
                return

        threading.Thread(target=start, daemon=True, name="recycle-sandbox-warm").start()

    def _spawn(self) -> Worker:
        args = (zoo_address(self.zoo), self.zoo.store.url, self.settings.inference_batch,
                self.limits.cpu_s)  # fmt: skip
        return Worker(serve, args, self.limits)

    def _take(self) -> Worker:
        with self._lock:
            while self._idle:
                worker = self._idle.pop()
                if worker.alive():
                    return worker
                worker.kill()
        return self._spawn()

    def run(self, entry: Any, method: str, X: Any) -> np.ndarray:
        """``method`` (``embed`` or ``predict_proba``) of ``entry``'s model on ``X``.

        Raises
        ------
        SourceFailedError
            The model ran out of memory, CPU time or wall clock, or its worker died (502).
        DataError
            The inputs do not fit the model (422).
        """
        with self._slots:
            worker = self._take()
            try:
                reply = self._call(worker, entry, method, X)
            except BaseException:
                worker.kill()
                self.warm(1)
                raise
            if reply[0] == "ok":
                with self._lock:
                    self._idle.append(worker)
                return reply[-1]  # type: ignore[no-any-return]
            worker.kill()  # a fresh worker after any failure, started now for the next call
            self.warm(1)
        return self._raise(entry, X, reply)

    def _call(self, worker: Worker, entry: Any, method: str, X: Any) -> list[Any]:
        worker.send((str(entry.id), method, X))
        deadline = time.monotonic() + self.limits.wall_s
        while True:
            try:
                reply = worker.recv(POLL_S)
            except EOFError:
                raise SourceFailedError(
                    f"Model {entry.id} failed in its sandbox: the worker {worker.how_it_died()}."
                ) from None
            if reply is not None:
                return reply  # type: ignore[no-any-return]
            if time.monotonic() > deadline:
                raise SourceFailedError(
                    f"Model {entry.id} did not answer within {self.limits.wall_s:g} s "
                    "(RECYCLE_SANDBOX_WALL_S); send smaller batches."
                )

    def _raise(self, entry: Any, X: Any, reply: list[Any]) -> np.ndarray:
        kind, name, text = reply[0], str(reply[1]), str(reply[2])
        if kind == "memory":
            raise SourceFailedError(
                f"Model {entry.id} ran past its memory limit of {self.limits.memory_mb} MB in "
                f"the sandbox on {len(X)} rows; it cannot serve this batch."
            )
        cls = getattr(errors, name, None)
        if isinstance(cls, type) and issubclass(cls, RecycleError):
            raise cls(text)
        shape = list(np.shape(X)) if isinstance(X, np.ndarray) else [len(X)]
        schema = entry.card.input.to_dict() if hasattr(entry.card.input, "to_dict") else {}
        raise DataError(
            f"Model {entry.id} could not run on inputs of shape {shape}: {name}; check the "
            f"card's input schema {schema}."
        )

    def shutdown(self) -> None:
        """Kill the idle workers (busy ones end with their call)."""
        with self._lock:
            self._closed = True
            idle, self._idle = self._idle, []
        for worker in idle:
            worker.kill()
