"""The sandbox's worker processes: memory limit, wall-clock kill, no pickles, no orphans."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from recycle.service.sandbox import Limits, Worker
from recycle.zoo.store import pid_alive
from service_attacks import hog_target, pickle_target, sleep_target, spin_target
from service_helpers import wait_until

START_S = 60.0  # a spawned worker starts within this on a busy machine


def _first(worker: Worker) -> list:
    deadline = time.monotonic() + START_S
    while time.monotonic() < deadline:
        msg = worker.recv(0.2)
        if msg is not None:
            return msg  # type: ignore[no-any-return]
    raise TimeoutError


def test_a_worker_past_its_memory_limit_dies_and_says_how() -> None:
    worker = Worker(hog_target, (32,), Limits(memory_mb=1024, cpu_s=None, wall_s=60))
    try:
        with pytest.raises(EOFError):
            _first(worker)  # 2 GB asked under a 1 GB limit: MemoryError, no message
        assert "exited with code" in worker.how_it_died() or "memory" in worker.how_it_died()
    finally:
        worker.kill()
    ok = Worker(hog_target, (2,), Limits(memory_mb=1024, cpu_s=None, wall_s=60))
    try:
        assert _first(ok) == ["survived", 2]  # 128 MB fits
    finally:
        ok.kill()


def test_a_worker_past_its_cpu_time_is_ended() -> None:
    worker = Worker(spin_target, (), Limits(memory_mb=1024, cpu_s=1, wall_s=60))
    try:
        assert _first(worker) == ["hello"]
        with pytest.raises(EOFError):
            while worker.recv(0.5) is None:  # SIGXCPU after about a CPU second
                pass
        assert "CPU-time" in worker.how_it_died()
    finally:
        worker.kill()


def test_kill_ends_a_busy_worker_at_once() -> None:
    worker = Worker(sleep_target, (600.0,), Limits(memory_mb=1024, cpu_s=None, wall_s=1))
    assert _first(worker) == ["hello"]
    start = time.monotonic()
    worker.kill()
    assert time.monotonic() - start < 2 and not pid_alive(worker.pid)  # type: ignore[arg-type]


def test_the_server_never_unpickles_what_a_worker_sends() -> None:
    worker = Worker(pickle_target, (), Limits(memory_mb=1024, cpu_s=None, wall_s=10))
    try:
        with pytest.raises(EOFError, match="garbage"):
            _first(worker)
    finally:
        worker.kill()


ORPHAN = """
import sys, time
sys.path[:0] = sys.argv[1:]
from recycle.service.sandbox import Limits, Worker
from service_attacks import sleep_target
w = Worker(sleep_target, (600.0,), Limits(memory_mb=1024, cpu_s=None, wall_s=600))
while w.recv(0.2) is None:
    pass
print(w.pid, flush=True)
time.sleep(600)
"""


def test_workers_end_when_their_server_is_killed() -> None:
    paths = [str(Path(__file__).resolve().parents[1]), *sys.path]
    server = subprocess.Popen([sys.executable, "-c", ORPHAN, *paths], stdout=subprocess.PIPE)
    try:
        pid = int(server.stdout.readline())  # type: ignore[union-attr]
    finally:
        server.kill()  # SIGKILL: no atexit, no daemon clean-up
        server.wait()
    wait_until(lambda: not pid_alive(pid), 10)
