"""The web front end of ``recycle serve``: server-rendered pages over the API's own handlers.

Pages live under ``/web`` (``/`` redirects there); static CSS and JavaScript ship in this
package (``static/``), nothing comes from a CDN. There is no logic here that the API lacks:
each page calls the API route's function with the signed-in key, so keys, roles, rate limits,
body limits and the audit log are the same (see :mod:`.session` for sign-in and CSRF;
sessions live in the service's database, so they survive restarts).

- :mod:`.pages_zoo`: sign in/out, the zoo (search, filters, sort, pages), a model's page;
- :mod:`.pages_user`: upload -> search -> selection ranking -> fit with progress -> report,
  model and predictions downloads;
- :mod:`.pages_provider`: register a model, one's own models and their use;
- :mod:`.pages_admin`: API keys and the audit log.

Examples
--------
>>> from fastapi import FastAPI
>>> app = FastAPI()
>>> install(app)
>>> app.url_path_for("web-static", path="app.js")
'/web/static/app.js'
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from recycle.service.web import pages_admin, pages_provider, pages_user, pages_zoo, uploads

STATIC = Path(__file__).parent / "static"


def install(app: FastAPI) -> None:
    """Add the front end's pages, static files and session store to ``app``."""
    service = getattr(app.state, "service", None)
    if service is not None:  # uploads left by an earlier run that have expired meanwhile
        uploads.sweep(Path(service.jobs.jobs_dir))
    app.mount("/web/static", StaticFiles(directory=STATIC), name="web-static")
    for module in (pages_zoo, pages_user, pages_provider, pages_admin):
        app.include_router(module.router)
