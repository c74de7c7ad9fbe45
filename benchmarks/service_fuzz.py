"""Schemathesis run against ``recycle serve``'s OpenAPI schema; counts server errors (5xx).

Seeds a temp zoo with two models (one with a spec), starts the server on loopback, creates a
user and an admin key, and runs ``schemathesis run`` once per key with the
``not_a_server_error`` check (plus schemathesis' default conformance checks, reported but not
fatal). Writes ``benchmarks/results/service_fuzz.json``.

Usage::

    nice .venv/bin/python benchmarks/service_fuzz.py [--max-examples 30]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from service_load import digits, free_port, mlp, start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--max-examples", type=int, default=30)
    parser.add_argument("--out", default="benchmarks/results/service_fuzz.json")
    args = parser.parse_args()

    from recycle.service.app import _catalog_location
    from recycle.service.auth import create_key
    from recycle.service.config import Settings
    from recycle.service.db import ServiceDB, make_engine
    from recycle.spec import build_spec
    from recycle.zoo import Zoo

    root = Path(tempfile.mkdtemp(prefix="recycle-fuzz-"))
    zoo_loc = str(root / "zoo")
    zoo = Zoo.open(zoo_loc)
    X, _ = digits()
    for i in range(2):
        src, card = mlp(f"mlp.fuzz-{i}", seed=i)
        zoo.register(src, card, spec=build_spec(X[:200], m=10) if i == 0 else None, validate=False)
    db = ServiceDB(make_engine(_catalog_location(Settings(zoo=zoo_loc), zoo)))
    keys = {
        "user": create_key(db, "user", "fuzz-user")[0],
        "admin": create_key(db, "admin", "fuzz-admin")[0],
    }
    zoo.close()
    port = free_port()
    env = {**os.environ, "RECYCLE_RATE_PER_MINUTE": "0", "RECYCLE_MAX_UPLOAD_BYTES": "2000000"}
    server = start(port, zoo_loc, env)
    url = f"http://127.0.0.1:{port}"
    runs = {}
    try:
        for who, key in keys.items():
            report = root / f"{who}.ndjson"
            proc = subprocess.run(
                [str(Path(sys.executable).parent / "schemathesis"), "run", f"{url}/openapi.json",
                 "-H", f"Authorization: Bearer {key}", "--checks", "all",
                 "--max-examples", str(args.max_examples), "--request-timeout", "60",
                 "--report", "ndjson", "--report-ndjson-path", str(report), "--no-color"],
                capture_output=True, text=True, timeout=1800,
            )  # fmt: skip
            (root / f"{who}.txt").write_text(proc.stdout)
            server_errors = server_error_count(report)
            runs[who] = {
                "exit_code": proc.returncode,
                "server_errors_5xx": server_errors,
                "summary": summary(proc.stdout),
            }
    finally:
        server.terminate()
        server.wait(timeout=30)
    result = {"max_examples": args.max_examples, "runs": runs, "logs": str(root)}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2))


def server_error_count(report: Path) -> int:
    """Responses with status >= 500 recorded in schemathesis' ndjson event stream."""
    if not report.exists():
        return -1
    text = report.read_text()
    return len(re.findall(r'"status_code":\s*5\d\d', text))


def summary(stdout: str) -> list[str]:
    """The result lines of schemathesis' console output (failures and totals)."""
    keep = []
    for line in stdout.splitlines():
        s = line.strip()
        if re.search(r"(passed|failed|errored|skipped|Server error|cases|Failures|\d+ failure)", s):
            keep.append(s[:200])
    return keep[-25:]


if __name__ == "__main__":
    main()
