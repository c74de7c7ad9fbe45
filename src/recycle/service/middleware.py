"""Pure ASGI middleware: request size limits, structured access logs and the audit log.

:class:`LimitAndAudit` wraps the whole app:

- a JSON body nested deeper than ``max_json_depth`` gets 422 before it is parsed (the parser
  would recurse);
- a request whose ``Content-Length`` exceeds the route's limit gets 413 before its body is read;
  a body sent without a length (chunked) is counted as it streams and cut off at the limit
  (413), so an upload never fills the disk;
- every request is logged as one JSON line (method, path, status, milliseconds, key id);
- every write (POST, PUT, PATCH, DELETE; not the read-only queries ``/embed``, ``/predict``,
  ``/specs/search``) is recorded in ``service_audit`` with the key that made it (or none when it
  had no valid key) and the response status.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from recycle.errors import DataError, PayloadTooLargeError
from recycle.service.db import ServiceDB
from recycle.service.target import check_json_depth

log = logging.getLogger("recycle.service.access")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

WRITE_METHODS = ("POST", "PUT", "PATCH", "DELETE")
#: POST routes that change nothing (queries with a body): not written to the audit log.
READ_ONLY_POSTS = ("/embed", "/predict", "/specs/search")
#: Routes that take file uploads get the larger limit (multipart bodies).
UPLOAD_PATHS = ("/models", "/jobs/fit", "/jobs/select", "/web/upload", "/web/fit", "/web/register")


class _BodyTooLarge(PayloadTooLargeError):
    """Raised from ``receive`` when a streamed body passes the limit."""


def limit_for(path: str, method: str, max_upload: int, max_json: int) -> int:
    """The body size limit of a request (bytes)."""
    return max_upload if method == "POST" and path.rstrip("/") in UPLOAD_PATHS else max_json


class LimitAndAudit:
    """ASGI middleware enforcing body limits and writing access and audit logs."""

    def __init__(
        self, app: ASGIApp, db: ServiceDB, max_upload: int, max_json: int, max_json_depth: int
    ) -> None:
        self.app = app
        self.db = db
        self.max_upload = max_upload
        self.max_json = max_json
        self.max_json_depth = max_json_depth

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        method, path = scope["method"], scope["path"]
        limit = limit_for(path, method, self.max_upload, self.max_json)
        start = time.perf_counter()
        status = {"code": 500, "started": False}
        scope.setdefault("state", {})

        seen = 0
        exceeded = False
        audited = False
        audit_this = method in WRITE_METHODS and not path.rstrip("/").endswith(READ_ONLY_POSTS)

        def audit_once() -> None:
            nonlocal audited
            if audit_this and not audited:
                audited = True
                key = scope["state"].get("key")
                self._audit(key, method, path, status["code"], scope["state"].get("audit"))

        async def send_wrapper(message: Message) -> None:
            if exceeded and not status["started"]:
                # The app turned the cut-off body into some error (FastAPI's form parser says
                # 400): answer 413 instead and drop the app's own response.
                if message["type"] == "http.response.start":
                    await _send_413(send_raw, seen, limit)
                return
            if exceeded:
                return
            await send_raw(message)

        async def send_raw(message: Message) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
                status["started"] = True
            if message["type"] == "http.response.body" and not message.get("more_body", False):
                audit_once()  # durable before the client sees the end of the response
            await send(message)

        async def receive_wrapper() -> Message:
            nonlocal seen, exceeded
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    exceeded = True
                    raise _BodyTooLarge(f"body passed {limit} bytes")
            return message

        length = _content_length(scope)
        try:
            if length is not None and length > limit:
                await _send_413(send_raw, length, limit)
            elif _is_json(scope) and method in WRITE_METHODS:
                await self._json_body(scope, receive_wrapper, send_wrapper, send_raw)
            else:
                try:
                    await self.app(scope, receive_wrapper, send_wrapper)
                except PayloadTooLargeError:
                    if status["started"]:
                        raise
                    await _send_413(send_raw, seen, limit)
        finally:
            key = scope["state"].get("key")
            ms = (time.perf_counter() - start) * 1000.0
            log.info(
                "request",
                extra={
                    "event": "request",
                    "method": method,
                    "path": path,
                    "status": status["code"],
                    "ms": round(ms, 2),
                    "key_id": getattr(key, "id", None),
                },
            )
            audit_once()  # requests that ended without a complete response

    async def _json_body(self, scope: Scope, receive: Receive, send: Send, send_raw: Send):
        """Read a JSON body (within its limit), refuse deep nesting (422), then pass it on."""
        chunks, more = [], True
        while more:
            message = await receive()
            if message["type"] != "http.request":
                break
            chunks.append(message.get("body", b""))
            more = message.get("more_body", False)
        body = b"".join(chunks)
        try:
            check_json_depth(body, self.max_json_depth, "The request body")
        except DataError as exc:
            await _send_json(send_raw, 422, {"error": "DataError", "detail": str(exc)})
            return
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    def _audit(self, key: Any, method: str, path: str, code: int, detail: Any) -> None:
        try:
            self.db.audit(
                key_id=getattr(key, "id", None),
                owner=getattr(key, "owner", None),
                method=method,
                path=path[:512],
                status=code,
                detail=json.dumps(detail) if detail is not None else None,
            )
        except Exception:  # the audit must never turn a served request into a crash
            log.exception("audit write failed", extra={"event": "audit_failed", "path": path})


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", []):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


def _is_json(scope: Scope) -> bool:
    for name, value in scope.get("headers", []):
        if name == b"content-type":
            return b"json" in value.lower()
    return False


async def _send_413(send: Send, got: int, limit: int) -> None:
    await _send_json(
        send,
        413,
        {
            "error": "PayloadTooLargeError",
            "detail": f"Request body of {got} bytes exceeds the limit of {limit} bytes; "
            "send less (smaller batches) or raise RECYCLE_MAX_UPLOAD_BYTES/MAX_JSON_BYTES.",
        },
    )


async def _send_json(send: Send, status: int, payload: dict[str, Any]) -> None:
    body = json.dumps(payload).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
