"""The attacks of issue #20 against ``recycle serve`` (a real process on loopback), measured.

Starts the server on a temp zoo with its default limits (``RECYCLE_JOB_GRACE_S`` lowered to
5 s so the budget run is short) and, while a thread polls ``/health`` every 50 ms and another
samples the server's resident memory every 20 ms, runs:

- an ``.npz`` bomb (~0.8 MB that inflates to 800 MB) as a fit job's target;
- ONNX memory bombs: the issue's (4 MB per row: accepted, served in the sandbox) and a heavy one
  (64 MB per row: refused by the checker at the serving batch; registered anyway by trusted
  code, then embedded: the sandbox worker fails, not the server);
- deep JSON (100,000 levels) in a card;
- a long legitimate fit job cancelled while it runs (seconds from cancel to a stopped worker),
  and one stopped by its time budget;
- job spam from one key (40 submissions: how many 202, how many 429, the ``Retry-After``).

Writes ``benchmarks/results/service_hostile.json`` with the server's peak RSS per attack and
the /health answers (count, failures, worst latency).

Usage::

    nice .venv/bin/python benchmarks/service_hostile.py
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import psutil

sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(Path(__file__).parents[1] / "tests"))
import contextlib

from service_load import digits, free_port, mlp, start

from service_attacks import nested_json, npz_bomb, onnx_bomb

MIB = 1024 * 1024


class Watch:
    """Sample the server's RSS (and its workers') and poll /health while a block runs."""

    def __init__(self, pid: int, url: str) -> None:
        self.proc = psutil.Process(pid)
        self.url = url
        self.peak = self.workers_peak = 0
        self.health: list[float] = []
        self.health_failures = 0

    def __enter__(self) -> Watch:
        self.base = self.proc.memory_info().rss
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=f, daemon=True) for f in (self._rss, self._ping)]
        for t in self._threads:
            t.start()
        return self

    def _rss(self) -> None:
        while not self._stop.wait(0.02):
            self.peak = max(self.peak, self.proc.memory_info().rss)
            kids = 0
            for child in self.proc.children(recursive=True):
                with contextlib.suppress(psutil.NoSuchProcess):
                    kids = max(kids, child.memory_info().rss)
            self.workers_peak = max(self.workers_peak, kids)

    def _ping(self) -> None:
        with httpx.Client(base_url=self.url, timeout=10) as c:
            while not self._stop.wait(0.05):
                t = time.perf_counter()
                try:
                    ok = c.get("/health").status_code == 200
                except httpx.TransportError:
                    ok = False
                self.health.append(time.perf_counter() - t)
                self.health_failures += not ok

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for t in self._threads:
            t.join()

    def summary(self) -> dict[str, Any]:
        return {
            "server_rss_before_mib": round(self.base / MIB, 1),
            "server_rss_peak_mib": round(self.peak / MIB, 1),
            "server_rss_growth_mib": round((self.peak - self.base) / MIB, 1),
            "largest_worker_rss_mib": round(self.workers_peak / MIB, 1),
            "health_polls": len(self.health),
            "health_failures": self.health_failures,
            "health_worst_ms": round(max(self.health, default=0.0) * 1000, 1),
        }


def is_worker(p: psutil.Process) -> bool:
    """A live sandbox or job worker (a spawned process; not multiprocessing's resource tracker)."""
    try:
        return "spawn_main" in " ".join(p.cmdline()) and p.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def onnx_form(name: str, model: bytes) -> dict[str, Any]:
    from recycle.sources import OnnxSource, serialize

    src = OnnxSource(model, "tabular:identity", pooling="none", feature_dim=16)
    config, files = serialize(src)
    card = {
        "name": name,
        "modality": "tabular",
        "task": "feature-extraction",
        "access": "black-box",
        "license": "MIT",
        "output": {"feature_dim": 16},
        "input": {"shape": [64], "dtype": "float32", "value_range": [0, 16]},
    }
    return {
        "data": {"card": json.dumps(card), "config": json.dumps(config)},
        "files": [("files", (n, b, "application/octet-stream")) for n, b in files.items()],
    }


def target_npz(X: np.ndarray, y: np.ndarray) -> bytes:
    import io

    buf = io.BytesIO()
    np.savez(buf, X=X, y=y)
    return buf.getvalue()


def wait_status(c: httpx.Client, job_id: str, states: tuple[str, ...], timeout: float) -> float:
    t = time.monotonic()
    while c.get(f"/jobs/{job_id}").json()["status"] not in states:
        if time.monotonic() - t > timeout:
            raise TimeoutError(job_id)
        time.sleep(0.05)
    return time.monotonic() - t


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", default="benchmarks/results/service_hostile.json")
    args = parser.parse_args()

    from recycle.service.app import _catalog_location
    from recycle.service.auth import create_key
    from recycle.service.config import Settings
    from recycle.service.db import ServiceDB, make_engine
    from recycle.sources import OnnxSource
    from recycle.zoo import ModelCard, Zoo

    zoo_loc = str(Path(tempfile.mkdtemp(prefix="recycle-hostile-")) / "zoo")
    zoo = Zoo.open(zoo_loc)
    X, y = digits()
    ids = [zoo.register(*mlp(f"mlp.h-{i}", seed=i), validate=False).id for i in range(4)]
    heavy = OnnxSource(onnx_bomb(1 << 24), "tabular:identity", pooling="none", batch_size=4096)
    card = ModelCard(
        name="evil.heavy",
        modality="tabular",
        task="feature-extraction",
        access="black-box",
        input={"shape": [64], "dtype": "float32", "value_range": [0, 16]},
        output={"feature_dim": 16},
        provider="evil",
    )
    heavy_id = zoo.register(heavy, card, validate=False).id  # as if an older checker passed it
    db = ServiceDB(make_engine(_catalog_location(Settings(zoo=zoo_loc), zoo)))
    keys = {
        "user": create_key(db, "user", "alice")[0],
        "spam": create_key(db, "user", "mallory")[0],
        "prov": create_key(db, "provider", "evil")[0],
    }
    zoo.close()
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {**os.environ, "RECYCLE_RATE_PER_MINUTE": "0", "RECYCLE_JOB_GRACE_S": "5"}
    server = start(port, zoo_loc, env)
    out: dict[str, Any] = {}
    auth = {k: {"Authorization": f"Bearer {v}"} for k, v in keys.items()}
    try:
        with httpx.Client(base_url=url, headers=auth["user"], timeout=300) as c:
            bomb = npz_bomb(800 * MIB)
            with Watch(server.pid, url) as w:
                t = time.perf_counter()
                r = c.post("/jobs/fit", files={"data": ("t.npz", bomb)})
                took = time.perf_counter() - t
            out["npz_bomb"] = {
                "upload_bytes": len(bomb),
                "inflates_to_bytes": 800 * MIB,
                "status": r.status_code,
                "seconds": round(took, 3),
                **w.summary(),
            }

            rows = X[:512].tolist()
            with httpx.Client(base_url=url, headers=auth["prov"], timeout=300) as p:
                for label, floats in (
                    ("issue_4MB_per_row", 1 << 20),
                    ("heavy_64MB_per_row", 1 << 24),
                ):
                    with Watch(server.pid, url) as w:
                        t = time.perf_counter()
                        r = p.post(
                            "/models",
                            **onnx_form(
                                f"evil.{label.replace('_', '-').lower()}", onnx_bomb(floats)
                            ),
                        )
                        took = time.perf_counter() - t
                    entry = {
                        "register_status": r.status_code,
                        "register_seconds": round(took, 2),
                        "register_detail": r.json().get("detail"),
                        **w.summary(),
                    }
                    model_id = r.json()["id"] if r.status_code == 201 else heavy_id
                    with Watch(server.pid, url) as w:
                        t = time.perf_counter()
                        e = c.post(f"/models/{model_id}/embed", json={"data": rows})
                        took = time.perf_counter() - t
                    entry["embed_512_rows"] = {
                        "status": e.status_code,
                        "seconds": round(took, 2),
                        "detail": e.json().get("detail"),
                        **w.summary(),
                    }
                    out[f"onnx_bomb_{label}"] = entry

                deep = {"card": '{"a": ' + nested_json(100_000) + "}", "config": "{}"}
                with Watch(server.pid, url) as w:
                    r = p.post("/models", data=deep, files=[("files", ("m.onnx", b"x"))])
                out["deep_json_card"] = {"status": r.status_code, **w.summary()}

            long_fit = {"strategy": "auto", "cv": 10, "cv_repeats": 10, "time_budget": 3600}
            data = {"data": ("t.npz", target_npz(X[:1200], y[:1200]))}
            r = c.post("/jobs/fit", files=data, data={"params": json.dumps(long_fit)})
            job_id = r.json()["id"]
            wait_status(c, job_id, ("running",), 120)
            deadline = time.monotonic() + 300
            while c.get(f"/jobs/{job_id}").json()["task"] in (None, "load", "start"):
                if time.monotonic() > deadline:  # the worker never got past loading
                    raise TimeoutError(job_id)
                time.sleep(0.2)
            time.sleep(3)  # inside the fit
            worker = {p.pid for p in psutil.Process(server.pid).children() if is_worker(p)}
            t = time.perf_counter()
            c.post(f"/jobs/{job_id}/cancel")
            wait_status(c, job_id, ("cancelled",), 60)
            to_status = time.perf_counter() - t
            while worker & {p.pid for p in psutil.Process(server.pid).children() if is_worker(p)}:
                time.sleep(0.02)
            out["cancel"] = {
                "seconds_to_cancelled": round(to_status, 3),
                "seconds_to_worker_gone": round(time.perf_counter() - t, 3),
                "progress_at_cancel": c.get(f"/jobs/{job_id}").json()["task"],
            }

            budget = {**long_fit, "time_budget": 5}
            r = c.post("/jobs/fit", files=data, data={"params": json.dumps(budget)})
            job_id = r.json()["id"]
            took = wait_status(c, job_id, ("failed", "done"), 300)
            job = c.get(f"/jobs/{job_id}").json()
            out["time_budget_5s_grace_5s"] = {
                "seconds_to_end": round(took, 2),
                "status": job["status"],
                "error": job["error"],
            }

        with httpx.Client(base_url=url, headers=auth["spam"], timeout=60) as s:
            codes, waits = [], []
            t = time.perf_counter()
            small = {"data": ("t.npz", target_npz(X[:100], y[:100]))}
            for _ in range(40):
                r = s.post("/jobs/select", files=small, data={"params": '{"time_budget": 600}'})
                codes.append(r.status_code)
                if r.status_code == 429:
                    waits.append(int(r.headers["Retry-After"]))
            out["job_spam_40"] = {
                "seconds": round(time.perf_counter() - t, 2),
                "accepted_202": codes.count(202),
                "refused_429": codes.count(429),
                "retry_after_s": sorted(set(waits)),
            }
    finally:
        server.terminate()
        t = time.perf_counter()
        server.wait(timeout=60)
        out["shutdown_seconds_with_jobs_running"] = round(time.perf_counter() - t, 2)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(out, indent=2))
    print(json.dumps(out, indent=2))
    _ = ids


if __name__ == "__main__":
    main()
