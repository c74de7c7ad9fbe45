"""The catalog database: engine set-up (SQLite or PostgreSQL) and Alembic migrations on open.

SQLite (the embedded default) runs in WAL mode with foreign keys on, a busy timeout, and every
transaction opened with ``BEGIN IMMEDIATE`` so that concurrent writers (several processes
registering at once) queue on the write lock instead of failing on a lock upgrade. PostgreSQL is
used as is; migrations there take a transaction-scoped advisory lock.

Examples
--------
>>> import tempfile
>>> engine = open_engine("sqlite:///" + tempfile.mkdtemp() + "/catalog.db")
>>> upgrade(engine)
>>> current_revision(engine)
'0002'
"""

from __future__ import annotations

import os
import sqlite3
import time
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.exc import SQLAlchemyError

from recycle.errors import ConfigError, ModelNotFoundError, StorageError

MIGRATIONS = Path(__file__).parent / "migrations"
SQLITE_BUSY_TIMEOUT_S = 60  # how long a writer waits for another process's write lock
MIGRATION_LOCK_ID = 0x7265_6379  # PostgreSQL advisory lock key for migrations ("recy")


def check_exists(location: str) -> None:
    """Raise ModelNotFoundError unless the zoo at ``location`` exists (a folder with its
    catalog, or a SQLite file; server URLs are taken as existing)."""
    if "://" in location:
        path = location.split(":///", 1)[1] if location.startswith("sqlite:///") else ""
        found = not path or Path(path).is_file()
        shown = location.split("@")[-1]
    else:
        found = (Path(location) / "catalog.db").is_file()
        shown = location
    if not found:
        raise ModelNotFoundError(
            f"No zoo at {shown!r}; check --zoo / $RECYCLE_ZOO, or create one with "
            "`recycle zoo init` (or `recycle zoo add`)."
        )


def open_engine(url: str) -> Engine:
    """Create an engine for a SQLAlchemy ``url`` with the catalog's connection settings.

    Examples
    --------
    >>> open_engine("sqlite://").dialect.name
    'sqlite'
    """
    try:
        if url.startswith("sqlite"):
            engine = create_engine(url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_S})
            event.listen(engine, "connect", _sqlite_connect)
            event.listen(engine, "begin", _sqlite_begin)
        else:
            engine = create_engine(url, pool_pre_ping=True)
    except (SQLAlchemyError, ImportError, ValueError) as exc:
        raise StorageError(
            f"Cannot open the catalog at {_safe(url)}: {exc}. Give a zoo folder or a "
            "SQLAlchemy URL such as postgresql+psycopg2://user@host/db."
        ) from None
    return engine


def _sqlite_connect(dbapi_connection: Any, _record: Any) -> None:
    dbapi_connection.isolation_level = None  # we issue BEGIN ourselves (see _sqlite_begin)
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    if cursor.execute("PRAGMA database_list").fetchone()[2]:  # a file, not :memory:
        _switch_to_wal(cursor)
        cursor.execute("PRAGMA synchronous=NORMAL")  # durable with WAL up to the last checkpoint
    cursor.close()


def _switch_to_wal(cursor: Any) -> None:
    """``PRAGMA journal_mode=WAL``, retried: SQLite does not call the busy handler for it.

    Two processes opening a new catalog at once would otherwise see "database is locked" at once
    instead of waiting their turn (reproduced by tests/zoo/test_zoo_crash.py's concurrent workers).
    """
    deadline = time.monotonic() + SQLITE_BUSY_TIMEOUT_S
    delay = 0.005
    while True:
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(delay)
            delay = min(delay * 2, 0.25)


def _sqlite_begin(conn: Any) -> None:
    conn.exec_driver_sql("BEGIN IMMEDIATE")


def _safe(url: str) -> str:
    """The URL without its password."""
    try:
        from sqlalchemy.engine import make_url

        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # a malformed URL: say so without echoing it whole
        return url.split("@")[-1]


def _config() -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    return cfg


def upgrade(engine: Engine) -> None:
    """Bring the catalog schema to the newest migration (idempotent, safe to run concurrently).

    Examples
    --------
    >>> engine = open_engine("sqlite://")
    >>> upgrade(engine); upgrade(engine)
    """
    cfg = _config()
    try:
        with engine.begin() as conn:
            if conn.dialect.name == "postgresql":
                conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": MIGRATION_LOCK_ID})
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "head")
    except SQLAlchemyError as exc:
        raise StorageError(
            f"Cannot create or migrate the catalog at {_safe(str(engine.url))}: "
            f"{str(exc).splitlines()[0]}. Check that the database is reachable and writable."
        ) from None


def current_revision(engine: Engine) -> str | None:
    """The catalog's schema revision (``None`` for an empty database).

    Examples
    --------
    >>> current_revision(open_engine("sqlite://")) is None
    True
    """
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def resolve_location(location: str, artifacts: str | Path | None) -> tuple[str, str | Path]:
    """The catalog's SQLAlchemy URL and the artifact root of zoo ``location``.

    A folder gets ``<folder>/catalog.db`` (the folder is created) and ``<folder>/artifacts``; a
    URL takes ``artifacts``, else ``$RECYCLE_ARTIFACTS``, else the folder of a SQLite file.

    >>> import tempfile
    >>> url, art = resolve_location(tempfile.mkdtemp(), None)
    >>> url.startswith("sqlite:///"), Path(art).name
    (True, 'artifacts')
    """
    if "://" in location:
        if artifacts is None:
            artifacts = os.environ.get("RECYCLE_ARTIFACTS")
        if artifacts is None and location.startswith("sqlite:///") and len(location) > 10:
            artifacts = Path(location[len("sqlite:///") :]).parent / "artifacts"
        if artifacts is None:
            raise ConfigError(
                f"Zoo at {location.split('@')[-1]!r} needs an artifact root; pass "
                "artifacts=FOLDER_OR_URL or set $RECYCLE_ARTIFACTS."
            )
        return location, artifacts
    folder = Path(location)
    if folder.exists() and not folder.is_dir():
        raise ConfigError(f"Zoo location {location!r} is a file; give a folder or a URL.")
    folder.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{folder.resolve() / 'catalog.db'}", artifacts or folder / "artifacts"
