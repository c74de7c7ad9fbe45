"""The service's own tables (API keys, audit log, jobs, web sessions), in the zoo's catalog DB.

They live beside the zoo's tables in the same database but in their own
:class:`sqlalchemy.MetaData`, created with ``create_all`` (idempotent), so the zoo's Alembic
migrations never see them. All names start with ``service_``.

Examples
--------
>>> import sqlalchemy as sa
>>> db = ServiceDB(sa.create_engine("sqlite://"))
>>> sorted(METADATA.tables)
['service_audit', 'service_jobs', 'service_keys', 'service_web_sessions']
"""

from __future__ import annotations

import datetime as dt
import json
import os
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from recycle.errors import StorageError

METADATA = sa.MetaData()

KEYS = sa.Table(
    "service_keys",
    METADATA,
    sa.Column("id", sa.String(32), primary_key=True),  # public key id (hex), part of the key
    sa.Column("secret_sha256", sa.String(64), nullable=False),  # sha256 of the secret part
    sa.Column("role", sa.String(16), nullable=False),  # provider | user | admin
    sa.Column("owner", sa.String(128), nullable=False),  # provider name / user name
    sa.Column("created", sa.DateTime(timezone=True), nullable=False),
    sa.Column("revoked", sa.DateTime(timezone=True), nullable=True),
    sa.Column("rate_per_minute", sa.Integer, nullable=True),  # per-key override
)

AUDIT = sa.Table(
    "service_audit",
    METADATA,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("key_id", sa.String(32), nullable=True),  # None: request had no valid key
    sa.Column("owner", sa.String(128), nullable=True),
    sa.Column("method", sa.String(8), nullable=False),
    sa.Column("path", sa.String(512), nullable=False),
    sa.Column("status", sa.Integer, nullable=False),
    sa.Column("detail", sa.Text, nullable=True),
)

JOBS = sa.Table(
    "service_jobs",
    METADATA,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("kind", sa.String(16), nullable=False),  # select | fit
    sa.Column("key_id", sa.String(32), nullable=False),
    sa.Column("owner", sa.String(128), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),  # queued|running|done|failed|cancelled
    sa.Column("task", sa.String(128), nullable=True),  # current progress task
    sa.Column("done", sa.Integer, nullable=False, default=0),
    sa.Column("total", sa.Integer, nullable=False, default=0),
    sa.Column("params", sa.Text, nullable=False),  # JSON
    sa.Column("result", sa.Text, nullable=True),  # JSON summary
    sa.Column("error", sa.Text, nullable=True),
    sa.Column("created", sa.DateTime(timezone=True), nullable=False),
    sa.Column("finished", sa.DateTime(timezone=True), nullable=True),
)

WEB_SESSIONS = sa.Table(
    "service_web_sessions",
    METADATA,
    sa.Column("token_sha256", sa.String(64), primary_key=True),  # sha256 of the cookie's token
    sa.Column("key_id", sa.String(32), nullable=False),  # the key it signed in with (no secret)
    sa.Column("csrf", sa.String(64), nullable=False),  # the session's CSRF token
    sa.Column("expires", sa.Float, nullable=False),  # unix time
)

ACTIVE_JOB_STATES = ("queued", "running")


def now() -> dt.datetime:
    """Timezone-aware UTC now."""
    return dt.datetime.now(dt.UTC)


def catalog_url(location: str) -> str:
    """SQLAlchemy URL of the zoo catalog at ``location`` (a folder or a URL).

    Mirrors ``Zoo.open``: a folder holds its SQLite catalog in ``catalog.db``.

    Examples
    --------
    >>> catalog_url("postgresql+psycopg2://u@h/db")
    'postgresql+psycopg2://u@h/db'
    >>> catalog_url("/tmp/zoo")
    'sqlite:////tmp/zoo/catalog.db'
    """
    if "://" in location:
        return location
    folder = Path(location).expanduser().resolve()
    folder.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{folder / 'catalog.db'}"


def make_engine(location: str) -> Engine:
    """An engine on the catalog database (SQLite: WAL and a busy timeout for many threads)."""
    url = catalog_url(location)
    if url.startswith("sqlite"):
        engine = sa.create_engine(url, connect_args={"timeout": 30, "check_same_thread": False})

        @sa.event.listens_for(engine, "connect")
        def _pragma(conn: Any, _record: Any) -> None:  # pragma: no cover - trivial
            cur = conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()

        return engine
    return sa.create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=20)


class ServiceDB:
    """Thin data access over the service tables (one transaction per call)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        try:
            METADATA.create_all(engine)
        except sa.exc.SQLAlchemyError as exc:
            raise StorageError(
                f"Cannot create the service tables in {engine.url!r}: {exc.__class__.__name__}; "
                "check the database URL and that it is reachable."
            ) from exc

    def ping(self) -> None:
        """Raise :class:`StorageError` when the database is unreachable."""
        try:
            with self.engine.connect() as conn:
                conn.execute(sa.text("SELECT 1"))
        except sa.exc.SQLAlchemyError as exc:
            raise StorageError(f"Catalog database unreachable: {exc.__class__.__name__}.") from exc

    # keys -----------------------------------------------------------------------------------
    def insert_key(self, row: dict[str, Any]) -> None:
        with self.engine.begin() as conn:
            conn.execute(KEYS.insert().values(**row))

    def get_key(self, key_id: str) -> dict[str, Any] | None:
        with self.engine.connect() as conn:
            row = conn.execute(KEYS.select().where(KEYS.c.id == key_id)).mappings().first()
        return dict(row) if row else None

    def list_keys(self) -> list[dict[str, Any]]:
        with self.engine.connect() as conn:
            rows = conn.execute(KEYS.select().order_by(KEYS.c.created)).mappings().all()
        return [dict(r) for r in rows]

    def revoke_key(self, key_id: str) -> bool:
        with self.engine.begin() as conn:
            res = conn.execute(
                KEYS.update()
                .where(KEYS.c.id == key_id, KEYS.c.revoked.is_(None))
                .values(revoked=now())
            )
        return res.rowcount > 0

    # audit ----------------------------------------------------------------------------------
    def audit(self, **row: Any) -> None:
        with self.engine.begin() as conn:
            conn.execute(AUDIT.insert().values(at=now(), **row))

    def audit_rows(self, limit: int = 1000) -> list[dict[str, Any]]:
        with self.engine.connect() as conn:
            q = AUDIT.select().order_by(AUDIT.c.id.desc()).limit(limit)
            return [dict(r) for r in conn.execute(q).mappings().all()]

    # web sessions ---------------------------------------------------------------------------
    def insert_session(self, row: dict[str, Any], now: float) -> None:
        """Store a session; sessions expired at ``now`` are deleted in the same transaction."""
        with self.engine.begin() as conn:
            conn.execute(WEB_SESSIONS.delete().where(WEB_SESSIONS.c.expires < now))
            conn.execute(WEB_SESSIONS.insert().values(**row))

    def get_session(self, token_sha256: str, now: float) -> dict[str, Any] | None:
        """The session with this token hash, unless it expired before ``now``."""
        q = WEB_SESSIONS.select().where(
            WEB_SESSIONS.c.token_sha256 == token_sha256, WEB_SESSIONS.c.expires >= now
        )
        with self.engine.connect() as conn:
            row = conn.execute(q).mappings().first()
        return dict(row) if row else None

    def delete_session(self, token_sha256: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(WEB_SESSIONS.delete().where(WEB_SESSIONS.c.token_sha256 == token_sha256))

    # jobs -----------------------------------------------------------------------------------
    def insert_job(self, row: dict[str, Any]) -> None:
        row = {**row, "params": json.dumps(row["params"]), "created": now()}
        with self.engine.begin() as conn:
            conn.execute(JOBS.insert().values(status="queued", done=0, total=0, **row))

    def update_job(self, job_id: str, **values: Any) -> None:
        if "result" in values and not isinstance(values["result"], str | None):
            values["result"] = json.dumps(values["result"])
        if values.get("status") in ("done", "failed", "cancelled"):
            values["finished"] = now()
        with self.engine.begin() as conn:
            conn.execute(JOBS.update().where(JOBS.c.id == job_id).values(**values))

    def get_job(self, job_id: str) -> dict[str, Any] | None:
        with self.engine.connect() as conn:
            row = conn.execute(JOBS.select().where(JOBS.c.id == job_id)).mappings().first()
        if row is None:
            return None
        out = dict(row)
        out["params"] = json.loads(out["params"])
        out["result"] = json.loads(out["result"]) if out["result"] else None
        return out

    def active_jobs(self, key_id: str) -> list[str]:
        """Ids of the key's queued or running jobs, oldest first."""
        q = (
            sa.select(JOBS.c.id)
            .where(JOBS.c.key_id == key_id, JOBS.c.status.in_(ACTIVE_JOB_STATES))
            .order_by(JOBS.c.created)
        )
        with self.engine.connect() as conn:
            return list(conn.execute(q).scalars())

    def list_jobs(self, owner: str) -> list[dict[str, Any]]:
        """Every job row of ``owner`` (without params and results), oldest first."""
        cols = (JOBS.c.id, JOBS.c.kind, JOBS.c.status, JOBS.c.created)
        q = sa.select(*cols).where(JOBS.c.owner == owner).order_by(JOBS.c.created)
        with self.engine.connect() as conn:
            return [dict(r) for r in conn.execute(q).mappings().all()]

    def fail_interrupted_jobs(self) -> int:
        """Mark jobs left queued/running by a previous server process as failed."""
        with self.engine.begin() as conn:
            res = conn.execute(
                JOBS.update()
                .where(JOBS.c.status.in_(ACTIVE_JOB_STATES))
                .values(status="failed", error="server restarted; resubmit", finished=now())
            )
        return res.rowcount


def default_jobs_dir(location: str) -> Path:
    """Where job results go when ``RECYCLE_JOBS_DIR`` is not set."""
    if "://" in location:
        return Path(os.getcwd()) / "recycle-jobs"
    return Path(location).expanduser().resolve() / "service-jobs"
