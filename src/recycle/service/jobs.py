"""Background selection and fit jobs: each in a killable worker process, capped per key.

A job runs the library (``select_sources`` or ``Recycler``) on the caller's uploaded target
against zoo entries used **black-box**, in a worker process (:mod:`recycle.service.job_worker`)
on the project's execution backend (:func:`recycle.parallel.resolve_backend`): a spawned local
process with an address-space limit, or a Ray task (``RECYCLE_BACKEND=ray``: one fresh Ray
worker per job, memory reserved per task, so a service that outgrows one machine adds Ray
nodes). A supervisor thread per running job (``RECYCLE_JOB_WORKERS`` of them) writes the
worker's progress to the ``service_jobs`` row and **kills** the worker when the job is
cancelled, when it runs past its ``time_budget`` plus ``RECYCLE_JOB_GRACE_S``, or when the
server shuts down; so cancel takes effect within a poll interval and shutdown never waits on a
job. A key may have at most ``RECYCLE_MAX_JOBS_PER_KEY`` jobs queued or running; the next is a
429 whose ``Retry-After`` is the time until the earliest of them must end.

Jobs left queued or running by a server that stopped are marked failed at start-up
(resubmit them); finished results are never lost.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
import threading
import time
import uuid
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

from recycle.errors import DataError, ModelNotFoundError, RateLimitError
from recycle.service.auth import KeyInfo
from recycle.service.db import ServiceDB
from recycle.service.errors import scrub
from recycle.service.job_params import ExportParams, JobParams, default_job_budget
from recycle.service.job_runs import start_run
from recycle.service.sandbox import Limits, zoo_address

__all__ = ["KINDS", "JobManager"]

log = logging.getLogger("recycle.service.jobs")

KINDS = ("select", "fit", "export")
RESULT_FILES = {"fit": "model.tar.gz", "export": "model.onnx"}  # what a done job offers
POLL_S = 0.2  # how often a supervisor checks its worker, the cancel flag and the clock
ACTIVE = ("queued", "running")


class JobManager:
    """Queue, supervise, cancel and cap jobs; state lives in :class:`ServiceDB`.

    Parameters
    ----------
    db : ServiceDB
    zoo : Zoo
        The server's zoo; workers open it again by location.
    jobs_dir : Path
        Where fit jobs save their models.
    settings : Settings
        ``job_workers``, ``max_jobs_per_key``, ``job_grace_s``, ``job_max_seconds``,
        ``job_memory_mb``, ``inference_batch``.
    """

    def __init__(self, db: ServiceDB, zoo: Any, jobs_dir: Path, settings: Any) -> None:
        self.db = db
        self.zoo = zoo
        self.jobs_dir = Path(jobs_dir)
        self.jobs_dir.mkdir(parents=True, exist_ok=True)
        self.settings = settings
        self._pool = ThreadPoolExecutor(settings.job_workers, thread_name_prefix="recycle-job")
        self._futures: dict[str, Future[None]] = {}
        self._cancel: dict[str, threading.Event] = {}
        self._runs: dict[str, Any] = {}
        self._deadlines: dict[str, float] = {}  # monotonic end of each running job
        self._budgets: dict[str, float] = {}  # wall seconds each queued or running job may take
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        interrupted = db.fail_interrupted_jobs()
        if interrupted:
            log.warning("jobs interrupted by a restart", extra={"count": interrupted})

    def shutdown(self) -> None:
        """Stop every job now (workers killed, rows marked failed); never waits on a job."""
        self._stopping.set()
        mine = list(self._budgets)
        for ev in list(self._cancel.values()):
            ev.set()
        self._pool.shutdown(wait=True, cancel_futures=True)
        for job_id in mine:  # queued ones never started; this server's only
            row = self.db.get_job(job_id)
            if row is not None and row["status"] in ACTIVE:
                self.db.update_job(job_id, status="failed", error="the server shut down; resubmit")

    # -- requests ---------------------------------------------------------------------------
    def submit(
        self,
        kind: str,
        key: KeyInfo,
        target: dict[str, Any],
        params: JobParams | ExportParams,
        base_url: str,
        model_job: str | None = None,
    ) -> str:
        """Queue a job; return its id. ``base_url``: the server's URL as the client sees it.

        An ``export`` job reads the model of ``model_job`` (a done fit job of the same key).
        """
        if kind not in KINDS:
            raise DataError(f"Job kind must be one of {list(KINDS)}; got {kind!r}.")
        model_dir = None
        if kind == "export":
            model_dir = self.result_file(str(model_job), key, "fit").parent / "model"
        for entry_id in getattr(params, "sources", None) or []:
            self.zoo.get(entry_id)  # 404 now for an unknown id, not a failed job later
        budget = params.time_budget if params.time_budget is not None else default_job_budget()
        wall = min(budget + self.settings.job_grace_s, self.settings.job_max_seconds)
        job_id = uuid.uuid4().hex
        with self._lock:
            self._check_cap(key)
            self.db.insert_job(
                {"id": job_id, "kind": kind, "key_id": key.id, "owner": key.owner,
                 "params": params.model_dump(exclude_none=True)}
            )  # fmt: skip
            self._budgets[job_id] = wall
            self._cancel[job_id] = threading.Event()
        payload = {
            "kind": kind, "target": target, "params": params.model_dump(exclude_none=True),
            "base_url": base_url, "zoo": zoo_address(self.zoo), "artifacts": self.zoo.store.url,
            "out": str(self.jobs_dir / job_id), "batch": self.settings.inference_batch,
            "memory_mb": self.settings.job_memory_mb, "model": str(model_dir),
        }  # fmt: skip
        self._futures[job_id] = self._pool.submit(self._supervise, job_id, payload, wall)
        return job_id

    def get(self, job_id: str, key: KeyInfo) -> dict[str, Any]:
        """The job row, if ``key`` owns it (or is admin); unknown or foreign ids are 404."""
        row = self.db.get_job(job_id)
        if row is None or (key.role != "admin" and row["owner"] != key.owner):
            raise ModelNotFoundError(f"No job with id {job_id}; check the id returned by submit.")
        return row

    def cancel(self, job_id: str, key: KeyInfo) -> dict[str, Any]:
        """Cancel a queued job at once, or kill a running job's worker within a poll."""
        row = self.get(job_id, key)
        if row["status"] in ACTIVE:
            ev = self._cancel.get(job_id)
            if ev is not None:
                ev.set()
            fut = self._futures.get(job_id)
            if fut is not None and fut.cancel():
                self._finish(job_id, status="cancelled")
        return self.get(job_id, key)

    def run_handle(self, job_id: str) -> Any:
        """The running job's worker handle (a local :class:`Worker` or a :class:`RayRun`)."""
        return self._runs.get(job_id)

    def worker_pid(self, job_id: str) -> int | None:
        """Process id of the job's local worker while it runs (``None`` otherwise)."""
        run = self._runs.get(job_id)
        return None if run is None else run.pid

    def result_file(self, job_id: str, key: KeyInfo, kind: str | None = None) -> Path:
        """The file a done fit (``model.tar.gz``) or export (``model.onnx``) job offers."""
        row = self.get(job_id, key)
        path = self.jobs_dir / job_id / RESULT_FILES.get(row["kind"], "-")
        kinds = (kind,) if kind else tuple(RESULT_FILES)
        if row["kind"] not in kinds or row["status"] != "done" or not path.exists():
            raise ModelNotFoundError(
                f"Job {job_id} has no model to download (kind {row['kind']}, status "
                f"{row['status']}); wait until a {' or '.join(kinds)} job is done."
            )
        return path

    # -- limits -----------------------------------------------------------------------------
    def _check_cap(self, key: KeyInfo) -> None:
        cap = self.settings.max_jobs_per_key
        active = self.db.active_jobs(key.id)
        if len(active) < cap:
            return
        now = time.monotonic()
        ends = [self._deadlines[j] - now for j in active if j in self._deadlines]
        queued = [self._budgets.get(j, self.settings.job_max_seconds) for j in active]
        wait = min(ends) if ends else min(queued)
        raise RateLimitError(
            f"Key {key.id} already has {len(active)} jobs queued or running (the limit is "
            f"{cap}); wait for one to finish or cancel one.",
            retry_after=max(1.0, wait),
        )

    # -- supervision --------------------------------------------------------------------------
    def _finish(self, job_id: str, **values: Any) -> None:
        if values.get("error"):  # never show the server's own paths
            paths = [str(self.zoo.location), self.zoo.store.url, str(self.jobs_dir)]
            values["error"] = scrub(str(values["error"]), [*paths, tempfile.gettempdir()])
        self.db.update_job(job_id, **values)
        with self._lock:
            for d in (self._cancel, self._runs, self._deadlines, self._budgets, self._futures):
                d.pop(job_id, None)  # type: ignore[attr-defined]

    def _supervise(self, job_id: str, payload: dict[str, Any], wall: float) -> None:
        cancel = self._cancel[job_id]
        if cancel.is_set():
            self._finish(job_id, status="cancelled")
            return
        (self.jobs_dir / job_id).mkdir(parents=True, exist_ok=True)
        limits = Limits(memory_mb=self.settings.job_memory_mb, cpu_s=None, wall_s=wall)
        try:
            run = start_run(payload, limits)
        except Exception as exc:  # the backend could not start a worker at all
            log.exception("job worker did not start", extra={"job": job_id})
            self._finish(job_id, status="failed", error=f"internal error: {type(exc).__name__}")
            return
        self._runs[job_id] = run
        self._deadlines[job_id] = time.monotonic() + wall
        self.db.update_job(job_id, status="running")
        try:
            outcome = self._watch(job_id, run, cancel, wall)
        finally:
            run.kill()
        if outcome.get("status") != "done":
            shutil.rmtree(self.jobs_dir / job_id, ignore_errors=True)
        self._finish(job_id, **outcome)

    def _watch(self, job_id: str, run: Any, cancel: threading.Event, wall: float) -> dict:
        deadline = self._deadlines[job_id]
        while True:
            if cancel.is_set():
                if self._stopping.is_set():
                    return {"status": "failed", "error": "the server shut down; resubmit"}
                return {"status": "cancelled"}
            if time.monotonic() > deadline:
                return {
                    "status": "failed",
                    "error": f"TimeBudgetExceeded: stopped after {wall:g} s (its time budget "
                    f"plus {self.settings.job_grace_s:g} s); raise time_budget or send less data",
                }
            try:
                msg = run.recv(POLL_S)
            except EOFError:
                return {"status": "failed", "error": f"the job's worker {run.how_it_died()}"}
            if msg is None:
                continue
            if msg[0] == "progress":
                _, task, done, total = msg
                self.db.update_job(job_id, task=task, done=done, total=total)
            elif msg[0] == "done":
                return {"status": "done", "result": msg[1]}
            else:
                return {"status": "failed", "error": str(msg[1])[:2000]}
