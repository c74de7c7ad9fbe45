"""How recycle scales with the zoo size, on a SYNTHETIC zoo (recycle.bench.synthetic).

Phases, each timed (wall seconds) with the rise of the driver's peak resident memory (sampled
every 5 ms; after a warm-up call so imports are not counted):

- ``spec_build``: every source builds its RKME spec from its private MNIST rows (provider
  side), as one ``map_sources`` over the zoo, local (1 thread) and Ray (2 CPUs);
- ``search``: build the stacked index of all specs and rank one query spec (the user side);
  beyond the built specs, jittered copies stand in (``tile_specs``: same shapes, same cost);
- ``embed``: each source's features of the 300-image target (what the feature cache stores);
- ``scoring``: k-NN + LogME on the cached features of every source, local and Ray.

N grows 10 -> 100 -> 1000 (search also 10,000). BLAS and torch use one thread in the driver,
as Ray gives each worker (``OMP_NUM_THREADS=1``), so local vs Ray compares 1 core with 2.
The scaling exponent is the log-log slope of time against N. With Ray only the driver's
memory is measured (workers are other processes).

Run: ``nice .venv/bin/python benchmarks/scale.py [--quick] [--no-ray]`` (writes
``benchmarks/results/scale.json`` and ``scale.png``).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from threadpoolctl import threadpool_limits

from recycle import datasets
from recycle.bench.synthetic import (
    SyntheticZoo,
    build_source_spec,
    score_source,
    shared_projection,
    tile_specs,
    to_shared_space,
)
from recycle.parallel import map_sources
from recycle.spec import SpecIndex, build_spec

OUT = Path(__file__).parent / "results"
TARGET_PER_CLASS = 30  # 300-image target, 10 classes
QUERY_CLASSES = (3, 5, 8)  # the user's data: these digits
SEARCH_REPEATS = 5  # rank() repeats (median reported)


class RssPeak:
    """Samples this process's resident memory in a thread; ``peak_mib`` is the rise over the
    level at start (tracemalloc would slow numpy-heavy Python loops several-fold)."""

    def __init__(self, interval: float = 0.005) -> None:
        self.interval, self.peak = interval, 0
        self._stop = threading.Event()
        self._page = os.sysconf("SC_PAGE_SIZE")
        self.base = self._rss()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _rss(self) -> int:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * self._page

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self._rss())
            time.sleep(self.interval)

    def __enter__(self) -> RssPeak:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self._rss())

    @property
    def peak_mib(self) -> float:
        return max(self.peak - self.base, 0) / 2**20


def measure(fn: Callable[[], Any]) -> tuple[Any, float, float]:
    """Run ``fn``; return (value, wall seconds, peak resident-memory rise in MiB)."""
    with RssPeak() as mem:
        start = time.perf_counter()
        value = fn()
        seconds = time.perf_counter() - start
    return value, seconds, mem.peak_mib


def slope(rows: list[dict[str, Any]], last: int | None = None) -> float | None:
    """Log-log slope of seconds against n (the scaling exponent), over the ``last`` largest n
    only if given (small n are dominated by fixed costs)."""
    pts = [(r["n"], r["seconds"]) for r in rows if r["seconds"] > 0]
    pts = sorted(pts)[-last:] if last else pts
    if len(pts) < 2:
        return None
    n, t = np.log([p[0] for p in pts]), np.log([p[1] for p in pts])
    return float(np.polyfit(n, t, 1)[0])


def target(ds: datasets.Dataset) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    idx = np.concatenate(
        [
            rng.choice(np.flatnonzero(ds.y_test == c), TARGET_PER_CLASS, replace=False)
            for c in range(10)
        ]
    )
    return ds.X_test[idx], ds.y_test[idx]


def run(sizes: list[int], search_sizes: list[int], backends: list[str]) -> dict[str, Any]:
    ds = datasets.load("mnist")
    images, labels = ds.X_train, ds.y_train
    projection = shared_projection()
    X_t, y_t = target(ds)
    rows: list[dict[str, Any]] = []
    ray_init = None
    if "ray" in backends:
        from recycle.parallel import ray_backend as parallel_ray

        _, ray_init, _ = measure(lambda: parallel_ray.ensure_ray(num_cpus=2))
        map_sources(abs, [1], backend="ray")  # warm the worker pool once

    warm = SyntheticZoo(2, seed=99)
    feats0 = [warm.source(i).embed(X_t) for i in range(2)]
    for backend in backends:  # warm-up: imports and worker start-up are not what we measure
        map_sources(
            build_source_spec, [0, 1], shared=(warm, images, labels, projection), backend=backend
        )
        map_sources(score_source, [0, 1], shared=(feats0, y_t), backend=backend)

    specs: list[Any] = []
    for n in sizes:
        zoo = SyntheticZoo(n, seed=0)
        shared = (zoo, images, labels, projection)
        for backend in backends:
            res, sec, mem = measure(
                lambda b=backend, z=zoo, s=shared: map_sources(
                    build_source_spec, list(range(len(z))), shared=s, backend=b
                )
            )
            failed = sum(not r.ok for r in res)
            rows.append(
                dict(
                    phase="spec_build",
                    backend=backend,
                    n=n,
                    seconds=sec,
                    peak_mib=mem,
                    failed=failed,
                    load_avg_1m=os.getloadavg()[0],
                )
            )
            specs = [r.value for r in res if r.ok]

        feats, sec, mem = measure(lambda z=zoo: [z.source(i).embed(X_t) for i in range(len(z))])
        rows.append(dict(phase="embed", backend="local", n=n, seconds=sec, peak_mib=mem))
        for backend in backends:
            res, sec, mem = measure(
                lambda b=backend, f=feats: map_sources(
                    score_source, list(range(len(f))), shared=(f, y_t), backend=b
                )
            )
            rows.append(
                dict(
                    phase="scoring",
                    backend=backend,
                    n=n,
                    seconds=sec,
                    peak_mib=mem,
                    failed=sum(not r.ok for r in res),
                    load_avg_1m=os.getloadavg()[0],
                )
            )

    query_rows = np.flatnonzero(np.isin(labels, QUERY_CLASSES))[:600]
    query = build_spec(
        to_shared_space(images[query_rows], projection), m=10, space=specs[0].space, seed=1
    )
    base_zoo = SyntheticZoo(len(specs), seed=0)
    for n in search_sizes:
        pool = tile_specs(specs, n)
        index, sec_index, mem = measure(lambda p=pool: SpecIndex(p))
        rows.append(
            dict(phase="search_index", backend="local", n=n, seconds=sec_index, peak_mib=mem)
        )
        times = []
        for _ in range(SEARCH_REPEATS):
            result, sec, _ = measure(lambda i=index: i.rank(query))
            times.append(sec)
        top = [int(i) % len(specs) for i in result.order[:5]]
        overlap = np.mean([bool(set(base_zoo.classes_of(i)) & set(QUERY_CLASSES)) for i in top])
        rows.append(
            dict(
                phase="search",
                backend="local",
                n=n,
                seconds=float(np.median(times)),
                peak_mib=mem,
                top5_share_a_query_digit=float(overlap),
            )
        )

    groups = {
        f"{ph}/{be}": [r for r in rows if r["phase"] == ph and r["backend"] == be]
        for ph, be in sorted({(r["phase"], r["backend"]) for r in rows})
    }
    exponents = {key: slope(group) for key, group in groups.items()}
    exponents_top = {key: slope(group, last=2) for key, group in groups.items()}
    return {
        "benchmark": "scale",
        "synthetic": True,
        "note": "SYNTHETIC zoo (random projections of MNIST + random tiny MLPs); see "
        "recycle.bench.synthetic. Times are wall seconds on a shared 2-core machine.",
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "load_avg_1m": os.getloadavg()[0],
        },
        "ray_init_seconds": ray_init,
        "rows": rows,
        "exponents": exponents,
        "exponents_two_largest_n": exponents_top,
    }


def plot(result: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    for key, exp in result["exponents"].items():
        phase, backend = key.split("/")
        pts = [r for r in result["rows"] if r["phase"] == phase and r["backend"] == backend]
        label = f"{phase} ({backend}), slope {exp:.2f}" if exp is not None else key
        style = "--" if backend == "ray" else "-"
        ax.plot([r["n"] for r in pts], [r["seconds"] for r in pts], "o" + style, label=label)
    ax.set(
        xscale="log",
        yscale="log",
        xlabel="sources in the zoo (N)",
        ylabel="seconds",
        title="recycle scaling on a SYNTHETIC zoo",
    )
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="N up to 100 (search 1,000)")
    parser.add_argument("--no-ray", action="store_true", help="local backend only")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    sizes = [10, 100] if args.quick else [10, 100, 1000]
    search_sizes = [10, 100, 1000] if args.quick else [10, 100, 1000, 10_000]
    backends = ["local"] if args.no_ray else ["local", "ray"]
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    import torch  # k-NN top-k runs in torch: one thread, as Ray gives each worker

    torch.set_num_threads(1)
    with threadpool_limits(1):
        result = run(sizes, search_sizes, backends)
    args.out.mkdir(parents=True, exist_ok=True)
    stem = "scale_quick" if args.quick else "scale"
    (args.out / f"{stem}.json").write_text(json.dumps(result, indent=2))
    plot(result, args.out / f"{stem}.png")
    for r in result["rows"]:
        print(
            f"{r['phase']:10s} {r['backend']:5s} N={r['n']:>6d} {r['seconds']:9.3f}s "
            f"peak {r['peak_mib']:8.1f} MiB"
        )
    print("exponents:", json.dumps(result["exponents"]))


if __name__ == "__main__":
    main()
