"""Search at zoo scale on the path users take: cold ``recycle search`` and warm ``Zoo.search``.

One SQLite zoo grows 10 -> 1,000 -> 10,000 entries (``--sizes``). Every entry is SYNTHETIC: a
tiny MLP (the same bytes for all, stored once) with a 784-d spec of m=100 reduced points; each
reduced point is the mean of 10 random MNIST training images (pixels in [0, 1]) of the entry's
3 digit classes, weights uniform, gamma the median heuristic of those classes' images, n=1000.
Queries are real specs (``build_spec``, m=100) of 300 MNIST test images of 3 classes.

At each size:

- ``register_ms_per_entry``: wall time of ``Zoo.register_files`` per entry with the persistent
  spec index kept up to date on every registration (``registered_with_index`` entries: all
  of them while growing to this size up to ``--bulk-from`` entries, default 1,000); beyond,
  to fit the run in time, the entries are first registered with the index step switched off
  (``bulk_ms_per_entry``), the index catches up in one :func:`recycle.zoo.spec_index.sync`
  (``catch_up_sync_s``: the path a search takes after registrations whose index step did not
  run), and the last ``PROBE`` entries are registered with the index kept up to date;
- ``cold_cli_s`` / ``cold_cli_cpu_s``: wall and CPU time of a fresh ``recycle search QUERY.json
  --zoo Z --json`` process (median of 3; imports included), and its peak resident memory;
- ``cold_cli_before_s``: the same with the code before the index (``--before-src``, e.g. a
  checkout of main), which reads and parses every spec blob per query;
- ``warm_search_ms`` / ``warm_search_cpu_ms``: ``Zoo.search(query_spec, top=5)`` in a process
  that has searched once (median of 5 queries x 3 repeats), wall and CPU time;
- ``recall_at_10``: overlap of the top 10 with exact MMD over every entry (same gamma), when
  the vector stages were used (see :mod:`recycle.spec.cascade`);
- ``index_bytes``: size of the index folder.

Run: ``nice .venv/bin/python benchmarks/search_zoo.py [--sizes 10,1000,10000] [--quick]``;
writes ``benchmarks/results/search_zoo.json``, then ``docs/search_zoo.png``,
``docs/search_zoo.md`` and the README's search table from all search results
(``benchmarks/search_docs.py``).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from search_docs import write_docs

from recycle import datasets
from recycle.spec import Spec, build_spec
from recycle.spec.cascade import RERANK
from recycle.spec.kernel import median_gamma
from recycle.zoo import ModelCard, Zoo, spec_index

ROOT = Path(__file__).resolve().parents[1]
KEEP_IN_STEP = spec_index.after_register  # the per-registration index update
OUT = ROOT / "benchmarks" / "results" / "search_zoo.json"
M = 100  # reduced points per spec
GROUP = 10  # MNIST images averaged into one synthetic reduced point
QUERIES = 5
REPEATS = 3
#: The CLI in a fresh process that reports on exit its peak resident memory (VmHWM of its own
#: address space: ru_maxrss is not usable, Linux carries the parent's high-water mark across
#: the fork and exec of subprocess) and its CPU time.
CLI = (
    "import atexit, re, resource, sys; from recycle.cli import entry_point; "
    "sys.argv[0] = 'recycle'; u = lambda: resource.getrusage(resource.RUSAGE_SELF); "
    "hwm = lambda: re.search(r'VmHWM:\\s+(\\d+)', open('/proc/self/status').read()).group(1); "
    "atexit.register(lambda: sys.stderr.write(f'\\nmaxrss_kib={hwm()} "
    "cpu_s={u().ru_utime + u().ru_stime}\\n')); entry_point()"
)
#: Entries registered one by one with the index kept up to date at the end of a bulk-loaded
#: size (their time is the per-entry registration cost at that size).
PROBE = 20


def _payload() -> tuple[dict[str, Any], dict[str, bytes]]:
    import torch

    from recycle.sources import TorchSource, serialize
    from recycle.sources.arch import build_architecture

    torch.manual_seed(0)
    net = build_architecture("mlp", in_features=4, hidden=[8], out_features=6)
    return serialize(TorchSource(net, "tabular:identity", 6, source_id="bench.search"))


def _card(i: int) -> ModelCard:
    return ModelCard(
        name=f"synthetic.search{i:06d}",
        modality="tabular",
        task="feature-extraction",
        input={"shape": [4], "dtype": "float32", "value_range": [-1, 1]},
        output={"feature_dim": 6},
        provider="benchmark",
        description="SYNTHETIC entry of benchmarks/search_zoo.py (spec from MNIST means)",
    )


class Specs:
    """Synthetic entry specs and real query specs from MNIST."""

    def __init__(self, seed: int = 0) -> None:
        data = datasets.load("mnist")
        self.X = data.X_train.reshape(len(data.X_train), -1).astype(np.float32) / 255.0
        self.y = np.asarray(data.y_train)
        self.Xt = data.X_test.reshape(len(data.X_test), -1).astype(np.float32) / 255.0
        self.yt = np.asarray(data.y_test)
        self.rng = np.random.default_rng(seed)
        self._gammas: dict[tuple[int, ...], float] = {}

    def _classes(self) -> tuple[int, ...]:
        return tuple(sorted(self.rng.choice(10, 3, replace=False).tolist()))

    def entry(self) -> Spec:
        classes = self._classes()
        rows = np.flatnonzero(np.isin(self.y, classes))
        if classes not in self._gammas:
            self._gammas[classes] = median_gamma(self.X[self.rng.choice(rows, 1000)])
        pick = self.X[self.rng.choice(rows, M * GROUP)].reshape(M, GROUP, -1).mean(axis=1)
        return Spec(space="input:784", gamma=self._gammas[classes], Z=pick,
                    beta=np.full(M, 1.0 / M), n=1000, residual=0.002,
                    meta={"synthetic": "benchmarks/search_zoo.py"})  # fmt: skip

    def query(self, seed: int) -> Spec:
        classes = self._classes()
        rows = self.rng.choice(np.flatnonzero(np.isin(self.yt, classes)), 300, replace=False)
        return build_spec(self.Xt[rows], m=M, seed=seed)


def _cold_cli(query: Path, zoo: Path, src: Path) -> tuple[float, float, float]:
    """Wall seconds, peak RSS (MiB) and CPU seconds of one fresh `recycle search` process."""
    env = {**os.environ, "PYTHONPATH": str(src)}
    cmd = [sys.executable, "-c", CLI, "search", str(query), "--zoo", str(zoo), "--json"]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise RuntimeError(proc.stderr[-2000:])
    tail = proc.stderr.rsplit("maxrss_kib=", 1)[1].split()
    return wall, int(tail[0]) / 1024, float(tail[1].removeprefix("cpu_s="))


def _recall(zoo: Zoo, queries: list[Spec]) -> float | None:
    """Recall@10 of the zoo's search against exact MMD over every entry (``None`` when the
    search scored every entry exactly)."""
    found = spec_index.current(zoo, "input:784")
    assert found is not None
    index, latest = found
    hits = 0
    for q in queries:
        fast = index.rank(q, among=latest)
        if fast.n_exact == int(latest.sum()):
            return None
        exact = index.rank(q, among=latest, candidates=int(latest.sum()), exact_work=2**62)
        hits += len(set(fast.order[:10].tolist()) & set(exact.order[:10].tolist()))
    return hits / (10 * len(queries))


def _dir_bytes(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def run(
    sizes: list[int],
    before_src: Path | None,
    before_max: int,
    bulk_from: int,
    root: Path,
    out: Path | None,
) -> dict[str, Any]:
    specs = Specs()
    queries = [specs.query(seed=100 + i) for i in range(QUERIES)]
    qpath = root / "query.json"
    queries[0].save(qpath)
    zoo_dir = root / "zoo"
    zoo = Zoo.open(zoo_dir)
    config, files = _payload()
    rows, registered = [], 0
    for size in sizes:
        bulk = registered >= bulk_from
        registered_before = registered
        if bulk:  # catalog only, then one catch-up sync (the path taken after a crash)
            spec_index.after_register = lambda _zoo, _row, _spec: None
        last = size - PROBE if bulk else size
        t0 = time.perf_counter()
        for i in range(registered, last):
            zoo.register_files(config, files, _card(i), spec=specs.entry(), validate=False)
        bulk_ms = 1000 * (time.perf_counter() - t0) / max(last - registered, 1)
        reg_ms, catch_up = bulk_ms, None
        if bulk:
            spec_index.after_register = KEEP_IN_STEP
            t0 = time.perf_counter()
            spec_index.sync(zoo, "input:784")
            catch_up = time.perf_counter() - t0
            t0 = time.perf_counter()
            for i in range(last, size):
                zoo.register_files(config, files, _card(i), spec=specs.entry(), validate=False)
            reg_ms = 1000 * (time.perf_counter() - t0) / PROBE
        registered = size
        cold = [_cold_cli(qpath, zoo_dir, ROOT / "src") for _ in range(REPEATS)]
        before = None
        if before_src is not None and size <= before_max:
            before = float(np.median([_cold_cli(qpath, zoo_dir, before_src)[0] for _ in range(2)]))
        fresh = Zoo.open(zoo_dir)
        fresh.search(queries[0], top=5)  # loads the index once, as a server process does
        times, cpu = [], []
        for _ in range(REPEATS):
            for q in queries:
                t0, c0 = time.perf_counter(), time.process_time()
                fresh.search(q, top=5)
                times.append(time.perf_counter() - t0)
                cpu.append(time.process_time() - c0)
        row = {
            "entries": size,
            "synthetic": True,
            "register_ms_per_entry": reg_ms,
            "registered_with_index": size - registered_before if not bulk else PROBE,
            "bulk_ms_per_entry": bulk_ms if bulk else None,
            "catch_up_sync_s": catch_up,
            "cold_cli_s": float(np.median([c[0] for c in cold])),
            "cold_cli_cpu_s": float(np.median([c[2] for c in cold])),
            "cold_cli_peak_rss_mib": float(max(c[1] for c in cold)),
            "cold_cli_before_s": before,
            "warm_search_ms": 1000 * float(np.median(times)),
            "warm_search_cpu_ms": 1000 * float(np.median(cpu)),
            "load_average": os.getloadavg(),
            "recall_at_10": _recall(fresh, queries),
            "index_bytes": _dir_bytes(spec_index.index_root(fresh)),
        }
        print(json.dumps(row), flush=True)
        rows.append(row)
        fresh.close()
        if out is not None:  # after every size: a long run that is stopped keeps its rows
            out.write_text(json.dumps(_result(rows), indent=1) + "\n")
    return _result(rows)


def _result(rows: list[dict[str, Any]]) -> dict[str, Any]:
    return {"benchmark": "search_zoo", "dim": 784, "m": M, "rerank": RERANK, "rows": rows,
            "cpus": os.cpu_count(), "load_average": os.getloadavg(),
            "note": "entries are SYNTHETIC (see module docstring)"}  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10,1000,10000", help="zoo sizes, increasing")
    parser.add_argument("--quick", action="store_true", help="sizes 10,200; no file written")
    parser.add_argument("--before-src", type=Path, help="src/ of the code before the index")
    parser.add_argument("--before-max", type=int, default=1000, help="largest size for it")
    parser.add_argument(
        "--bulk-from", type=int, default=1000, help="beyond this size: catalog, then one sync"
    )
    parser.add_argument("--workdir", type=Path, help="where the zoo is built (default: temp)")
    parser.add_argument("--plot-only", action="store_true", help="redraw plot and tables from JSON")
    args = parser.parse_args(argv)
    if args.plot_only:
        write_docs()
        return 0
    sizes = [10, 200] if args.quick else [int(s) for s in args.sizes.split(",")]
    with tempfile.TemporaryDirectory(dir=args.workdir) as tmp:
        out = None if args.quick else OUT
        run(sizes, args.before_src, args.before_max, args.bulk_from, Path(tmp), out)
    if not args.quick:
        write_docs()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
