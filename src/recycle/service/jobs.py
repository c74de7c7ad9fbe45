"""Background selection and fit jobs: a thread pool, progress in the DB, cancel, results.

A job runs the library (``select_sources`` or ``Recycler``) on the caller's uploaded target
data against zoo entries used **black-box** (only ``embed``/``predict_proba``; weights stay on
the server). Progress is the library's ``progress(task, done, total)`` callback written to the
``service_jobs`` row (throttled); cancel sets a flag that the next progress call turns into a
stop. Results: a JSON summary in the row; a fit job also saves the recycled model under
``<jobs_dir>/<job id>/model`` and a ``model.tar.gz`` of it for download.

Jobs left queued or running by a server that stopped are marked failed at start-up
(resubmit them): the pool is in process, so a restart loses running work, never finished
results.
"""

from __future__ import annotations

import inspect
import io
import logging
import shutil
import tarfile
import threading
import time
import uuid
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from recycle.errors import DataError, ModelNotFoundError, RecycleError
from recycle.service.auth import KeyInfo
from recycle.service.db import ServiceDB

log = logging.getLogger("recycle.service.jobs")

PROGRESS_EVERY_S = 0.25  # at most this often a progress update is written to the DB
KINDS = ("select", "fit")
#: Recycler parameters a fit job accepts (no zoo, backend or cache: those are the server's).
FIT_PARAMS = ("m", "score", "strategy", "seed", "cv", "cv_repeats", "strategies", "time_budget",
              "strategy_params")  # fmt: skip


class JobCancelled(RecycleError):
    """Raised inside a job's progress callback once the job was cancelled."""


class BlackBoxView:
    """A zoo source seen through its inference API only (``access == "black-box"``).

    Its ``source_id`` is the one a :class:`~recycle.sources.remote.RemoteSource` on
    ``base_url`` has for the same entry, so a model fitted by a job can be loaded by the user
    with ``Recycler.load(folder, sources=client.sources(ids))`` and predicts through the API.
    """

    access = "black-box"

    def __init__(self, source: Any, entry: Any, base_url: str) -> None:
        self._source = source
        self.entry_id = str(entry.id)
        self.source_id = f"remote:{base_url.rstrip('/')}/models/{entry.id}@{entry.version}"
        self.modality = source.modality
        self.feature_dim = int(source.feature_dim)
        self.source_classes = list(getattr(source, "source_classes", None) or [])

    def embed(self, X: Any) -> np.ndarray:
        return np.asarray(self._source.embed(X), dtype=np.float32)

    def predict_proba(self, X: Any) -> np.ndarray:
        if not self.source_classes:
            raise DataError(f"Source {self.source_id} has no head; it only embeds.")
        return np.asarray(self._source.predict_proba(X), dtype=np.float32)


def read_target(raw: bytes) -> dict[str, Any]:
    """Parse an uploaded ``.npz`` with ``X``, ``y`` (and optional ``X_test``); no pickles."""
    try:
        with np.load(io.BytesIO(raw), allow_pickle=False) as npz:
            arrays = {k: npz[k] for k in npz.files}
    except Exception as exc:
        raise DataError(
            f"Target data is not a readable .npz without pickles ({type(exc).__name__}); "
            "save it with numpy.savez(path, X=X, y=y)."
        ) from exc
    if "X" not in arrays or "y" not in arrays:
        raise DataError(f"Target .npz needs arrays 'X' and 'y'; got {sorted(arrays)}.")
    out: dict[str, Any] = {}
    for name in ("X", "X_test"):
        if name in arrays:
            a = arrays[name]
            out[name] = [str(t) for t in a.tolist()] if a.dtype.kind in "US" else a
    out["y"] = arrays["y"]
    return out


def _call(fn: Any, *args: Any, progress: Any, **kwargs: Any) -> Any:
    """Call ``fn`` passing ``progress`` only when it accepts it."""
    if "progress" in inspect.signature(fn).parameters:
        kwargs["progress"] = progress
    return fn(*args, **kwargs)


class JobManager:
    """Run jobs in a thread pool; state lives in :class:`ServiceDB`."""

    def __init__(self, db: ServiceDB, zoo: Any, jobs_dir: Path, workers: int = 2) -> None:
        self.db = db
        self.zoo = zoo
        self.jobs_dir = Path(jobs_dir)
        self.jobs_dir.mkdir(parents=True, exist_ok=True)
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="recycle-job")
        self._futures: dict[str, Future[None]] = {}
        self._cancel: dict[str, threading.Event] = {}
        interrupted = db.fail_interrupted_jobs()
        if interrupted:
            log.warning("jobs interrupted by a restart", extra={"count": interrupted})

    def shutdown(self) -> None:
        for ev in self._cancel.values():
            ev.set()
        self._pool.shutdown(wait=True, cancel_futures=True)

    def submit(
        self, kind: str, key: KeyInfo, target: dict[str, Any], params: dict, base_url: str
    ) -> str:
        """Queue a job; return its id. ``base_url``: the server's URL as the client sees it."""
        if kind not in KINDS:
            raise DataError(f"Job kind must be one of {list(KINDS)}; got {kind!r}.")
        sources = self._sources(params.get("sources"), base_url)  # fail fast on unknown ids
        job_id = uuid.uuid4().hex
        self.db.insert_job(
            {"id": job_id, "kind": kind, "key_id": key.id, "owner": key.owner, "params": params}
        )
        self._cancel[job_id] = threading.Event()
        self._futures[job_id] = self._pool.submit(self._run, job_id, kind, target, params, sources)
        return job_id

    def get(self, job_id: str, key: KeyInfo) -> dict[str, Any]:
        """The job row, if ``key`` owns it (or is admin); unknown or foreign ids are 404."""
        row = self.db.get_job(job_id)
        if row is None or (key.role != "admin" and row["owner"] != key.owner):
            raise ModelNotFoundError(f"No job with id {job_id}; check the id returned by submit.")
        return row

    def cancel(self, job_id: str, key: KeyInfo) -> dict[str, Any]:
        row = self.get(job_id, key)
        if row["status"] in ("queued", "running"):
            ev = self._cancel.get(job_id)
            if ev is not None:
                ev.set()
            fut = self._futures.get(job_id)
            if fut is not None and fut.cancel():
                self.db.update_job(job_id, status="cancelled")
        return self.get(job_id, key)

    def result_archive(self, job_id: str, key: KeyInfo) -> Path:
        row = self.get(job_id, key)
        path = self.jobs_dir / job_id / "model.tar.gz"
        if row["kind"] != "fit" or row["status"] != "done" or not path.exists():
            raise ModelNotFoundError(
                f"Job {job_id} has no model to download (kind {row['kind']}, status "
                f"{row['status']}); wait until a fit job is done."
            )
        return path

    # running ----------------------------------------------------------------------------
    def _sources(self, ids: Any, base_url: str) -> list[BlackBoxView]:
        from recycle.service.schemas import check_id

        if ids is None:
            entries = list(self.zoo.list())
        elif isinstance(ids, list) and all(isinstance(i, str) for i in ids) and ids:
            entries = [self.zoo.get(check_id(i)) for i in ids]
        else:
            raise DataError("params.sources must be a non-empty list of model ids, or omitted.")
        return [BlackBoxView(self.zoo.load(e.id), e, base_url) for e in entries]

    def _progress(self, job_id: str) -> Any:
        ev = self._cancel[job_id]
        last = [0.0]

        def progress(task: str, done: int, total: int) -> None:
            if ev.is_set():
                raise JobCancelled(f"Job {job_id} was cancelled.")
            t = time.monotonic()
            if t - last[0] >= PROGRESS_EVERY_S or (total and done >= total):
                last[0] = t
                self.db.update_job(job_id, task=str(task)[:128], done=int(done), total=int(total))

        return progress

    def _run(self, job_id: str, kind: str, target: dict, params: dict, sources: list) -> None:
        progress = self._progress(job_id)
        try:
            progress("start", 0, 0)
            self.db.update_job(job_id, status="running")
            if kind == "select":
                result = self._select(target, params, sources, progress)
            else:
                result = self._fit(job_id, target, params, sources, progress)
            if self._cancel[job_id].is_set():
                raise JobCancelled(f"Job {job_id} was cancelled.")
            self.db.update_job(job_id, status="done", result=result)
        except JobCancelled:
            self.db.update_job(job_id, status="cancelled")
            shutil.rmtree(self.jobs_dir / job_id, ignore_errors=True)
        except RecycleError as exc:
            self.db.update_job(job_id, status="failed", error=f"{type(exc).__name__}: {exc}")
        except Exception as exc:  # a bug in a job must not kill the worker thread
            log.exception("job crashed", extra={"job": job_id})
            self.db.update_job(
                job_id, status="failed", error=f"internal error: {type(exc).__name__}"
            )
        finally:
            self._futures.pop(job_id, None)

    @staticmethod
    def _select(target: dict, params: dict, sources: list, progress: Any) -> dict:
        from recycle.select import select_sources

        kw = {k: params[k] for k in ("score", "m", "top", "seed") if k in params}
        sel = _call(select_sources, sources, target["X"], target["y"], progress=progress, **kw)
        by_sid = {s.source_id: s.entry_id for s in sources}
        ranking = [
            {
                "entry_id": by_sid.get(r.source_id),
                "source_id": r.source_id,
                "score": None if r.score is None else float(r.score),
                "seconds": float(r.seconds or 0.0),
                "error": r.error,
            }
            for r in sel.ranking
        ]
        return {
            "ranking": ranking,
            "selected": [by_sid.get(s, s) for s in sel.selected],
            "m": int(sel.m),
        }

    def _fit(self, job_id: str, target: dict, params: dict, sources: list, progress: Any) -> dict:
        from recycle.adapt.recycler import Recycler

        kw = {k: params[k] for k in FIT_PARAMS if k in params}
        if "score" in kw:  # the API's name (as for select jobs); Recycler's selection_score
            kw["selection_score"] = kw.pop("score")
        rec = _call(Recycler, sources, progress=progress, **kw)
        rec.fit(target["X"], target["y"])
        out = self.jobs_dir / job_id
        model_dir = out / "model"
        rec.save(str(model_dir))
        tmp = out / "model.tar.gz.tmp"
        with tarfile.open(tmp, "w:gz") as tar:
            tar.add(model_dir, arcname="model")
        tmp.rename(out / "model.tar.gz")
        result: dict[str, Any] = {"report": _jsonable(getattr(rec, "report_", {}))}
        if "X_test" in target:
            result["predictions"] = np.asarray(rec.predict(target["X_test"])).tolist()
        return result


def _jsonable(obj: Any) -> Any:
    """Best-effort conversion of a report to JSON types."""
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, str | int | float | bool) or obj is None:
        return obj
    return str(obj)
