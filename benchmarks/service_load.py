"""Load benchmark of ``recycle serve`` on loopback, with a kill -9 and restart mid-load.

Concurrent users search the zoo by spec and embed batches through the black-box API while a
provider registers new models; half-way through, the server process is killed (SIGKILL) and
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
SEED_MODELS = 4  # models registered before the load starts


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

    def record(self, kind: str, seconds: float, code: int) -> None:
        with self.lock:
            self.latency[kind].append(seconds)
            self.status[f"{kind}:{code}"] += 1


def user_loop(url: str, key: str, ids: list[str], spec: dict, X: np.ndarray, stop: threading.Event,
              stats: Stats, seed: int) -> None:  # fmt: skip
    from recycle.sources.remote import encode_npy

    rng = np.random.default_rng(seed)
    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {key}"}, timeout=60) as c:
        i = 0
        while not stop.is_set():
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
            stats.record(kind, time.perf_counter() - t, r.status_code)
            i += 1


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
    db = ServiceDB(make_engine(_catalog_location(Settings(zoo=zoo_loc), zoo)))
    user_key = create_key(db, "user", "bench-user")[0]
    prov_key = create_key(db, "provider", "bench-lab")[0]
    spec = build_spec(X[y < 3][:200], m=20).to_dict()
    zoo.close()

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {**os.environ, "RECYCLE_RATE_PER_MINUTE": "0", "OMP_NUM_THREADS": "1"}
    server = start(port, zoo_loc, env)
    stats, stop, acknowledged = Stats(), threading.Event(), []
    threads = [
        threading.Thread(target=user_loop, args=(url, user_key, seeded, spec, X, stop, stats, u))
        for u in range(args.users)
    ]
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

    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {user_key}"}) as c:
        listed = {m["id"] for m in c.get("/models", params={"all_versions": True}).json()["items"]}
    server.terminate()
    server.wait(timeout=30)
    fsck = Zoo.open(zoo_loc).fsck()

    n_requests = sum(len(v) for v in stats.latency.values())
    server_errors = sum(n for k, n in stats.status.items() if int(k.rsplit(":", 1)[1]) >= 500)
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
        "server_errors_5xx": server_errors,
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
    sys.exit(0 if ok else 1)


def free_port() -> int:
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


if __name__ == "__main__":
    main()
