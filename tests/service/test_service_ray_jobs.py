"""Jobs on the Ray backend (``RECYCLE_BACKEND=ray``): a job is a Ray task that cancel kills."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from job_helpers import job_status, register_hang, serve_jobs, submit_job
from service_helpers import Served, ServerThread, mlp_model, wait_until

ray = pytest.importorskip("ray")

CANCEL_WITHIN_S = 10.0  # Ray's force-cancel goes through its raylet


@pytest.fixture(scope="module")
def ray_served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    from recycle.parallel import ray_backend as parallel_ray

    tests = str(Path(__file__).resolve().parents[1])
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("RECYCLE_BACKEND", "ray")
        mp.setenv("RECYCLE_EXTRA_ARCH_MODULES", "zoo_evil_archs")
        mp.setenv("PYTHONPATH", os.pathsep.join([tests, os.environ.get("PYTHONPATH", "")]))
        parallel_ray.shutdown()
        parallel_ray.ensure_ray(num_cpus=2)
        app, keys, zoo = serve_jobs(tmp_path_factory.mktemp("ray-jobs") / "zoo")
        for seed in (1, 2):
            src, card = mlp_model(f"mlp.ray-{seed}", seed)
            zoo.register(src, card, validate=False)
        try:
            with ServerThread(app) as server:
                yield Served(server.url, zoo, app.state.service.db, keys, app.state.service.jobs)
        finally:
            parallel_ray.shutdown()


@pytest.mark.ray
def test_a_job_runs_as_a_ray_task_and_cancel_kills_it(ray_served: Served) -> None:
    with ray_served.client("user") as c:
        job_id = submit_job(c, "select", {"m": 1, "time_budget": 600}).json()["id"]  # busy box
        wait_until(lambda: job_status(c, job_id)["status"] in ("done", "failed"), 600)
        job = job_status(c, job_id)
        assert job["status"] == "done", job["error"]
        assert len(job["result"]["ranking"]) == 2 and job["result"]["warnings"] == []

        hang = register_hang(ray_served.zoo)
        job_id = submit_job(c, "select", {"sources": [hang.id]}, features=4).json()["id"]
        wait_until(lambda: ray_served.jobs.run_handle(job_id) is not None, 60)
        ref = ray_served.jobs.run_handle(job_id).ref
        time.sleep(2)  # the task is on a Ray worker, inside the hanging embed
        assert ray.wait([ref], timeout=0)[0] == []
        start = time.monotonic()
        c.post(f"/jobs/{job_id}/cancel")
        wait_until(lambda: job_status(c, job_id)["status"] == "cancelled", CANCEL_WITHIN_S)
        assert time.monotonic() - start < CANCEL_WITHIN_S
        with pytest.raises(ray.exceptions.RayError):  # the task's worker was killed
            ray.get(ref, timeout=CANCEL_WITHIN_S)
