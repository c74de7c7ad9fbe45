"""The admin's pages: API keys (create, revoke) and the audit log.

Keys are made and revoked with the functions ``recycle keys`` uses
(:func:`recycle.service.auth.create_key`, :meth:`ServiceDB.revoke_key`); the new key is shown
once, on the page that created it, and never stored. The audit log is the API's ``GET /audit``.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Query, Request, Response

from recycle.errors import ModelNotFoundError, RecycleError
from recycle.service.auth import ROLES, create_key
from recycle.service.deps import StateDep
from recycle.service.routers import health as health_api
from recycle.service.web.render import WebRoute, redirect, render
from recycle.service.web.session import Csrf, WebAdmin

router = APIRouter(route_class=WebRoute, include_in_schema=False)


def _keys_page(request: Request, state: StateDep, code: int = 200, **extra: str) -> Response:
    context = {"new_key": "", "new_owner": "", "error": "", "owner": "", "role": "user", **extra}
    return render(request, "keys.html", code, keys=state.db.list_keys(), roles=ROLES, **context)


@router.get("/web/admin/keys")
def keys_page(request: Request, state: StateDep, key: WebAdmin) -> Response:
    return _keys_page(request, state)


@router.post("/web/admin/keys", dependencies=[Csrf])
def make_key(
    request: Request,
    state: StateDep,
    key: WebAdmin,
    role: Annotated[str, Form(max_length=16)],
    owner: Annotated[str, Form(max_length=200)],
) -> Response:
    """Create a key and show it once."""
    try:
        new_key, info = create_key(state.db, role=role, owner=owner.strip())
    except RecycleError as exc:
        return _keys_page(request, state, 422, error=str(exc), owner=owner, role=role)
    request.state.audit = {"created_key": info.id, "role": info.role, "owner": info.owner}
    return _keys_page(request, state, new_key=new_key, new_owner=info.owner)


@router.post("/web/admin/keys/{key_id}/revoke", dependencies=[Csrf])
def revoke_key(request: Request, state: StateDep, key: WebAdmin, key_id: str) -> Response:
    if not state.db.revoke_key(key_id[:32]):
        raise ModelNotFoundError(f"No active key {key_id[:32]!r}; it may be revoked already.")
    request.state.audit = {"revoked_key": key_id[:32]}
    return redirect("/web/admin/keys")


@router.get("/web/admin/audit")
def audit_page(
    request: Request,
    state: StateDep,
    key: WebAdmin,
    limit: Annotated[int, Query(ge=1, le=10000)] = 200,
) -> Response:
    return render(request, "audit.html", rows=health_api.audit(state, key, limit), limit=limit)
