"""Load benchmark of ``recycle serve`` on loopback, with a kill -9 and restart mid-load.

Concurrent users search the zoo by spec, embed batches through the black-box API and submit
selection and fit jobs (one key each), one hostile user throws the attacks of issue #20 (npz
bomb, deep JSON, unbounded params, job spam, embeds of an ONNX memory bomb, a squatted name),
while a provider registers new models; half-way through, the server process is killed (SIGKILL) and
started again on the same port. Reports requests/s, p50/p99 latency per endpoint, the 5xx
count, and checks that every acknowledged (201) registration is present afterwards and the
zoo is consistent (``zoo.fsck()``). Writes ``benchmarks/results/service_load.json``.

Usage::

    nice .venv/bin/python benchmarks/service_load.py [--users 8] [--seconds 30] [--zoo URL]
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import httpx
import numpy as np

RUN_CLI = "import sys; from recycle.cli import main; sys.exit(main(sys.argv[1:]))"
EMBED_ROWS = 32  # rows per embed request
JOB_EVERY = 15  # every this many requests a user submits a job (select and fit in turn)
JOB_ROWS = 120  # target rows of a job
SEED_MODELS = 4  # models registered before the load starts
JOBS_WAIT_S = 300.0  # after the load, how long to wait for the submitted jobs to end


def mlp(name: str, seed: int) -> tuple[Any, Any]:
    import torch

    from recycle.sources import TorchSource
    from recycle.sources.arch import build_architecture
    from recycle.zoo import ModelCard

    torch.manual_seed(seed)
    net = build_architecture("mlp", in_features=64, hidden=[32], out_features=16)
    card = ModelCard(
        name=name, modality="tabular", task="feature-extraction",
        input={"shape": [64], "dtype": "float32", "value_range": [0, 16]},
        output={"feature_dim": 16}, license="MIT", provider="bench-lab",
    )  # fmt: skip
    return TorchSource(net, "tabular:identity", 16, source_id=name), card


def digits() -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import load_digits

    d = load_digits()
    return d.data.astype(np.float32), d.target


def start(port: int, zoo: str, env: dict[str, str]) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(
        [sys.executable, "-c", RUN_CLI, "serve", "--port", str(port), "--zoo", zoo],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env,
    )  # fmt: skip
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/ready", timeout=2).status_code == 200:
                return proc
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    proc.kill()
    raise RuntimeError("server did not start")


class Stats:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.latency: dict[str, list[float]] = defaultdict(list)
        self.status: dict[str, int] = defaultdict(int)
        self.transport_errors = 0
        self.details: dict[str, int] = defaultdict(int)

    def record(self, kind: str, seconds: float, code: int, detail: str = "") -> None:
        with self.lock:
            self.latency[kind].append(seconds)
            self.status[f"{kind}:{code}"] += 1
            if detail and code >= 400:
                self.details[f"{kind}:{code}:{detail[:90]}"] += 1


def submit_job(c: httpx.Client, kind: str, X: np.ndarray, y: np.ndarray, seed: int) -> Any:
    rng = np.random.default_rng(seed)
    idx = rng.choice(len(X), JOB_ROWS, replace=False)
    params = {"m": 1, "seed": seed, "time_budget": 30}
    if kind == "fit":
        params["strategy"] = "linear_probe"
    files = {"data": ("t.npz", io_npz(X[idx], y[idx]))}
    return c.post(f"/jobs/{kind}", files=files, data={"params": json.dumps(params)})


def user_loop(url: str, key: str, ids: list[str], spec: dict, X: np.ndarray, y: np.ndarray,
              stop: threading.Event, stats: Stats, seed: int, jobs: list) -> None:  # fmt: skip
    from recycle.sources.remote import encode_npy

    rng = np.random.default_rng(seed)
    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {key}"}, timeout=60) as c:
        i = 0
        while not stop.is_set():
            if i % JOB_EVERY == JOB_EVERY - 1:
                kind = "fit" if (i // JOB_EVERY) % 2 else "select"
                t = time.perf_counter()
                try:
                    r = submit_job(c, kind, X, y, seed * 1000 + i)
                except httpx.TransportError:
                    with stats.lock:
                        stats.transport_errors += 1
                    time.sleep(0.05)
                    continue
                stats.record(f"submit_{kind}", time.perf_counter() - t, r.status_code, r.text)
                if r.status_code == 202:
                    jobs.append((key, r.json()["id"]))
                i += 1
                continue
            if i % 2 == 0:
                kind, path, body = "search", "/specs/search", {"spec": spec, "top": 3}
            else:
                rows = X[rng.choice(len(X), EMBED_ROWS, replace=False)]
                kind, path = "embed", f"/models/{ids[i % len(ids)]}/embed"
                body = {"npy_b64": encode_npy(rows), "format": "npy"}
            t = time.perf_counter()
            try:
                r = c.post(path, json=body)
            except httpx.TransportError:  # server down (the kill): count it, retry shortly
                with stats.lock:
                    stats.transport_errors += 1
                time.sleep(0.05)
                continue
            stats.record(kind, time.perf_counter() - t, r.status_code, r.text)
            i += 1


def hostile_loop(url: str, key: str, prov_key: str, bomb_id: str, X: np.ndarray,
                 stop: threading.Event, stats: Stats) -> None:  # fmt: skip
    """One hostile user: bombs, deep JSON, unbounded params, job spam, a squatted name."""
    sys.path.insert(0, str(Path(__file__).parents[1] / "tests"))
    from service_attacks import nested_json, npz_bomb

    bomb = npz_bomb(1024 * 1024 * 1024)  # 1 GiB inflated, ~1 MB sent
    deep = '{"spec": ' + nested_json(50_000) + "}"
    small = io_npz(X[:60], np.arange(60) % 2)
    attacks = [
        ("npz_bomb", "POST", "/jobs/fit", {"files": {"data": ("t.npz", bomb)}}),
        ("deep_json", "POST", "/specs/search",
         {"content": deep, "headers": {"content-type": "application/json"}}),
        ("unbounded_params", "POST", "/jobs/fit",
         {"files": {"data": ("t.npz", small)}, "data": {"params": '{"cv_repeats": 1000000000}'}}),
        ("job_spam", "POST", "/jobs/select",
         {"files": {"data": ("t.npz", small)}, "data": {"params": '{"time_budget": 600}'}}),
        ("onnx_bomb_embed", "POST", f"/models/{bomb_id}/embed",
         {"json": {"data": X[:64].tolist()}}),
    ]  # fmt: skip
    user = httpx.Client(base_url=url, headers={"Authorization": f"Bearer {key}"}, timeout=120)
    prov = httpx.Client(base_url=url, headers={"Authorization": f"Bearer {prov_key}"}, timeout=120)
    i = 0
    while not stop.is_set():
        kind, method, path, kw = attacks[i % len(attacks)]
        i += 1
        t = time.perf_counter()
        try:
            if i % (len(attacks) + 1) == 0:  # squat a name another provider owns
                src, card = mlp("mlp.seed-0", seed=99)
                card = type(card).from_dict({**card.to_dict(), "version": "9.0.0"})
                kind, r = "squat", prov.post("/models", **register_form(src, card))
            else:
                r = user.request(method, path, **kw)
        except httpx.TransportError:
            with stats.lock:
                stats.transport_errors += 1
            time.sleep(0.05)
            continue
        stats.record(f"hostile_{kind}", time.perf_counter() - t, r.status_code)
        time.sleep(0.2)
    user.close()
    prov.close()


def io_npz(X: np.ndarray, y: np.ndarray) -> bytes:
    import io

    buf = io.BytesIO()
    np.savez(buf, X=X, y=y)
    return buf.getvalue()


def register_form(src: Any, card: Any) -> dict[str, Any]:
    from recycle.sources import serialize

    config, files = serialize(src)
    return {
        "data": {"card": card.to_json(), "config": json.dumps(config)},
        "files": [("files", (n, b, "application/octet-stream")) for n, b in files.items()],
    }


def provider_loop(url: str, key: str, stop: threading.Event, stats: Stats,
                  acknowledged: list[str]) -> None:  # fmt: skip
    from recycle.client import Client
    from recycle.errors import RecycleError

    client = Client(url, key)
    n = 0
    while not stop.is_set():
        src, card = mlp(f"mlp.load-{n}", seed=1000 + n)
        n += 1
        t = time.perf_counter()
        try:
            entry = client.register(src, card)
        except (httpx.TransportError, RecycleError):
            with stats.lock:
                stats.transport_errors += 1
            continue
        stats.record("register", time.perf_counter() - t, 201)
        acknowledged.append(entry["id"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--users", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--zoo", default=None, help="zoo folder or URL (default: a temp folder)")
    parser.add_argument("--out", default="benchmarks/results/service_load.json")
    args = parser.parse_args()

    from recycle.service.app import _catalog_location
    from recycle.service.auth import create_key
    from recycle.service.config import Settings
    from recycle.service.db import ServiceDB, make_engine
    from recycle.spec import build_spec
    from recycle.zoo import Zoo

    zoo_loc = args.zoo or str(Path(tempfile.mkdtemp(prefix="recycle-load-")) / "zoo")
    zoo = Zoo.open(zoo_loc)
    X, y = digits()
    seeded = []
    for i in range(SEED_MODELS):  # trusted seeding (no checker), each with a spec of its data
        src, card = mlp(f"mlp.seed-{i}", seed=i)
        part = X[y % SEED_MODELS == i]
        seeded.append(zoo.register(src, card, spec=build_spec(part, m=20), validate=False).id)
    from recycle.sources import OnnxSource
    from recycle.zoo import ModelCard

    sys.path.insert(0, str(Path(__file__).parents[1] / "tests"))
    from service_attacks import onnx_bomb

    heavy = OnnxSource(onnx_bomb(1 << 24), "tabular:identity", pooling="none", batch_size=4096)
    bomb_card = ModelCard(
        name="evil.heavy", modality="tabular", task="feature-extraction", access="black-box",
        input={"shape": [64], "dtype": "float32", "value_range": [0, 16]},
        output={"feature_dim": 16}, provider="evil",
    )  # fmt: skip
    bomb_id = zoo.register(heavy, bomb_card, validate=False).id  # as if an old checker passed it
    db = ServiceDB(make_engine(_catalog_location(Settings(zoo=zoo_loc), zoo)))
    normal = max(1, args.users - 1)  # one of the users is hostile
    user_keys = [create_key(db, "user", f"bench-user-{u}")[0] for u in range(normal)]
    hostile_key = create_key(db, "user", "mallory")[0]
    evil_key = create_key(db, "provider", "evil")[0]
    prov_key = create_key(db, "provider", "bench-lab")[0]
    spec = build_spec(X[y < 3][:200], m=20).to_dict()
    zoo.close()

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {**os.environ, "RECYCLE_RATE_PER_MINUTE": "0", "OMP_NUM_THREADS": "1"}
    server = start(port, zoo_loc, env)
    stats, stop, acknowledged, jobs = Stats(), threading.Event(), [], []
    threads = [
        threading.Thread(
            target=user_loop, args=(url, key, seeded, spec, X, y, stop, stats, u, jobs)
        )
        for u, key in enumerate(user_keys)
    ]
    threads.append(
        threading.Thread(
            target=hostile_loop, args=(url, hostile_key, evil_key, bomb_id, X, stop, stats)
        )
    )
    threads.append(
        threading.Thread(target=provider_loop, args=(url, prov_key, stop, stats, acknowledged))
    )
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    time.sleep(args.seconds / 2)
    os.kill(server.pid, signal.SIGKILL)  # crash mid-load
    server.wait()
    killed_at = time.perf_counter() - t0
    server = start(port, zoo_loc, env)
    restart_s = time.perf_counter() - t0 - killed_at
    time.sleep(max(0.0, args.seconds - (time.perf_counter() - t0)))
    stop.set()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - t0

    job_rows = wait_jobs(url, jobs, JOBS_WAIT_S)
    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {user_keys[0]}"}) as c:
        listed = {m["id"] for m in c.get("/models", params={"all_versions": True}).json()["items"]}
        owner = c.get("/models", params={"q": "mlp.seed-0", "all_versions": True}).json()
    server.terminate()
    server.wait(timeout=30)
    fsck = Zoo.open(zoo_loc).fsck()

    n_requests = sum(len(v) for v in stats.latency.values())
    server_errors = sum(
        n for k, n in stats.status.items()
        if int(k.rsplit(":", 1)[1]) >= 500 and not k.startswith("hostile_")
    )  # fmt: skip
    durations = [r["seconds"] for r in job_rows if r["seconds"] is not None]
    job_summary = {
        "submitted": len(job_rows),
        "status_counts": {s: sum(r["status"] == s for r in job_rows)
                          for s in sorted({r["status"] for r in job_rows})},
        "seconds_p50": round(float(np.percentile(durations, 50)), 2) if durations else None,
        "seconds_p99": round(float(np.percentile(durations, 99)), 2) if durations else None,
        "errors": {e: sum((r["error"] or "")[:60] == e for r in job_rows)
                   for e in sorted({(r["error"] or "")[:60] for r in job_rows if r["error"]})},
    }  # fmt: skip
    missing = sorted(set(acknowledged) - listed)
    result = {
        "users": args.users,
        "seconds": round(elapsed, 2),
        "requests": n_requests,
        "requests_per_s": round(n_requests / (elapsed - restart_s), 1),
        "latency_ms": {
            k: {
                "n": len(v),
                "p50": round(float(np.percentile(v, 50)) * 1000, 2),
                "p99": round(float(np.percentile(v, 99)) * 1000, 2),
            }
            for k, v in sorted(stats.latency.items())
        },
        "status_counts": dict(sorted(stats.status.items())),
        "error_details": dict(sorted(stats.details.items())),
        "server_errors_5xx_normal_users": server_errors,
        "jobs": job_summary,
        "squatted_name_owner": sorted({m["card"]["provider"] for m in owner["items"]}),
        "transport_errors_during_restart": stats.transport_errors,
        "killed_at_s": round(killed_at, 2),
        "restart_s": round(restart_s, 2),
        "registrations_acknowledged": len(acknowledged),
        "registrations_missing_after_restart": missing,
        "seeded_present": all(i in listed for i in seeded),
        "fsck_clean": bool(fsck.clean),
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2))
    ok = not server_errors and not missing and result["seeded_present"] and result["fsck_clean"]
    ok = ok and result["squatted_name_owner"] == ["bench-lab"]
    sys.exit(0 if ok else 1)


def wait_jobs(url: str, jobs: list[tuple[str, str]], timeout: float) -> list[dict[str, Any]]:
    """Wait for the submitted jobs to end; their status and seconds from created to finished."""
    from datetime import datetime

    deadline = time.monotonic() + timeout
    rows = []
    for key, job_id in jobs:
        with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {key}"}) as c:
            while True:
                job = c.get(f"/jobs/{job_id}").json()
                if job["status"] not in ("queued", "running") or time.monotonic() > deadline:
                    break
                time.sleep(0.5)
        seconds = None
        if job["created"] and job["finished"]:
            delta = datetime.fromisoformat(job["finished"]) - datetime.fromisoformat(job["created"])
            seconds = delta.total_seconds()
        rows.append({"status": job["status"], "seconds": seconds, "error": job["error"]})
    return rows


def free_port() -> int:
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


if __name__ == "__main__":
    main()
