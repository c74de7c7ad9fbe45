"""Rendering pages: the Jinja2 environment, security headers, and errors as pages.

Templates autoescape everything (``autoescape=True``): card text, file names and error
messages are shown as text, never as markup. Every page carries a Content-Security-Policy that
allows only this site's own scripts and styles (no inline script, nothing from a CDN), so even
a template mistake could not run injected script.

:class:`WebRoute` turns the library's errors into pages: not signed in (401) redirects to the
sign-in page; any other :class:`~recycle.errors.RecycleError` becomes an error page with the
status the API would give (:func:`recycle.errors.http_status`) and its one-line message.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any
from urllib.parse import quote

import jinja2
from fastapi import Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.routing import APIRoute

from recycle.errors import AuthError, RecycleError, http_status
from recycle.service.web.session import csrf_token, session_of

SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
}

ENV = jinja2.Environment(
    loader=jinja2.PackageLoader("recycle.service.web", "templates"),
    autoescape=True,
    trim_blocks=True,
    lstrip_blocks=True,
)


def render(request: Request, template: str, status_code: int = 200, **context: Any) -> Response:
    """Render ``template`` with the signed-in key (if any), the CSRF token and ``context``."""
    key = getattr(request.state, "key", None)
    html = ENV.get_template(template).render(
        key=key,
        csrf=csrf_token(request),
        path=request.url.path,
        signed_in=session_of(request) is not None and key is not None,
        **context,
    )
    return HTMLResponse(html, status_code=status_code, headers=SECURITY_HEADERS)


def redirect(url: str) -> Response:
    """303 See Other: after a POST, the browser GETs ``url``."""
    return RedirectResponse(url, status_code=303, headers=SECURITY_HEADERS)


def error_page(request: Request, exc: Exception) -> Response:
    """The page for an error raised while handling ``request``."""
    if isinstance(exc, AuthError):
        if request.method == "GET":
            return redirect(f"/web/signin?next={quote(request.url.path)}")
        return render(request, "signin.html", 401, error=str(exc), next="/web/zoo")
    if isinstance(exc, RequestValidationError):
        msg = "; ".join(
            f"{'.'.join(str(p) for p in e.get('loc', ())[1:])}: {e.get('msg', '')}"
            for e in exc.errors()[:5]
        )
        return render(request, "error.html", 422, status=422, message=f"Invalid request: {msg}")
    code = http_status(exc)  # type: ignore[arg-type]
    return render(request, "error.html", code, status=code, message=str(exc))


class WebRoute(APIRoute):
    """A route whose errors are pages (and sign-in redirects), not JSON bodies."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def route(request: Request) -> Response:
            try:
                return await handler(request)
            except (RecycleError, RequestValidationError) as exc:
                return error_page(request, exc)

        return route
