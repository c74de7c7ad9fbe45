"""Pages for everyone with a key: sign in and out, the zoo, a model (and trying it).

The zoo page calls the API's own ``GET /models`` handler
(:func:`recycle.service.routers.models.list_models`) with the same filters, then sorts and
pages its result; the model page calls ``GET /models/{id}``; "try it" sends the uploaded
sample to ``POST /models/{id}/predict`` (or ``/embed`` for a model without classes), so the
batch limit and the user role are the API's.
"""

from __future__ import annotations

import math
import secrets
from typing import Annotated, Any, Literal

import numpy as np
from fastapi import APIRouter, File, Form, Query, Request, Response, UploadFile

from recycle.errors import AuthError, RecycleError
from recycle.service.auth import verify_key
from recycle.service.deps import StateDep
from recycle.service.routers import inference as inference_api
from recycle.service.routers import models as models_api
from recycle.service.schemas import ArrayIn, check_id
from recycle.service.web import uploads
from recycle.service.web.render import WebRoute, redirect, render
from recycle.service.web.session import (
    SESSION_COOKIE,
    SESSION_TTL_S,
    SIGNIN_CSRF_COOKIE,
    TOKEN_BYTES,
    Csrf,
    WebKey,
    WebUser,
    session_of,
    sessions,
)

router = APIRouter(route_class=WebRoute, include_in_schema=False)

PAGE_SIZE = 12  # models per zoo page
TRY_DIMS = 6  # features shown per row when a model only embeds
SORTS = {
    "name": (lambda m: (m.name, m.version), False),
    "newest": (lambda m: m.created or "", True),
    "provider": (lambda m: (m.card.get("provider", ""), m.name), False),
    "license": (lambda m: (m.card.get("license", ""), m.name), False),
}


def _safe_next(url: str | None) -> str:
    """Only a local path (no scheme, no host) is a valid place to go after signing in."""
    if url and url.startswith("/") and not url.startswith("//") and "\\" not in url:
        return url
    return "/web/zoo"


def _cookie(response: Response, request: Request, name: str, value: str, max_age: int) -> None:
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
        path="/",
    )


@router.get("/")
def home() -> Response:
    """The front end's entry: the zoo (which asks to sign in first)."""
    return redirect("/web/zoo")


@router.get("/web/signin")
def signin_page(request: Request, next: str | None = None) -> Response:
    token = secrets.token_urlsafe(TOKEN_BYTES)
    response = render(request, "signin.html", signin_csrf=token, next=_safe_next(next), error="")
    _cookie(response, request, SIGNIN_CSRF_COOKIE, token, 3600)
    return response


@router.post("/web/signin", dependencies=[Csrf])
def signin(
    request: Request,
    state: StateDep,
    api_key: Annotated[str, Form(max_length=200)] = "",
    next: Annotated[str, Form(max_length=500)] = "/web/zoo",
) -> Response:
    """Verify the key like the API does; on success start a session."""
    try:
        info = verify_key(state.db, api_key)
    except AuthError as exc:
        token = secrets.token_urlsafe(TOKEN_BYTES)
        response = render(
            request, "signin.html", 401, signin_csrf=token, next=_safe_next(next), error=str(exc)
        )
        _cookie(response, request, SIGNIN_CSRF_COOKIE, token, 3600)
        return response
    request.state.key = info  # the audit log names the key that signed in
    session = sessions(request).create(info.id)
    response = redirect(_safe_next(next))
    _cookie(response, request, SESSION_COOKIE, session.id, SESSION_TTL_S)
    response.delete_cookie(SIGNIN_CSRF_COOKIE, path="/")
    return response


@router.post("/web/signout", dependencies=[Csrf])
def signout(request: Request) -> Response:
    session = session_of(request)
    sessions(request).drop(session.id if session else None)
    response = redirect("/web/signin")
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


@router.get("/web/zoo")
def zoo_page(
    request: Request,
    state: StateDep,
    key: WebKey,
    q: Annotated[str, Query(max_length=200)] = "",
    modality: Literal["", "image", "text", "tabular"] = "",
    access: Literal["", "white-box", "black-box"] = "",
    task: Annotated[str, Query(max_length=64)] = "",
    license: Annotated[str, Query(max_length=64)] = "",
    provider: Annotated[str, Query(max_length=128)] = "",
    sort: Literal["name", "newest", "provider", "license"] = "name",
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
    per_page: Annotated[int, Query(ge=1, le=100)] = PAGE_SIZE,
) -> Response:
    """The zoo: search by text, filter, sort, page."""
    listing = models_api.list_models(
        state,
        key,
        modality=modality or None,
        task=task or None,
        access=access or None,
        license=license or None,
        provider=provider or None,
        q=q or None,
    )
    by, reverse = SORTS[sort]
    items = sorted(listing.items, key=by, reverse=reverse)
    pages = max(1, math.ceil(len(items) / per_page))
    page = min(page, pages)
    filters = {"q": q, "modality": modality, "access": access, "task": task,
               "license": license, "provider": provider, "sort": sort}  # fmt: skip
    return render(
        request,
        "zoo.html",
        models=items[(page - 1) * per_page : page * per_page],
        total=len(items),
        page=page,
        pages=pages,
        filters=filters,
        query={k: v for k, v in {**filters, "per_page": per_page}.items() if v and v != PAGE_SIZE},
    )


def _spec_summary(zoo: Any, entry: Any) -> dict[str, Any] | None:
    """Space, rows summarised and reduced points of an entry's spec (None without one)."""
    if not getattr(entry, "spec_sha256", None):
        return None
    from recycle.spec import Spec

    try:
        spec = Spec.from_json(zoo.store.read(entry.spec_sha256))
    except RecycleError as exc:
        return {"error": str(exc)}
    return {
        "space": spec.space,
        "n": spec.n,
        "m": len(spec.beta),
        "residual": spec.residual,
        "gamma": spec.gamma,
    }


def _model_context(state: Any, key: Any, model_id: str) -> dict[str, Any]:
    model = models_api.show(model_id, state, key)
    entry = state.zoo.get(check_id(model_id))
    parents = [_entry_or_id(state.zoo, p) for p in getattr(entry, "parents", [])]
    children = [
        e for e in state.zoo.list(all_versions=True) if model.id in (getattr(e, "parents", []))
    ]
    return {"model": model, "parents": parents, "children": children,
            "spec": _spec_summary(state.zoo, entry), "tried": None, "try_error": ""}  # fmt: skip


@router.get("/web/models/{model_id}")
def model_page(request: Request, state: StateDep, key: WebKey, model_id: str) -> Response:
    """A model: card, licence, provider, lineage (parents, built from, children), spec."""
    return render(request, "model.html", **_model_context(state, key, model_id))


@router.post("/web/models/{model_id}/try", dependencies=[Csrf])
async def try_model(
    request: Request,
    state: StateDep,
    key: WebUser,
    model_id: str,
    sample: Annotated[UploadFile, File()],
) -> Response:
    """Run the model as a black box on an uploaded sample (the API's ``/predict`` or ``/embed``)."""
    context = _model_context(state, key, model_id)
    card = context["model"].card
    try:
        meta = {"modality": card["modality"], "shape": card["input"]["shape"],
                "columns": card["input"].get("columns") or []}  # fmt: skip
        X, rows = uploads.read_unlabelled(
            sample.filename or "", await sample.read(), meta, state.settings.max_upload_bytes
        )
        if meta["modality"] == "text":
            body = ArrayIn(data=None, texts=X, npy_b64=None, columns=None)
        else:
            body = ArrayIn(data=X.tolist(), texts=None, npy_b64=None, columns=None)
        classes = card["output"].get("source_classes") or []
        run = inference_api.predict if classes else inference_api.embed
        out = np.asarray(run(model_id, body, state, key).data, dtype=np.float32)
    except RecycleError as exc:
        context["try_error"] = str(exc)
        return render(request, "model.html", 422, **context)
    results: list[tuple[str, str, float | None]]
    if classes:
        best = out.argmax(axis=1)
        results = [(r, classes[b], float(p[b])) for r, b, p in zip(rows, best, out, strict=True)]
    else:
        results = [(r, ", ".join(f"{v:.3g}" for v in f[:TRY_DIMS]), None)
                   for r, f in zip(rows, out, strict=True)]  # fmt: skip
    context["tried"] = {"kind": "predict" if classes else "embed", "rows": results,
                        "shape": list(out.shape)}  # fmt: skip
    return render(request, "model.html", **context)


def _entry_or_id(zoo: Any, entry_id: str) -> Any:
    try:
        return zoo.get(entry_id)
    except RecycleError:
        return entry_id  # a parent removed since: show its id
