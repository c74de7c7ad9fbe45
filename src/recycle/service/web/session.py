"""Web sessions and CSRF tokens: signing in with an API key, and who is calling.

Invariant: a browser never holds an API key after it signed in, and the server never stores
one. Signing in verifies the key (:func:`recycle.service.auth.verify_key`) and hands the
browser a random session token in an ``HttpOnly``, ``SameSite=Strict`` cookie. The session is
a row of the service's database (``service_web_sessions``): the token's sha256 (so the
database alone opens no session), the id of the key that signed in (never its secret), a CSRF
token and an expiry. So a restart keeps everyone signed in, several server processes over one
database agree, and signing out deletes the row, which ends the session everywhere. Every page
re-checks the key by id (:func:`recycle.service.auth.active_key`): a revoked key stops working
on the next page; rate limits and roles are the API's.

CSRF: every session has its own random token, rendered as a hidden ``csrf`` field in each form
and compared in constant time on every POST (synchronizer-token pattern); the sign-in form,
which has no session yet, uses a double-submit cookie. A POST whose ``Origin`` names another
host is refused as well. Sessions expire after :data:`SESSION_TTL_S`.

Examples
--------
>>> import sqlalchemy as sa
>>> from recycle.service.db import ServiceDB
>>> store = WebSessions(ServiceDB(sa.create_engine("sqlite://")))
>>> s = store.create("0123456789abcdef")
>>> store.get(s.id).key_id, store.get("unknown")
('0123456789abcdef', None)
>>> store.drop(s.id); store.get(s.id) is None
True
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import urlsplit

from fastapi import Depends, Form, Request

from recycle.errors import AuthError, ForbiddenError
from recycle.service.auth import KeyInfo, active_key, require_role
from recycle.service.db import ServiceDB
from recycle.service.deps import StateDep, admit, get_state

SESSION_COOKIE = "recycle_session"
SIGNIN_CSRF_COOKIE = "recycle_signin_csrf"
SIGNIN_PATH = "/web/signin"
SESSION_TTL_S = 8 * 3600  # a working day; then sign in again
TOKEN_BYTES = 32  # 256-bit session tokens and CSRF tokens


@dataclass
class Session:
    """One signed-in browser: its token (the cookie), key id, CSRF token and expiry."""

    id: str
    key_id: str
    csrf: str
    expires: float


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class WebSessions:
    """Sessions stored in the service's database (see the module docstring)."""

    def __init__(self, db: ServiceDB) -> None:
        self.db = db

    def create(self, key_id: str) -> Session:
        """A new session for the key ``key_id`` (already verified); expired ones are deleted."""
        t = time.time()
        s = Session(
            secrets.token_urlsafe(TOKEN_BYTES), key_id, secrets.token_urlsafe(TOKEN_BYTES),
            t + SESSION_TTL_S,
        )  # fmt: skip
        row = {"token_sha256": _hash(s.id), "key_id": key_id, "csrf": s.csrf, "expires": s.expires}
        self.db.insert_session(row, now=t)
        return s

    def get(self, session_id: str | None) -> Session | None:
        """The live session with this token, or ``None``."""
        if not session_id:
            return None
        row = self.db.get_session(_hash(session_id), now=time.time())
        if row is None:
            return None
        return Session(session_id, row["key_id"], row["csrf"], row["expires"])

    def drop(self, session_id: str | None) -> None:
        """End a session (sign out), for every server process."""
        if session_id:
            self.db.delete_session(_hash(session_id))


def sessions(request: Request) -> WebSessions:
    """The session store of the app serving ``request`` (in its service database)."""
    return WebSessions(get_state(request).db)


def session_of(request: Request) -> Session | None:
    """The caller's session, from its cookie (looked up once per request)."""
    if not hasattr(request.state, "web_session"):
        request.state.web_session = sessions(request).get(request.cookies.get(SESSION_COOKIE))
    return request.state.web_session  # type: ignore[no-any-return]


def web_key(request: Request, state: StateDep) -> KeyInfo:
    """The signed-in key, re-checked and rate-limited like an API request (AuthError if none)."""
    session = session_of(request)
    if session is None:
        raise AuthError("You are not signed in (or your session expired); sign in with your key.")
    return admit(request, state, active_key(state.db, session.key_id))


def _role(*roles: str) -> Any:
    def dep(info: Annotated[KeyInfo, Depends(web_key)]) -> KeyInfo:
        require_role(info, *roles)
        return info

    return dep


def _remember_key(request: Request, session: Session | None) -> None:
    """Name the session's key in the audit row of a refused POST (when the key is valid)."""
    if session is not None:
        with contextlib.suppress(AuthError):
            request.state.key = active_key(get_state(request).db, session.key_id)


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
