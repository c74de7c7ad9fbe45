"""One exception handler: the library's error tree -> HTTP status codes.

Every :class:`~recycle.errors.RecycleError` becomes ``{"error": <class name>, "detail":
<one-line message>}`` with the status of :func:`recycle.errors.http_status`; the client maps the
class name back to the same exception type. Anything else is a bug: logged with its traceback
and answered 500 with no internals.
"""

from __future__ import annotations

import logging
import math
import tempfile

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from recycle.errors import RateLimitError, RecycleError, http_status

log = logging.getLogger("recycle.service")


async def recycle_error_handler(request: Request, exc: Exception) -> JSONResponse:
    """Map a :class:`RecycleError` to its status code and a JSON body."""
    if not isinstance(exc, RecycleError):  # registered for RecycleError only
        raise exc
    code = http_status(exc)
    headers = None
    if isinstance(exc, RateLimitError):  # the real wait, in whole seconds
        headers = {"Retry-After": str(max(1, math.ceil(exc.retry_after)))}
    if code >= 500:
        log.error("server error", extra={"event": "error", "error": type(exc).__name__})
    detail = scrub(str(exc), server_paths(request))
    return JSONResponse(
        {"error": type(exc).__name__, "detail": detail}, status_code=code, headers=headers
    )


def server_paths(request: Request) -> list[str]:
    """The server's own locations (zoo, artifacts, jobs folder): never shown to a client."""
    state = getattr(request.app.state, "service", None)
    if state is None:
        return []
    found = [state.settings.zoo, getattr(state.zoo, "location", None)]
    found += [getattr(getattr(state.zoo, "store", None), "url", None)]
    found += [str(getattr(state.jobs, "jobs_dir", "")) or None, tempfile.gettempdir()]
    return [str(p) for p in found if p and len(str(p)) > 1]


def scrub(text: str, paths: list[str]) -> str:
    """Replace each of ``paths`` in ``text`` by ``<server>`` (longest first).

    Examples
    --------
    >>> scrub("Artifact ab is missing from /srv/zoo/artifacts", ["/srv/zoo"])
    'Artifact ab is missing from <server>/artifacts'
    """
    for path in sorted(set(paths), key=len, reverse=True):
        text = text.replace(path, "<server>")
    return text


async def validation_error_handler(request: Request, exc: Exception) -> JSONResponse:
    """Request validation failures: 422 with a readable one-line message plus the details."""
    if not isinstance(exc, RequestValidationError):  # registered for it only
        raise exc
    errors = exc.errors()
    parts = [
        f"{'.'.join(str(p) for p in e.get('loc', ()))}: {e.get('msg', '')}" for e in errors[:5]
    ]
    return JSONResponse(
        {
            "error": "RequestValidationError",
            "detail": "Invalid request: " + "; ".join(parts),
            "errors": [{"loc": list(e.get("loc", ())), "msg": e.get("msg")} for e in errors],
        },
        status_code=422,
    )


async def http_error_handler(request: Request, exc: Exception) -> JSONResponse:
    """Framework errors (unparseable body 400, unknown route 404, wrong method 405), same shape."""
    if not isinstance(exc, HTTPException):  # registered for HTTPException only
        raise exc
    return JSONResponse(
        {"error": "HTTPError", "detail": str(exc.detail)},
        status_code=exc.status_code,
        headers=getattr(exc, "headers", None),
    )


async def unexpected_error_handler(request: Request, exc: Exception) -> JSONResponse:
    """Log a bug with its traceback; answer 500 without internals."""
    log.error(
        "unhandled error",
        exc_info=exc,
        extra={"event": "bug", "path": request.url.path, "error": type(exc).__name__},
    )
    return JSONResponse(
        {"error": "InternalError", "detail": "Internal server error; see the server log."},
        status_code=500,
    )


def install(app: FastAPI) -> None:
    """Register the handlers on ``app``."""
    app.add_exception_handler(RecycleError, recycle_error_handler)
    app.add_exception_handler(RequestValidationError, validation_error_handler)
    app.add_exception_handler(HTTPException, http_error_handler)
    app.add_exception_handler(Exception, unexpected_error_handler)
