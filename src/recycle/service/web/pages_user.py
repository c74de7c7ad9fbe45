"""The user's flow: upload a labelled dataset -> search -> selection ranking -> fit -> report.

Every step calls the API's own handlers: the search is ``POST /specs/search``
(:func:`recycle.service.routers.specs.search`) with a spec built here from the upload, the
ranking and the fit are ``POST /jobs/select`` and ``POST /jobs/fit``
(:mod:`recycle.service.routers.jobs`) with the upload as the ``.npz`` they take, so job
parameters, per-key caps and body limits are the API's; the ONNX export of a fitted model is
``POST /jobs/{id}/export``, a job too. Progress is the job row (``GET
/web/jobs/{id}/status`` polled by ``static/app.js``); the model download is the job's archive.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import re
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Request, Response, UploadFile

from recycle.errors import DataError, ModelNotFoundError, RecycleError, http_status
from recycle.select import SCORES
from recycle.service.deps import StateDep
from recycle.service.routers import jobs as jobs_api
from recycle.service.routers import specs as specs_api
from recycle.service.schemas import SearchRequest, check_id
from recycle.service.web import uploads
from recycle.service.web.render import SECURITY_HEADERS, WebRoute, redirect, render
from recycle.service.web.session import Csrf, WebUser

router = APIRouter(route_class=WebRoute, include_in_schema=False)

SEARCH_M = 50  # reduced points of the search spec built from the upload
SEARCH_TOP = 10  # hits shown
#: The black-box strategies offered in the fit form.
STRATEGIES = ("auto", "linear_probe", "feature_mixing", "mcw", "stacking", "averaging",
              "independent")  # fmt: skip
SOURCE_ENTRY = re.compile(r"/models/([0-9a-f]{32})@")
M_CHOICES = ("auto", "1", "2", "3", "5")


def _root(state: Any) -> Path:
    return Path(state.jobs.jobs_dir)


def _link_path(state: Any, job_id: str) -> Path:
    return _root(state) / uploads.UPLOADS / "jobs" / f"{check_id(job_id, 'job')}.json"


def _upload_file(data: bytes) -> UploadFile:
    return UploadFile(file=io.BytesIO(data), filename="data.npz")


@router.get("/web/recycle")
def upload_page(request: Request, key: WebUser) -> Response:
    return render(request, "upload.html", error="")


@router.post("/web/upload", dependencies=[Csrf])
async def upload(
    request: Request, state: StateDep, key: WebUser, dataset: Annotated[UploadFile, File()]
) -> Response:
    """Parse and keep the labelled dataset; errors are shown next to the file field."""
    raw = await dataset.read()
    try:
        upload_id = uploads.save_labelled(
            _root(state), dataset.filename or "", raw, key, state.settings.max_upload_bytes
        )
    except RecycleError as exc:
        return render(request, "upload.html", 422, error=str(exc))
    return redirect(f"/web/datasets/{upload_id}")


@router.get("/web/datasets/{upload_id}")
def dataset_page(request: Request, state: StateDep, key: WebUser, upload_id: str) -> Response:
    """The upload, the zoo's models closest to it by spec, and the ranking form."""
    return _dataset_view(request, state, key, upload_id)


def _dataset_view(
    request: Request, state: Any, key: Any, upload_id: str, code: int = 200, select_error: str = ""
) -> Response:
    from recycle.spec import build_spec

    meta, X, _ = uploads.load_upload(_root(state), upload_id, key)
    hits: list[Any] = []
    search_error = ""
    try:
        rows = X if meta["modality"] != "text" else None
        if rows is None:
            search_error = "Text has no input-space spec; rank the text models below instead."
        else:
            m = max(1, min(SEARCH_M, meta["n"] // 2))
            spec = build_spec(rows, m=m, space="input")
            body = SearchRequest(spec=spec.to_dict(), top=SEARCH_TOP, space=None)
            hits = specs_api.search(body, state, key).hits
    except RecycleError as exc:
        search_error = str(exc)
    candidates = state.zoo.list(modality=meta["modality"])
    return render(
        request,
        "dataset.html",
        code,
        select_error=select_error,
        upload_id=upload_id,
        meta=meta,
        hits=hits,
        search_error=search_error,
        candidates=candidates,
        checked={h.id for h in hits[:5]} or {str(e.id) for e in candidates[:5]},
        scores=sorted(SCORES),
    )


def _submit(request: Request, kind: str, state: Any, key: Any, data: bytes, params: dict) -> str:
    submit = jobs_api.submit_fit if kind == "fit" else jobs_api.submit_select
    job = submit(
        request=request, state=state, key=key, data=_upload_file(data), params=json.dumps(params)
    )
    return str(job.id)


def _link(
    state: Any,
    job_id: str,
    upload_id: str | None,
    rows: list[str] | None = None,
    model_job: str | None = None,
) -> None:
    path = _link_path(state, job_id)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps({"upload": upload_id, "rows": rows, "model_job": model_job}))
    tmp.rename(path)


@router.post("/web/select", dependencies=[Csrf])
def submit_select(
    request: Request,
    state: StateDep,
    key: WebUser,
    upload_id: Annotated[str, Form(max_length=40)],
    sources: Annotated[list[str], Form()] = [],  # noqa: B006 - FastAPI form default
    score: Annotated[str, Form(max_length=32)] = "knn",
) -> Response:
    """Rank the chosen sources on the upload (a selection job)."""
    _, X, y = uploads.load_upload(_root(state), upload_id, key)
    try:
        if not sources:
            raise DataError("Tick at least one model to rank.")
        params = {"sources": sources, "score": score, "top": len(sources)}
        job_id = _submit(request, "select", state, key, uploads.npz_bytes(X=X, y=y), params)
    except RecycleError as exc:
        return _dataset_view(request, state, key, upload_id, 422, select_error=str(exc))
    _link(state, job_id, upload_id)
    return redirect(f"/web/jobs/{job_id}")


@router.post("/web/fit", dependencies=[Csrf])
async def submit_fit(
    request: Request,
    state: StateDep,
    key: WebUser,
    upload_id: Annotated[str, Form(max_length=40)],
    sources: Annotated[list[str], Form()] = [],  # noqa: B006 - FastAPI form default
    m: Annotated[str, Form(max_length=8)] = "auto",
    strategy: Annotated[str, Form(max_length=32)] = "auto",
    seed: Annotated[int, Form(ge=0, le=2**31 - 1)] = 0,
    predict: Annotated[UploadFile | None, File()] = None,
    ranking_job: Annotated[str, Form(max_length=40)] = "",
) -> Response:
    """Fit a recycled model on the upload; an unlabelled file is predicted by the same job."""
    meta, X, y = uploads.load_upload(_root(state), upload_id, key)
    arrays: dict[str, Any] = {"X": X, "y": y}
    rows = None
    try:
        if not sources:
            raise DataError("Tick at least one source model to fit with.")
        if predict is not None and predict.filename:
            raw = await predict.read()
            limit = state.settings.max_upload_bytes
            arrays["X_test"], rows = uploads.read_unlabelled(predict.filename, raw, meta, limit)
        params: dict[str, Any] = {"sources": sources, "strategy": strategy, "seed": seed}
        params["m"] = m if m == "auto" else int(m) if m.isdigit() else m
        job_id = _submit(request, "fit", state, key, uploads.npz_bytes(**arrays), params)
    except RecycleError as exc:
        if ranking_job:  # the form came from that job's page: show it again with the error
            return _job_view(request, state, key, ranking_job, 422, fit_error=str(exc))
        raise
    _link(state, job_id, upload_id, rows)
    return redirect(f"/web/jobs/{job_id}")


def _job_context(state: Any, key: Any, job_id: str) -> tuple[Any, dict[str, Any]]:
    job = jobs_api.poll(job_id, state, key)
    path = _link_path(state, job_id)
    link = {"upload": None, "rows": None, "model_job": None}
    if path.exists():
        link.update(json.loads(path.read_text()))
    return job, link


@router.get("/web/jobs/{job_id}")
def job_page(request: Request, state: StateDep, key: WebUser, job_id: str) -> Response:
    """A job: live progress, then the ranking (select) or the report (fit)."""
    return _job_view(request, state, key, job_id)


def _job_view(
    request: Request,
    state: Any,
    key: Any,
    job_id: str,
    code: int = 200,
    fit_error: str = "",
    export_error: str = "",
) -> Response:
    job, link = _job_context(state, key, job_id)
    names = {str(e.id): e.name for e in state.zoo.list(all_versions=True)}
    result = job.result or {}
    report = result.get("report", {}) if job.kind == "fit" else {}
    cv = report.get("cv") or {}
    cv_rows = sorted(
        ((k, v) for k, v in cv.items() if isinstance(v, dict) and v.get("mean") is not None),
        key=lambda kv: -kv[1]["mean"],
    )
    ranking = result.get("ranking") or report.get("ranking") or []
    for r in ranking:  # a fit report names sources remote:<url>/models/<id>@<version>
        m = SOURCE_ENTRY.search(str(r.get("source_id", "")))
        r["label"] = names.get(r.get("entry_id") or (m.group(1) if m else ""), r.get("source_id"))
    return render(
        request,
        "job.html",
        code,
        fit_error=fit_error,
        export_error=export_error,
        job=job,
        upload_id=link["upload"],
        model_job=link["model_job"],
        names=names,
        ranking=ranking,
        selected=set(result.get("selected") or []),
        report=report,
        cv_rows=cv_rows,
        has_predictions=bool(result.get("predictions")),
        seconds=_seconds(job.created, job.finished),
        strategies=STRATEGIES,
        m_choices=M_CHOICES,
    )


def _seconds(start: str | None, end: str | None) -> float | None:
    """Seconds between two ISO times (None when either is missing)."""
    if not start or not end:
        return None
    return (dt.datetime.fromisoformat(end) - dt.datetime.fromisoformat(start)).total_seconds()


@router.post("/web/jobs/{job_id}/cancel", dependencies=[Csrf])
def cancel_job(request: Request, state: StateDep, key: WebUser, job_id: str) -> Response:
    """Stop a queued or running job (the API's ``POST /jobs/{id}/cancel``)."""
    jobs_api.cancel(job_id, state, key)
    return redirect(f"/web/jobs/{job_id}")


@router.post("/web/jobs/{job_id}/export", dependencies=[Csrf])
def export_job(
    request: Request,
    state: StateDep,
    key: WebUser,
    job_id: str,
    quantize: Annotated[str, Form(max_length=8)] = "",
) -> Response:
    """Export a fit job's model to ONNX (the API's ``POST /jobs/{id}/export``: a job)."""
    params = json.dumps({"quantize": quantize} if quantize else {})
    try:
        job = jobs_api.export(job_id, request=request, state=state, key=key, params=params)
    except RecycleError as exc:  # e.g. the per-key job cap: shown next to the button
        return _job_view(request, state, key, job_id, http_status(exc), export_error=str(exc))
    _, link = _job_context(state, key, job_id)
    _link(state, str(job.id), link["upload"], model_job=job_id)
    return redirect(f"/web/jobs/{job.id}")


@router.get("/web/jobs/{job_id}/status")
def job_status(state: StateDep, key: WebUser, job_id: str) -> dict[str, Any]:
    """Progress for the page's progress bar (the API's ``GET /jobs/{id}`` without the result)."""
    job = jobs_api.poll(job_id, state, key)
    return {"status": job.status, "task": job.task, "done": job.done, "total": job.total,
            "error": job.error}  # fmt: skip


def _job_file(state: Any, key: Any, job_id: str, kind: str, not_that_kind: str) -> Response:
    """The API's ``GET /jobs/{id}/result`` for a job of ``kind``, with the pages' headers."""
    if jobs_api.poll(job_id, state, key).kind != kind:
        raise ModelNotFoundError(f"Job {job_id} {not_that_kind}")
    response: Response = jobs_api.result(job_id, state, key)
    response.headers.update(SECURITY_HEADERS)
    return response


@router.get("/web/jobs/{job_id}/model.tar.gz")
def download_model(state: StateDep, key: WebUser, job_id: str) -> Response:
    """The fitted model folder as ``model.tar.gz`` (the API's ``GET /jobs/{id}/result``)."""
    return _job_file(state, key, job_id, "fit", "is not a fit job; it has no model folder.")


@router.get("/web/jobs/{job_id}/model.onnx")
def download_onnx(state: StateDep, key: WebUser, job_id: str) -> Response:
    """The ONNX file of a done export job (the API's ``GET /jobs/{id}/result``)."""
    return _job_file(state, key, job_id, "export", "is not an ONNX export; export the model first.")


@router.get("/web/jobs/{job_id}/predictions.csv")
def download_predictions(state: StateDep, key: WebUser, job_id: str) -> Response:
    """Predictions of the fit job for the unlabelled file, one row per input row or image."""
    job, link = _job_context(state, key, job_id)
    preds = (job.result or {}).get("predictions")
    if job.status != "done" or not preds:
        raise DataError(f"Job {job_id} has no predictions; upload an unlabelled file with the fit.")
    rows = link.get("rows") or [str(i + 1) for i in range(len(preds))]
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["row", "prediction"])
    writer.writerows(zip(rows, preds, strict=True))
    return Response(
        out.getvalue(),
        media_type="text/csv",
        headers={**SECURITY_HEADERS,
                 "Content-Disposition": f'attachment; filename="predictions-{job_id}.csv"'},
    )  # fmt: skip
