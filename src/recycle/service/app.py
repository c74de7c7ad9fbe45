"""The FastAPI application: ``create_app(settings, zoo=None)``.

Routers per resource (health, models, specs, inference, jobs), the library's error tree mapped
to status codes in one handler (:mod:`recycle.service.errors`), body limits, access and audit
logs in one ASGI middleware (:mod:`recycle.service.middleware`). OpenAPI docs at ``/docs``.

Authentication policy: every write needs a key; catalog reads (``GET /models``,
``POST /specs/search``) need one too unless ``RECYCLE_READS_NEED_KEY=false``; inference and
jobs need a ``user`` key; ``/health`` and ``/ready`` are open.

Examples
--------
>>> import tempfile
>>> from recycle.service.config import Settings
>>> app = create_app(Settings(zoo=tempfile.mkdtemp()))  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI

from recycle.service import errors
from recycle.service.auth import RateLimiter
from recycle.service.config import Settings
from recycle.service.db import ServiceDB, default_jobs_dir, make_engine
from recycle.service.deps import ServiceState
from recycle.service.inference_pool import InferencePool
from recycle.service.jobs import JobManager
from recycle.service.middleware import LimitAndAudit
from recycle.service.routers import health, inference, jobs, models, specs
from recycle.service.web import install as install_web

API_VERSION = "1"


def _catalog_location(settings: Settings, zoo: Any) -> str:
    """The zoo's own database URL when it exposes its engine, else ``settings.zoo``."""
    engine = getattr(zoo, "engine", None)
    if engine is not None:
        return str(engine.url.render_as_string(hide_password=False))
    return settings.zoo


def create_app(settings: Settings | None = None, zoo: Any = None) -> FastAPI:
    """Build the service app over ``zoo`` (default: ``Zoo.open(settings.zoo, settings.artifacts)``).

    Parameters
    ----------
    settings : Settings, optional
        Configuration; default reads ``RECYCLE_*`` environment variables.
    zoo : Zoo, optional
        An open zoo (tests inject one); its database also holds the service tables.

    Returns
    -------
    fastapi.FastAPI
    """
    settings = settings or Settings()
    if zoo is None:
        from recycle.zoo import Zoo

        zoo = Zoo.open(settings.zoo, artifacts=settings.artifacts)
    db = ServiceDB(make_engine(_catalog_location(settings, zoo)))
    jobs_dir = Path(settings.jobs_dir) if settings.jobs_dir else default_jobs_dir(settings.zoo)
    state = ServiceState(
        settings=settings,
        db=db,
        zoo=zoo,
        limiter=RateLimiter(settings.rate_per_minute, settings.rate_burst),
        jobs=JobManager(db, zoo, jobs_dir, settings),
        inference=InferencePool(zoo, settings),
    )
    zoo.store.clean_temps()  # upload folders and writes left by killed registrations
    zoo.check_batch = settings.inference_batch  # the checker runs the batch we will serve

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        state.inference.warm()
        yield
        state.jobs.shutdown()
        state.inference.shutdown()

    app = FastAPI(
        title="recycle model-as-a-service",
        version=API_VERSION,
        description=(
            "Register models with cards and data-free specs, search by spec, query models as "
            "black boxes, and run selection and fit jobs. Send the API key as "
            "'Authorization: Bearer <key>' or 'X-API-Key'."
        ),
        lifespan=lifespan,
    )
    app.state.service = state
    errors.install(app)
    for r in (health, models, inference, specs, jobs):
        app.include_router(r.router)
    install_web(app)  # the web front end at / (server-rendered pages over the same handlers)
    app.add_middleware(
        LimitAndAudit,  # type: ignore[arg-type]
        db=db,
        max_upload=settings.max_upload_bytes,
        max_json=settings.max_json_bytes,
        max_json_depth=settings.max_json_depth,
    )
    return app
