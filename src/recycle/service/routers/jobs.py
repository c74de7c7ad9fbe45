"""Selection and fit jobs: submit (target data as an .npz upload + params), poll, cancel, result.

``params`` (JSON form field, :class:`recycle.service.job_params.JobParams`, every field
bounded; 422 naming the field otherwise): ``sources`` (list of model ids; default: every
entry), ``score``, ``m``, ``seed``, ``top`` (select) and the other ``Recycler`` parameters
(``strategy``, ``cv``, ``cv_repeats``, ``strategies``, ``time_budget``, ``strategy_params``).
The target ``.npz`` holds ``X`` and ``y`` and optionally ``X_test`` (a fit job then returns
predictions for it in its result; it is checked against ``X`` at submit, like ``recycle
predict`` checks data against a model); its inflated size is checked from the zip's headers.
A job is visible to its owner and admins only.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Request, UploadFile
from fastapi.responses import FileResponse
from pydantic import ValidationError as PydanticError

from recycle.errors import DataError
from recycle.schema import conform, learn_schema
from recycle.service.deps import StateDep, UserKey
from recycle.service.job_params import ExportParams, JobParams
from recycle.service.schemas import JobOut, check_id, error_responses
from recycle.service.target import parse_json, read_target

router = APIRouter(
    prefix="/jobs", tags=["jobs"], responses=error_responses(400, 401, 403, 404, 413, 422, 429)
)


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


def _params(text: str | None, max_depth: int, model: Any = JobParams) -> Any:
    """The job's params (a ``model`` instance), validated with bounds: 422 naming the field."""
    raw = {} if text is None else parse_json(text, max_depth, "params")
    if not isinstance(raw, dict):
        raise DataError(f"'params' must be a JSON object; got {type(raw).__name__}.")
    try:
        return model.model_validate(raw)
    except PydanticError as exc:
        parts = [f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()[:5]]
        raise DataError(f"Invalid job params: {'; '.join(parts)}.") from None


def _submit(kind: str, request: Request, state: Any, key: Any, data: UploadFile, params: Any):
    settings = state.settings
    job_params = _params(params, settings.max_json_depth)
    target = read_target(data.file.read(), settings.max_array_bytes)
    if "X_test" in target:  # refused now, not after the fit: the checks of `recycle predict`
        conform(learn_schema(target["X"])[1], target["X_test"], "X_test")
    base_url = str(request.base_url).rstrip("/")
    job_id = state.jobs.submit(kind, key, target, job_params, base_url)
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


@router.post("/{job_id}/export", status_code=202, response_model=JobOut)
def export(
    job_id: str,
    request: Request,
    state: StateDep,
    key: UserKey,
    params: Annotated[str | None, Form(description='JSON, e.g. {"quantize": "int8"}')] = None,
) -> JobOut:
    """Queue an ONNX export of a done fit job's model (user role); download it from the
    export job's ``/result`` when done. It runs in a job worker, like the fit."""
    export_params = _params(params, state.settings.max_json_depth, ExportParams)
    base_url = str(request.base_url).rstrip("/")
    model_job = check_id(job_id, "job")
    export_id = state.jobs.submit("export", key, {}, export_params, base_url, model_job=model_job)
    request.state.audit = {"job": export_id, "kind": "export", "model_job": model_job}
    return job_out(state.jobs.get(export_id, key))


@router.get(
    "/{job_id}/result",
    response_class=FileResponse,
    responses={200: {"content": {"application/gzip": {}, "application/octet-stream": {}}}},
)
def result(job_id: str, state: StateDep, key: UserKey) -> Any:
    """A done job's file: a fit job's model as ``model.tar.gz`` (a folder ``model/``), an
    export job's ``model.onnx`` (input ``input``, output ``probabilities``)."""
    path = state.jobs.result_file(check_id(job_id, "job"), key)
    if path.suffix == ".onnx":
        return FileResponse(path, media_type="application/octet-stream", filename=f"{job_id}.onnx")
    return FileResponse(path, media_type="application/gzip", filename=f"{job_id}.tar.gz")
