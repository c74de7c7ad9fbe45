"""Selection and fit jobs: submit (target data as an .npz upload + params), poll, cancel, result.

``params`` (JSON form field): ``sources`` (list of model ids; default: every entry), ``score``,
``m``, ``seed``, ``top`` (select) and the other ``Recycler`` parameters (``strategy``, ``cv``,
``cv_repeats``, ``strategies``, ``time_budget``, ``strategy_params``) for fit. The target
``.npz`` holds ``X`` and ``y`` and optionally ``X_test`` (a fit job then returns predictions for
it in its result).
A job is visible to its owner and admins only.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Request, UploadFile
from fastapi.responses import FileResponse

from recycle.errors import DataError
from recycle.service.deps import StateDep, UserKey
from recycle.service.jobs import FIT_PARAMS, read_target
from recycle.service.schemas import JobOut, check_id, error_responses

router = APIRouter(
    prefix="/jobs", tags=["jobs"], responses=error_responses(400, 401, 403, 404, 413, 422, 429)
)

PARAM_KEYS = {"sources", "top", *FIT_PARAMS}


def job_out(row: dict[str, Any]) -> JobOut:
    return JobOut(
        id=row["id"],
        kind=row["kind"],
        status=row["status"],
        task=row["task"],
        done=row["done"] or 0,
        total=row["total"] or 0,
        error=row["error"],
        result=row["result"],
        created=row["created"].isoformat() if row["created"] else None,
        finished=row["finished"].isoformat() if row["finished"] else None,
    )


def _params(text: str | None) -> dict[str, Any]:
    if text is None:
        return {}
    try:
        params = json.loads(text)
    except json.JSONDecodeError as exc:
        raise DataError(f"'params' is not valid JSON: {exc.msg}.") from None
    if not isinstance(params, dict) or not set(params) <= PARAM_KEYS:
        raise DataError(f"'params' must be a JSON object with keys among {sorted(PARAM_KEYS)}.")
    return params


def _submit(kind: str, request: Request, state: Any, key: Any, data: UploadFile, params: Any):
    target = read_target(data.file.read())
    base_url = str(request.base_url).rstrip("/")
    job_id = state.jobs.submit(kind, key, target, _params(params), base_url)
    request.state.audit = {"job": job_id, "kind": kind}
    return job_out(state.jobs.get(job_id, key))


@router.post("/select", status_code=202, response_model=JobOut)
def submit_select(
    request: Request,
    state: StateDep,
    key: UserKey,
    data: Annotated[UploadFile, File(description=".npz with X and y")],
    params: Annotated[str | None, Form(description="JSON params")] = None,
) -> JobOut:
    """Queue a selection job (user role)."""
    return _submit("select", request, state, key, data, params)


@router.post("/fit", status_code=202, response_model=JobOut)
def submit_fit(
    request: Request,
    state: StateDep,
    key: UserKey,
    data: Annotated[UploadFile, File(description=".npz with X, y (and X_test)")],
    params: Annotated[str | None, Form(description="JSON params")] = None,
) -> JobOut:
    """Queue a fit job (user role); its recycled model is downloadable when done."""
    return _submit("fit", request, state, key, data, params)


@router.get("/{job_id}", response_model=JobOut)
def poll(job_id: str, state: StateDep, key: UserKey) -> JobOut:
    """Status, progress and (when done) the result summary."""
    return job_out(state.jobs.get(check_id(job_id, "job"), key))


@router.post("/{job_id}/cancel", response_model=JobOut)
def cancel(job_id: str, state: StateDep, key: UserKey) -> JobOut:
    """Ask a queued or running job to stop."""
    return job_out(state.jobs.cancel(check_id(job_id, "job"), key))


@router.get(
    "/{job_id}/result",
    response_class=FileResponse,
    responses={200: {"content": {"application/gzip": {}}}},
)
def result(job_id: str, state: StateDep, key: UserKey) -> Any:
    """The recycled model of a finished fit job as ``model.tar.gz`` (a folder ``model/``)."""
    path = state.jobs.result_archive(check_id(job_id, "job"), key)
    return FileResponse(path, media_type="application/gzip", filename=f"{job_id}.tar.gz")
