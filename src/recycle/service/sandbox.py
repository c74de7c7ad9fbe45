"""Worker processes for untrusted work: memory, CPU-time and wall limits, killed at will.

Jobs and black-box inference run code the server does not trust (uploaded models, unbounded
fits) outside the server process. :class:`Worker` starts ``target(conn, *args)`` in a fresh
*spawned* process (never a fork of the threaded server) that first limits itself
(:func:`apply_limits`: ``RLIMIT_AS`` address space, ``RLIMIT_CPU``, no core files), then talks
to the server over a pipe (:class:`Channel`: JSON and ``.npy`` bytes only, so the server
never unpickles what a worker sends). The server polls the pipe with a wall clock and calls
:meth:`Worker.kill` (SIGKILL, then reaps the process) on cancel, timeout or shutdown; a
killed or crashed worker is never reused.

Examples
--------
>>> limits = Limits(memory_mb=4096, cpu_s=60, wall_s=120)
>>> limits.memory_mb
4096
"""

from __future__ import annotations

import contextlib
import io
import json
import multiprocessing as mp
import os
import resource
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

MIB = 1024 * 1024
MAX_MESSAGE = 1 << 30  # bytes of one message from a worker (a batch of outputs)
ORPHAN_CHECK_S = 1.0  # how often a worker checks that its server still runs
JOIN_S = 5.0  # how long kill() waits for the killed process to be reaped
CONTEXT = mp.get_context("spawn")  # a fork of a multi-threaded server can deadlock


@dataclass(frozen=True)
class Limits:
    """Limits of one worker process.

    Attributes
    ----------
    memory_mb : int
        Address-space limit (``RLIMIT_AS``); allocations beyond it fail in the worker.
    cpu_s : float or None
        CPU seconds the process may use (``RLIMIT_CPU``; SIGXCPU ends it), ``None``: no limit.
    wall_s : float
        Wall-clock seconds the server waits before it kills the worker.
    """

    memory_mb: int
    cpu_s: float | None
    wall_s: float


def apply_limits(memory_mb: int, cpu_s: float | None, on_top: bool = False) -> None:
    """Limit this process: address space, CPU time, no core dumps (call first in a worker).

    ``on_top``: allow ``memory_mb`` more than the process has mapped already (a Ray worker
    maps its runtime's shared memory before it runs a task).
    """
    mem = int(memory_mb) * MIB
    if on_top:
        with open("/proc/self/statm") as f:
            mem += int(f.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
    resource.setrlimit(resource.RLIMIT_AS, (mem, mem))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    if cpu_s is not None:
        extend_cpu(cpu_s)


def extend_cpu(cpu_s: float) -> None:
    """Allow this process ``cpu_s`` more CPU seconds from now (soft ``RLIMIT_CPU``)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    soft = int(usage.ru_utime + usage.ru_stime + cpu_s) + 1
    _, hard = resource.getrlimit(resource.RLIMIT_CPU)
    if hard != resource.RLIM_INFINITY:
        soft = min(soft, hard)
    resource.setrlimit(resource.RLIMIT_CPU, (soft, hard))


def zoo_address(zoo: Any) -> str:
    """The location a worker opens ``zoo`` by: its database URL, else its folder."""
    engine = getattr(zoo, "engine", None)
    if engine is not None:
        return str(engine.url.render_as_string(hide_password=False))
    return str(zoo.location)


class Channel:
    """The worker's end of the pipe: it sends JSON and ``.npy`` bytes only, never a pickle
    (the server must not unpickle what code it does not trust produced)."""

    def __init__(self, conn: Any) -> None:
        self.conn = conn

    def send(self, message: Any, array: Any = None) -> None:
        """Send ``message`` (JSON-able), and an array after it when given."""
        self.conn.send_bytes(json.dumps({"m": message, "array": array is not None}).encode())
        if array is not None:
            buf = io.BytesIO()
            np.save(buf, np.ascontiguousarray(array), allow_pickle=False)
            self.conn.send_bytes(buf.getvalue())

    def recv(self) -> Any:
        """The next request from the server (trusted: pickles are fine this way)."""
        return self.conn.recv()


def _exit_with_parent(parent: int) -> None:
    """End this worker when the server that started it is gone (even by SIGKILL)."""

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(ORPHAN_CHECK_S)
        os._exit(1)

    threading.Thread(target=watch, daemon=True, name="recycle-orphan-watch").start()


def _child(conn: Any, memory_mb: int, cpu_s: float | None, target: Callable, args: tuple):
    _exit_with_parent(os.getppid())
    apply_limits(memory_mb, cpu_s)
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    try:
        target(Channel(conn), *args)
    finally:
        with contextlib.suppress(OSError):
            conn.close()


class Worker:
    """A spawned, limited process running ``target(conn, *args)``; the server keeps the pipe.

    Parameters
    ----------
    target : callable
        A module-level function (spawn imports it by name) taking the pipe end first.
    args : tuple
        Its other arguments (pickled to the child: only trusted server data).
    limits : Limits
    """

    def __init__(self, target: Callable[..., Any], args: tuple, limits: Limits) -> None:
        self.limits = limits
        self.conn, child_conn = CONTEXT.Pipe()
        self.process = CONTEXT.Process(
            target=_child,
            args=(child_conn, limits.memory_mb, limits.cpu_s, target, args),
            daemon=True,  # never outlives the server
        )
        self.process.start()
        child_conn.close()
        self.started = time.monotonic()

    @property
    def pid(self) -> int | None:
        return self.process.pid

    def alive(self) -> bool:
        return self.process.is_alive()

    def recv(self, timeout: float) -> Any:
        """The next message (a list; an array sent with it comes last), or ``None`` if none
        came within ``timeout`` seconds.

        Raises :class:`EOFError` when the worker is gone and no message is left.
        """
        try:
            if self.conn.poll(timeout):
                head = json.loads(self.conn.recv_bytes(MAX_MESSAGE))
                message = list(head["m"]) if isinstance(head["m"], list) else [head["m"]]
                if head["array"]:
                    raw = self.conn.recv_bytes(MAX_MESSAGE)
                    message.append(np.load(io.BytesIO(raw), allow_pickle=False))
                return message
        except (EOFError, OSError, ValueError, KeyError, TypeError):
            raise EOFError("worker exited or sent garbage") from None
        if not self.process.is_alive() and not self.conn.poll(0):
            raise EOFError("worker exited")
        return None

    def send(self, message: Any) -> None:
        self.conn.send(message)

    def how_it_died(self) -> str:
        """A few words on how the process ended (after :meth:`recv` raised EOFError)."""
        self.process.join(JOIN_S)
        code = self.process.exitcode
        if code is None:
            return "did not answer"
        if code < 0:
            name = signal.Signals(-code).name
            if -code == signal.SIGXCPU:
                return f"hit its CPU-time limit ({name})"
            return f"was ended by {name} (e.g. past its {self.limits.memory_mb} MB memory limit)"
        return f"exited with code {code}"

    def kill(self) -> None:
        """End the worker now (SIGKILL) and reap it; safe to call twice."""
        if self.process.is_alive():
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.process.pid, signal.SIGKILL)  # type: ignore[arg-type]
        self.process.join(JOIN_S)
        with contextlib.suppress(OSError):
            self.conn.close()
