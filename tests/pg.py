"""A real PostgreSQL server for the tests: ``initdb`` + ``pg_ctl`` on a temp dir, 127.0.0.1 only.

Fixtures (imported by ``tests/conftest.py``, so every test module can use them):

- ``pg_server`` (session): starts one server for the whole session and yields its base URL
  ``postgresql+psycopg2://recycle@127.0.0.1:PORT`` (trust auth, local only); stopped at the end.
- ``pg_url`` (function): a fresh, empty database on that server for one test, as a full
  SQLAlchemy URL (``.../test_<hex>``); dropped afterwards.

The binaries come from ``$RECYCLE_PG_BIN`` or ``/usr/lib/postgresql/15/bin`` (Debian package
``postgresql``); set ``$RECYCLE_TEST_PG_URL`` to use an already running server instead. PostgreSQL
refuses to run as root, so when the tests run as root the server runs as the ``postgres`` (else
``nobody``) user, on a temp dir chowned to it. Tests using these fixtures are skipped, with the
reason, only when the binaries are absent.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

PG_BIN = Path(os.environ.get("RECYCLE_PG_BIN", "/usr/lib/postgresql/15/bin"))
SUPERUSER = "recycle"
START_TIMEOUT_S = 60  # pg_ctl -w waits at most this long for the server to accept connections


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _run_as() -> tuple[list[str], pwd.struct_passwd | None]:
    """The command prefix that drops root (PostgreSQL will not run as root) and the user."""
    if os.geteuid() != 0:
        return [], None
    for name in ("postgres", "nobody"):
        try:
            user = pwd.getpwnam(name)
        except KeyError:
            continue
        return ["runuser", "-u", name, "--"], user
    raise RuntimeError("running as root and neither a 'postgres' nor a 'nobody' user exists")


def _chown_tree(path: Path, user: pwd.struct_passwd | None) -> None:
    if user is None:
        return
    os.chown(path, user.pw_uid, user.pw_gid)
    for root, dirs, files in os.walk(path):
        for name in dirs + files:
            os.chown(os.path.join(root, name), user.pw_uid, user.pw_gid)


@contextlib.contextmanager
def start_postgres() -> Iterator[str]:
    """Start a throw-away PostgreSQL server; yield its base SQLAlchemy URL; stop and delete it."""
    prefix, user = _run_as()
    base = Path(tempfile.mkdtemp(prefix="recycle-pg-"))
    data = base / "data"
    log = base / "server.log"
    _chown_tree(base, user)
    env = {**os.environ, "LC_ALL": "C", "LANG": "C"}
    try:
        subprocess.run(
            [*prefix, str(PG_BIN / "initdb"), "-D", str(data), "-U", SUPERUSER,
             "--auth=trust", "--encoding=UTF8", "--no-sync"],
            check=True, capture_output=True, env=env, cwd=base,
        )  # fmt: skip
        port = 0
        for _attempt in range(3):  # the free port may be taken between probe and start
            port = _free_port()
            opts = f"-c listen_addresses=127.0.0.1 -p {port} -k {base} -c fsync=off"
            proc = subprocess.run(
                [*prefix, str(PG_BIN / "pg_ctl"), "-D", str(data), "-l", str(log), "-w",
                 "-t", str(START_TIMEOUT_S), "-o", opts, "start"],
                capture_output=True, env=env, cwd=base,
            )  # fmt: skip
            if proc.returncode == 0:
                break
        else:
            tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
            raise RuntimeError(f"pg_ctl start failed: {proc.stderr.decode()[-500:]} {tail}")
        try:
            yield f"postgresql+psycopg2://{SUPERUSER}@127.0.0.1:{port}"
        finally:
            subprocess.run(
                [*prefix, str(PG_BIN / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w",
                 "stop"],
                capture_output=True, env=env, cwd=base,
            )  # fmt: skip
    finally:
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(scope="session")
def pg_server() -> Iterator[str]:
    """Base URL (no database) of a PostgreSQL server running for the whole test session."""
    external = os.environ.get("RECYCLE_TEST_PG_URL")
    if external:
        yield external.rstrip("/")
        return
    if not (PG_BIN / "initdb").exists() or not (PG_BIN / "pg_ctl").exists():
        pytest.skip(
            f"PostgreSQL binaries not found in {PG_BIN}; install the Debian package "
            "'postgresql' or set RECYCLE_PG_BIN / RECYCLE_TEST_PG_URL"
        )
    with start_postgres() as url:
        yield url


@pytest.fixture
def pg_url(pg_server: str) -> Iterator[str]:
    """SQLAlchemy URL of a fresh, empty database on the session's server (dropped afterwards)."""
    import sqlalchemy as sa

    name = f"test_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(f"{pg_server}/postgres", isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
        yield f"{pg_server}/{name}"
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        admin.dispose()
