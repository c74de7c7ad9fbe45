"""recycle.parallel.map_sources: the local backend, and the Ray backend (local runtime and a
``ray start --head`` cluster joined by address)."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from recycle.errors import ConfigError
from recycle.parallel import map_sources, resolve_backend


def _project(seed: int, X: np.ndarray) -> float:
    """A per-source computation on a shared target: a seeded random projection's spread."""
    W = np.random.default_rng(seed).normal(size=(X.shape[1], 4))
    return float(np.round((X @ W).std(), 10))


def _fail_on_two(item: int) -> int:
    if item == 2:
        raise ValueError("source 2 is broken")
    return item * 10


def _record() -> tuple[list[tuple[str, int, int]], Any]:
    seen: list[tuple[str, int, int]] = []
    return seen, lambda task, done, total: seen.append((task, done, total))


# ---------------------------------------------------------------- local


@pytest.mark.parametrize("workers", [1, 3])
def test_local_one_arg_and_shared_forms(workers: int) -> None:
    assert [r.value for r in map_sources(abs, [-1, 2, -3], max_workers=workers)] == [1, 2, 3]
    X = np.arange(12.0).reshape(4, 3)
    out = map_sources(_project, [0, 1, 2], shared=X, max_workers=workers)
    assert [r.value for r in out] == [_project(s, X) for s in range(3)]
    assert [r.index for r in out] == [0, 1, 2]
    # None is a legitimate shared value, distinct from "no shared argument"
    assert map_sources(lambda i, s: s is None, [0], shared=None)[0].value is True


def test_local_failure_is_reported_not_fatal() -> None:
    seen, progress = _record()
    out = map_sources(_fail_on_two, [1, 2, 3], progress=progress, task="score")
    assert [r.ok for r in out] == [True, False, True]
    assert out[1].error == "ValueError: source 2 is broken" and out[1].value is None
    assert out[2].value == 30 and out[0].seconds >= 0
    assert seen == [("score", 0, 3), ("score", 1, 3), ("score", 2, 3), ("score", 3, 3)]


def test_backend_resolution(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RECYCLE_BACKEND", raising=False)
    assert resolve_backend(None) == "local"
    monkeypatch.setenv("RECYCLE_BACKEND", "ray")
    assert resolve_backend(None) == "ray" and resolve_backend("local") == "local"
    with pytest.raises(ConfigError, match="valid backends are local, ray"):
        resolve_backend("dask")


# ---------------------------------------------------------------- ray
# Only these tests need Ray: without it they skip alone (the local-backend tests above run).


@pytest.fixture(scope="module")
def local_ray() -> Iterator[None]:
    pytest.importorskip("ray")
    from ray import cloudpickle

    from recycle.parallel import ray_backend as parallel_ray

    cloudpickle.register_pickle_by_value(sys.modules[__name__])  # workers can't import tests
    parallel_ray.shutdown()
    parallel_ray.ensure_ray(num_cpus=2)
    yield
    parallel_ray.shutdown()


@pytest.mark.ray
def test_ray_matches_local(local_ray: None) -> None:
    X = np.random.default_rng(0).normal(size=(500, 64)).astype(np.float32)
    seeds = list(range(8))
    local = map_sources(_project, seeds, shared=X)
    seen, progress = _record()
    remote = map_sources(_project, seeds, shared=X, backend="ray", progress=progress, task="t")
    assert [r.value for r in remote] == [r.value for r in local]
    assert all(r.ok and r.seconds > 0 for r in remote) and [r.index for r in remote] == seeds
    assert [d for _, d, _ in seen] == list(range(9)) and seen[-1] == ("t", 8, 8)
    # the one-arg form works on Ray too; the shared array arrives read-only from the store
    assert [r.value for r in map_sources(abs, [-4, 5], backend="ray")] == [4, 5]
    flags = map_sources(lambda i, A: A.flags.writeable, [0], shared=X, backend="ray")
    assert flags[0].value is False


@pytest.mark.ray
def test_ray_failing_item_is_reported_not_fatal(local_ray: None) -> None:
    out = map_sources(_fail_on_two, [1, 2, 3], backend="ray")
    assert [r.value for r in out] == [10, None, 30], out
    assert out[1].error == "ValueError: source 2 is broken"


@pytest.mark.ray
def test_ray_dead_worker_is_retried_then_reported(local_ray: None, tmp_path: Path) -> None:
    def die_once(item: str, folder: str) -> str:
        marker = Path(folder) / item
        if not marker.exists():
            marker.touch()
            os._exit(1)  # the worker process dies, as on an OOM kill
        return item

    retried = map_sources(die_once, ["a"], shared=str(tmp_path), backend="ray", max_retries=1)
    assert retried[0].ok and retried[0].value == "a"
    lost = map_sources(die_once, ["b", "c"], shared=str(tmp_path), backend="ray", max_retries=0)
    assert [r.ok for r in lost] == [False, False]
    assert all(r.error and r.error.startswith("WorkerCrashedError") for r in lost), lost


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.ray
@pytest.mark.slow  # ~35 s: starts a second Ray runtime; the local-runtime tests above are quick
def test_ray_joins_a_started_cluster_by_address(
    local_ray: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    import ray

    from recycle.parallel import ray_backend as parallel_ray

    parallel_ray.shutdown()  # leave the module's local runtime; join the cluster instead
    port = _free_port()
    temp = tempfile.mkdtemp(prefix="rr", dir="/tmp")  # short: ray's socket paths must fit
    ray_bin = Path(sys.executable).with_name("ray")
    cmd = [
        str(ray_bin), "start", "--head", f"--port={port}", "--node-ip-address=127.0.0.1",
        "--num-cpus=2", "--include-dashboard=false", "--disable-usage-stats", "--block",
        f"--ray-client-server-port={_free_port()}", f"--dashboard-port={_free_port()}",
        f"--temp-dir={temp}",
    ]  # fmt: skip
    head = subprocess.Popen(
        cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )
    try:
        monkeypatch.setenv("RECYCLE_RAY_ADDRESS", f"127.0.0.1:{port}")
        deadline, out = time.monotonic() + 60, None
        while out is None:
            try:
                out = map_sources(_fail_on_two, [1, 2, 3], backend="ray")
            except ConfigError:  # head not up yet
                if time.monotonic() > deadline:
                    raise
                time.sleep(1)
        assert [r.value for r in out] == [10, None, 30]
        assert ray.cluster_resources().get("CPU") == 2
    finally:
        parallel_ray.shutdown()
        # SIGTERM makes `ray start --block` stop exactly the processes it started
        # (`ray stop` would kill every Ray process on the machine, other users' too)
        head.send_signal(signal.SIGTERM)
        try:
            head.wait(timeout=40)
        except subprocess.TimeoutExpired:
            os.killpg(head.pid, signal.SIGKILL)
            head.wait()
        shutil.rmtree(temp, ignore_errors=True)
    assert head.returncode is not None
