"""Web sessions and CSRF tokens: signing in with an API key, and who is calling.

Invariant: a browser never holds an API key after it signed in. Signing in verifies the key
(:func:`recycle.service.auth.verify_key`) and hands the browser a random session id in an
``HttpOnly``, ``SameSite=Strict`` cookie; the key stays in this process's :class:`WebSessions`.
Every page then calls :func:`recycle.service.deps.current_key` with that key, exactly like an
API request: a revoked key stops working on the next page, rate limits and roles are the API's.

CSRF: every session has its own random token, rendered as a hidden ``csrf`` field in each form
and compared in constant time on every POST (synchronizer-token pattern); the sign-in form,
which has no session yet, uses a double-submit cookie. A POST whose ``Origin`` names another
host is refused as well.

Sessions live in process memory (like the rate-limit buckets): a restart or another server
process signs the browser out; they expire after :data:`SESSION_TTL_S`.

Examples
--------
>>> store = WebSessions()
>>> s = store.create("rk_0123456789abcdef_" + "x" * 43)
>>> store.get(s.id).key == s.key, store.get("unknown")
(True, None)
>>> store.drop(s.id); store.get(s.id) is None
True
"""

from __future__ import annotations

import contextlib
import hmac
import secrets
import threading
import time
from dataclasses import dataclass, field
from typing import Annotated, Any
from urllib.parse import urlsplit

from fastapi import Depends, Form, Request

from recycle.errors import AuthError, ForbiddenError
from recycle.service.auth import KeyInfo, require_role, verify_key
from recycle.service.deps import StateDep, current_key, get_state

SESSION_COOKIE = "recycle_session"
SIGNIN_CSRF_COOKIE = "recycle_signin_csrf"
SIGNIN_PATH = "/web/signin"
SESSION_TTL_S = 8 * 3600  # a working day; then sign in again
TOKEN_BYTES = 32  # 256-bit session ids and CSRF tokens


@dataclass
class Session:
    """One signed-in browser: its API key (never sent back), CSRF token and expiry."""

    id: str
    key: str
    csrf: str
    expires: float = field(default_factory=lambda: time.monotonic() + SESSION_TTL_S)


class WebSessions:
    """Sessions of one app, by id (thread-safe)."""

    def __init__(self) -> None:
        self._sessions: dict[str, Session] = {}
        self._lock = threading.Lock()

    def create(self, key: str) -> Session:
        """A new session for ``key`` (already verified); expired ones are dropped."""
        t = time.monotonic()
        s = Session(secrets.token_urlsafe(TOKEN_BYTES), key, secrets.token_urlsafe(TOKEN_BYTES))
        with self._lock:
            for sid in [k for k, v in self._sessions.items() if v.expires < t]:
                del self._sessions[sid]
            self._sessions[s.id] = s
        return s

    def get(self, session_id: str | None) -> Session | None:
        """The live session with this id, or ``None``."""
        if not session_id:
            return None
        with self._lock:
            s = self._sessions.get(session_id)
        return s if s is not None and s.expires > time.monotonic() else None

    def drop(self, session_id: str | None) -> None:
        """Forget a session (sign out)."""
        with self._lock:
            self._sessions.pop(session_id or "", None)


def sessions(request: Request) -> WebSessions:
    """The app's session store (installed by :func:`recycle.service.web.install`)."""
    return request.app.state.web_sessions  # type: ignore[no-any-return]


def session_of(request: Request) -> Session | None:
    """The caller's session, from its cookie."""
    return sessions(request).get(request.cookies.get(SESSION_COOKIE))


def web_key(request: Request, state: StateDep) -> KeyInfo:
    """The signed-in key, verified and rate-limited like an API request (AuthError if none)."""
    session = session_of(request)
    if session is None:
        raise AuthError("You are not signed in (or your session expired); sign in with your key.")
    request.state.web_session = session
    return current_key(request, state, session.key)


def _role(*roles: str) -> Any:
    def dep(info: Annotated[KeyInfo, Depends(web_key)]) -> KeyInfo:
        require_role(info, *roles)
        return info

    return dep


def _remember_key(request: Request, session: Session | None) -> None:
    """Name the session's key in the audit row of a refused POST (when the key is valid)."""
    if session is not None:
        with contextlib.suppress(AuthError):
            request.state.key = verify_key(get_state(request).db, session.key)


def check_csrf(request: Request, csrf: Annotated[str, Form()] = "") -> None:
    """Refuse a POST without this session's CSRF token, or sent from another origin."""
    session = session_of(request)
    origin = request.headers.get("origin")
    if origin and origin != "null" and urlsplit(origin).netloc != request.url.netloc:
        _remember_key(request, session)
        raise ForbiddenError(f"Form sent from another site ({origin[:100]}); use this site's form.")
    expected = [session.csrf] if session else []
    if request.url.path == SIGNIN_PATH:  # no session yet: the double-submit cookie
        expected.append(request.cookies.get(SIGNIN_CSRF_COOKIE, ""))
    if not any(e and hmac.compare_digest(e.encode(), csrf.encode()) for e in expected):
        _remember_key(request, session)
        raise ForbiddenError(
            "The form's security token is missing or stale; reload the page and submit again."
        )


def csrf_token(request: Request) -> str:
    """The token to put in this page's forms ('' before sign-in: the sign-in page sets its own)."""
    session = session_of(request)
    return session.csrf if session else ""


WebKey = Annotated[KeyInfo, Depends(web_key)]
WebUser = Annotated[KeyInfo, Depends(_role("user"))]
WebProvider = Annotated[KeyInfo, Depends(_role("provider"))]
WebAdmin = Annotated[KeyInfo, Depends(_role())]
Csrf = Depends(check_csrf)
