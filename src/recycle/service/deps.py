"""FastAPI dependencies as ``Annotated`` aliases: the service state and the caller's key.

- :data:`StateDep`: the :class:`ServiceState` of the app (settings, zoo, DB, limiter, jobs).
- :data:`AnyKey`: any valid key (401 otherwise), rate-limited.
- :data:`ReadKey`: like ``AnyKey`` unless ``RECYCLE_READS_NEED_KEY=false`` (then optional).
- :data:`ProviderKey` / :data:`UserKey` / :data:`AdminKey`: role-checked (403 otherwise).

The key comes from ``Authorization: Bearer <key>`` or ``X-API-Key: <key>``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Request, Security
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from recycle.service.auth import KeyInfo, RateLimiter, require_role, verify_key
from recycle.service.config import Settings
from recycle.service.db import ServiceDB


@dataclass
class ServiceState:
    """Everything a request handler needs; one per app."""

    settings: Settings
    db: ServiceDB
    zoo: Any
    limiter: RateLimiter
    jobs: Any  # recycle.service.jobs.JobManager
    inference: Any  # recycle.service.inference_pool.InferencePool


def get_state(request: Request) -> ServiceState:
    return request.app.state.service  # type: ignore[no-any-return]


StateDep = Annotated[ServiceState, Depends(get_state)]

_bearer = HTTPBearer(auto_error=False, description="API key as a bearer token")
_header = APIKeyHeader(name="X-API-Key", auto_error=False, description="API key")


def _raw_key(
    bearer: Annotated[HTTPAuthorizationCredentials | None, Security(_bearer)],
    header: Annotated[str | None, Security(_header)],
) -> str | None:
    if bearer is not None:
        return bearer.credentials
    return header


def current_key(
    request: Request, state: StateDep, raw: Annotated[str | None, Depends(_raw_key)]
) -> KeyInfo:
    """Verify the caller's key, spend a rate-limit token, remember the key for the audit log."""
    return admit(request, state, verify_key(state.db, raw))


def admit(request: Request, state: ServiceState, info: KeyInfo) -> KeyInfo:
    """Let a verified key in: spend a rate-limit token, remember it for the audit log."""
    request.state.key = info
    state.limiter.take(info.id, info.rate_per_minute)
    return info


def optional_key(
    request: Request, state: StateDep, raw: Annotated[str | None, Depends(_raw_key)]
) -> KeyInfo | None:
    """A key when reads need one (the default) or when one is sent; else ``None``."""
    if raw is None and not state.settings.reads_need_key:
        return None
    return current_key(request, state, raw)


def _role(*roles: str) -> Any:
    def dep(info: Annotated[KeyInfo, Depends(current_key)]) -> KeyInfo:
        require_role(info, *roles)
        return info

    return dep


AnyKey = Annotated[KeyInfo, Depends(current_key)]
ReadKey = Annotated[KeyInfo | None, Depends(optional_key)]
ProviderKey = Annotated[KeyInfo, Depends(_role("provider"))]
UserKey = Annotated[KeyInfo, Depends(_role("user"))]
AdminKey = Annotated[KeyInfo, Depends(_role())]
