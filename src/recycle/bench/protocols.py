"""The benchmark protocols by name: ``stream28``, ``realzoo`` and ``text``.

Each protocol builds its source pool and targets from the offline assets, runs every method
through :class:`~recycle.adapt.Recycler` and returns :class:`~recycle.bench.results.Results`.
``quick=True`` is the small variant the test suite runs (minutes, not hours).
"""

from __future__ import annotations

from collections.abc import Callable

from recycle.bench.results import Results
from recycle.bench.runner import Method, Target, run_all
from recycle.errors import ConfigError
from recycle.progress import ProgressCallback

STREAM_SHOTS = (25, 50, 100, 250)


def stream28_methods() -> list[Method]:
    """Every method of the adaptation issue, plus the random-selection ablation."""
    return [
        Method("independent", {"strategy": "independent_adapters", "m": 1}),
        Method("finetune_source", {"strategy": "finetune_source", "m": 1}),
        Method("module_mixing_m1", {"strategy": "module_mixing", "m": 1}),
        Method("module_mixing_m3", {"strategy": "module_mixing", "m": 3}),
        Method("module_mixing_m5", {"strategy": "module_mixing", "m": 5}),
        Method("module_mixing_m3_random", {"strategy": "module_mixing", "m": 3}, random_sources=3),
        Method("feature_mixing_m3", {"strategy": "feature_mixing", "m": 3}),
        Method("mcw_knn_m3", {"strategy": "mcw", "m": 3, "score": "knn"}),
        Method("linear_probe_m3", {"strategy": "linear_probe", "m": 3}),
        Method("stacking_m3", {"strategy": "stacking", "m": 3}),
        Method("auto", {"strategy": "auto", "m": "auto"}),
    ]


def run_stream28(quick: bool, seeds: int, progress: ProgressCallback | None) -> Results:
    from recycle.bench.stream28 import Stream28

    stream = Stream28(seed=0, quick=quick)
    _, sources = stream.build_sources(progress)
    shots = (25, 100) if quick else STREAM_SHOTS
    targets = [
        Target(task.name, n, seed, *task.sample(n, seed), task.X_test, task.y_test)
        for seed in range(seeds)
        for task in stream.target_tasks
        for n in shots
    ]
    methods = stream28_methods()
    if quick:
        keep = {"independent", "module_mixing_m3", "linear_probe_m3", "auto"}
        methods = [m for m in methods if m.name in keep]
    results = run_all("stream28", sources, targets, methods, progress)
    results.meta["sources"] = len(sources)
    return results


def run_realzoo(quick: bool, seeds: int, progress: ProgressCallback | None) -> Results:
    from recycle.bench.realzoo import realzoo_methods, realzoo_sources, realzoo_targets

    sources = realzoo_sources(quick=quick, progress=progress)
    targets = realzoo_targets(quick=quick, seeds=seeds)
    results = run_all("realzoo", sources, targets, realzoo_methods(quick), progress)
    results.meta["sources"] = [s.source_id for s in sources]
    return results


def run_text(quick: bool, seeds: int, progress: ProgressCallback | None) -> Results:
    from recycle.bench.text import TEXT_SHOTS, text_methods, text_sources, text_targets

    sources = text_sources()
    shots = (20, 100) if quick else TEXT_SHOTS
    targets = text_targets(shots, seeds, test_size=400 if quick else 1000)
    methods = text_methods()
    if quick:
        methods = [m for m in methods if m.name in {"independent", "tfidf_logreg", "linear_probe_m1", "auto"}]
    results = run_all("text", sources, targets, methods, progress)
    results.meta["sources"] = [s.source_id for s in sources]
    return results


PROTOCOLS: dict[str, Callable[[bool, int, ProgressCallback | None], Results]] = {
    "stream28": run_stream28,
    "realzoo": run_realzoo,
    "text": run_text,
}


def protocol_names() -> list[str]:
    """Names accepted by :func:`run_protocol` (``recycle bench all`` runs each)."""
    return list(PROTOCOLS)


def run_protocol(
    name: str, *, quick: bool = False, seeds: int = 3, progress: ProgressCallback | None = None
) -> Results:
    """Run protocol ``name`` and return its results.

    Examples
    --------
    >>> run_protocol("nope")
    Traceback (most recent call last):
    ...
    recycle.errors.ConfigError: Unknown benchmark protocol 'nope'; ...
    """
    if name not in PROTOCOLS:
        raise ConfigError(
            f"Unknown benchmark protocol {name!r}; valid protocols are "
            f"{', '.join(PROTOCOLS)} (or all)."
        )
    if seeds < 1:
        raise ConfigError(f"seeds must be >= 1; got {seeds}.")
    return PROTOCOLS[name](quick, seeds, progress)
