"""Benchmark: register 1,000 small models in a SQLite zoo, then list and filter them.

Measures, on a fresh zoo in a temp folder:

- ``register``: :meth:`Zoo.register` of N small MLPs (4 -> 8 -> 6, distinct random weights, so
  every model writes its own weights blob), ``validate=False``: serialize, hash, fsync'd blob
  writes, one catalog transaction each;
- ``register_validated``: the same with the checker on, for a sample (each check starts a fresh
  limited process that imports torch, so it costs seconds, not milliseconds);
- ``list``/``filter``/``get``/``load``: median of repeated queries over the N entries.

Run: ``nice .venv/bin/python benchmarks/zoo_register.py [--n 1000] [--validated 5]
[--out results.json]``. Prints a JSON report.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from recycle.sources import TorchSource
from recycle.sources.arch import build_architecture
from recycle.zoo import ModelCard, Zoo

PROVIDERS = [f"team{i}" for i in range(10)]
LICENSES = ["MIT", "Apache-2.0", "CC-BY-4.0"]
TASKS = ["classification", "feature-extraction"]
REPEATS = 5  # repetitions of each query (median reported)


def _model(i: int) -> tuple[TorchSource, ModelCard]:
    torch.manual_seed(i)
    net = build_architecture("mlp", in_features=4, hidden=[8], out_features=6)
    src = TorchSource(net, "tabular:identity", 6, source_id=f"bench.m{i}")
    card = ModelCard(
        name=f"bench.m{i:05d}",
        modality="tabular",
        task=TASKS[i % len(TASKS)],
        input={"shape": [4], "dtype": "float32", "value_range": [-1, 1]},
        output={"feature_dim": 6},
        license=LICENSES[i % len(LICENSES)],
        provider=PROVIDERS[i % len(PROVIDERS)],
        description=f"benchmark model {i}" + (" digits" if i % 50 == 0 else ""),
    )
    return src, card


def _median_s(fn: Callable[[], Any]) -> tuple[float, Any]:
    times, result = [], None
    for _ in range(REPEATS):
        t0 = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), result


def run(n: int, validated: int, root: Path) -> dict[str, Any]:
    """Run the benchmark in ``root``; return the figures."""
    zoo = Zoo.open(root / "zoo")
    models = [_model(i) for i in range(n)]
    t0 = time.perf_counter()
    for src, card in models:
        zoo.register(src, card, validate=False)
    reg_s = time.perf_counter() - t0

    t0 = time.perf_counter()
    for i in range(validated):
        src, card = _model(n + i)
        zoo.register(src, card, validate=True)
    val_s = time.perf_counter() - t0

    total = n + validated
    list_s, entries = _median_s(lambda: zoo.list())
    assert len(entries) == total
    queries = {
        "list_all_versions": lambda: zoo.list(all_versions=True),
        "filter_provider": lambda: zoo.list(provider="team3"),
        "filter_license_task": lambda: zoo.list(license="MIT", task="classification"),
        "filter_query_text": lambda: zoo.list(query="digits"),
        "get_by_name": lambda: zoo.get(f"bench.m{n // 2:05d}"),
        "load_one": lambda: (zoo._loaded.clear(), zoo.load("bench.m00007"))[1],
    }
    figures: dict[str, Any] = {"list_latest_s": list_s}
    for key, fn in queries.items():
        seconds, result = _median_s(fn)
        figures[f"{key}_s"] = seconds
        if isinstance(result, list):
            figures[f"{key}_count"] = len(result)
    stats = zoo.stats()
    db_bytes = (root / "zoo" / "catalog.db").stat().st_size
    return {
        "n": n,
        "register_total_s": reg_s,
        "register_per_model_ms": 1000 * reg_s / n,
        "validated_n": validated,
        "register_validated_per_model_s": val_s / validated if validated else None,
        **figures,
        "blobs": stats["blobs"],
        "blob_bytes": stats["bytes"],
        "catalog_bytes": db_bytes,
        "fsck_clean": zoo.fsck().clean,
    }


def main(argv: list[str] | None = None) -> int:
    """Command line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1000, help="models registered without checks")
    parser.add_argument("--validated", type=int, default=5, help="models registered with checks")
    parser.add_argument("--out", type=Path, default=None, help="also write the JSON here")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory(prefix="zoo-bench-") as tmp:
        report = run(args.n, args.validated, Path(tmp))
    text = json.dumps(report, indent=2)
    sys.stdout.write(text + "\n")
    if args.out:
        args.out.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
