"""Atomic registration: SIGKILL mid-way leaves all or nothing; concurrent writers lose nothing."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import text

from recycle.zoo import Zoo
from recycle.zoo.catalog import open_engine
from zoo_helpers import TESTS_DIR, mlp_card, mlp_source, write_payloads

WORKER = str(TESTS_DIR / "zoo_helpers.py")
POINTS = ["after_temp", "after_blob", "before_commit", "after_commit"]


def _env(**extra: str) -> dict[str, str]:
    path = os.pathsep.join(filter(None, [str(TESTS_DIR), os.environ.get("PYTHONPATH", "")]))
    return {**os.environ, "PYTHONPATH": path, "OMP_NUM_THREADS": "1", **extra}


def _location(backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> tuple[str, str]:
    if backend == "sqlite":
        return str(tmp_path / "zoo"), ""
    return request.getfixturevalue("pg_url"), str(tmp_path / "artifacts")


@pytest.mark.parametrize(
    ("backend", "point"),
    [
        pytest.param(
            "sqlite", p, marks=[pytest.mark.slow] if p in ("after_temp", "after_commit") else []
        )
        for p in POINTS
    ]
    + [
        pytest.param(
            "postgres",
            p,
            marks=[pytest.mark.postgres] + ([pytest.mark.slow] if p == "after_blob" else []),
        )
        for p in POINTS[1:3]
    ],
)
def test_sigkill_during_registration_leaves_all_or_nothing(
    backend: str, point: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    location, artifacts = _location(backend, request, tmp_path)
    Zoo.open(location, artifacts=artifacts or None).close()  # schema exists before the crash
    payloads = write_payloads(tmp_path / "payloads", 1)
    proc = subprocess.run(
        [sys.executable, WORKER, location, artifacts, "crash", str(payloads)],
        env=_env(RECYCLE_TEST_CRASH_AT=point),
        capture_output=True,
        timeout=300,
    )
    assert proc.returncode == -signal.SIGKILL, proc.stderr.decode()[-2000:]

    raw = Zoo.open(location, artifacts=artifacts or None, recover=False)
    before = raw.fsck()
    if point in ("after_blob", "before_commit"):
        assert before.dead_registrations and not before.clean  # the journal saw the crash
    if point == "after_temp":
        assert before.temp_files
    raw.close()

    zoo = Zoo.open(location, artifacts=artifacts or None)  # recovery runs on open
    report = zoo.fsck(verify=True)
    assert report.clean, report.to_dict()
    names = [e.name for e in zoo.list()]
    if point == "after_commit":
        assert names == ["crash.m0"]
        zoo.load("crash.m0")
    else:
        assert names == []
        assert list(zoo.store.iter_blobs()) == [] and zoo.store.temp_files() == []
    # the zoo stays usable: the registration can be done (again)
    zoo.register(mlp_source(5), mlp_card("crash.after"), validate=False)
    assert zoo.fsck(verify=True).clean
    zoo.close()


@pytest.mark.parametrize(
    "backend", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def test_two_processes_registering_concurrently_lose_nothing(
    backend: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    location, artifacts = _location(backend, request, tmp_path)
    count = 30
    payloads = write_payloads(tmp_path / "payloads", count, seed=7)
    (payloads / "barrier").touch()
    procs = [
        subprocess.Popen(
            [sys.executable, WORKER, location, artifacts, prefix, str(payloads)],
            env=_env(),
            stderr=subprocess.PIPE,
        )
        for prefix in ("left", "right")
    ]
    deadline = time.monotonic() + 120
    while not all((payloads / f"ready-{p}").exists() for p in ("left", "right")):
        dead = [p for p in procs if p.poll() is not None]
        assert not dead, dead[0].communicate()[1].decode()[-2000:]  # a worker died opening the zoo
        assert time.monotonic() < deadline
        time.sleep(0.05)
    (payloads / "go").touch()
    for p in procs:
        _, err = p.communicate(timeout=300)
        assert p.returncode == 0, err.decode()[-2000:]
    zoo = Zoo.open(location, artifacts=artifacts or None)
    names = sorted(e.name for e in zoo.list())
    assert names == sorted(f"{p}.m{i}" for p in ("left", "right") for i in range(count))
    assert len({e.id for e in zoo.list()}) == 2 * count
    assert zoo.fsck(verify=True).clean
    # even-numbered models of both workers share their weights blob (same seed -> same bytes)
    X = np.zeros((2, 4), dtype=np.float32)
    np.testing.assert_allclose(
        zoo.load("left.m0").embed(X), zoo.load("right.m0").embed(X), rtol=1e-6
    )
    zoo.remove("left.m0")
    np.testing.assert_allclose(zoo.load("right.m0").embed(X), mlp_source(7).embed(X), rtol=1e-6)
    assert zoo.fsck(verify=True).clean
    zoo.close()


def test_a_new_connection_waits_for_the_wal_switch_instead_of_failing(tmp_path: Path) -> None:
    """SQLite does not call its busy handler for ``journal_mode=WAL``: the connect retries it."""
    path = tmp_path / "catalog.db"
    # a fresh file in rollback-journal mode, held by another writer mid-transaction
    holder = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    holder.execute("CREATE TABLE t (x)")
    holder.execute("BEGIN IMMEDIATE")  # another process mid-write: the WAL switch cannot lock
    holder.execute("INSERT INTO t VALUES (1)")
    releaser = threading.Timer(0.5, lambda: holder.execute("COMMIT"))
    releaser.start()
    try:
        engine = open_engine(f"sqlite:///{path}")
        with engine.begin() as conn:
            assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
            assert conn.execute(text("SELECT count(*) FROM t")).scalar() == 1
        engine.dispose()
    finally:
        releaser.join()
        holder.close()
