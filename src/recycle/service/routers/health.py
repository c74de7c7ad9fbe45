"""Liveness (``/health``), readiness (``/ready``: the database answers), the audit log."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse

from recycle.errors import StorageError
from recycle.service.deps import AdminKey, StateDep
from recycle.service.schemas import error_responses

router = APIRouter(tags=["health"])


@router.get("/health")
def health() -> dict[str, str]:
    """The process is up."""
    return {"status": "ok"}


@router.get("/ready", responses={503: {"description": "database unreachable"}})
def ready(state: StateDep) -> Any:
    """The catalog database is reachable (503 otherwise)."""
    try:
        state.db.ping()
    except StorageError as exc:
        return JSONResponse({"status": "unavailable", "detail": str(exc)}, status_code=503)
    return {"status": "ready"}


@router.get("/audit", responses=error_responses(401, 403, 422, 429))
def audit(
    state: StateDep, key: AdminKey, limit: int = Query(100, ge=1, le=10000)
) -> list[dict[str, Any]]:
    """The most recent writes (admin only)."""
    rows = state.db.audit_rows(limit)
    for r in rows:
        r["at"] = r["at"].isoformat() if r["at"] else None
    return rows
