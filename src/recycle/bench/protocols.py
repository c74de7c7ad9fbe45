"""The benchmark protocols by name: ``stream28``, ``realzoo``, ``text``, ``text_fewshot`` and
``tabular``.

Each protocol builds its source pool and targets from the offline assets, runs every method
through :class:`~recycle.adapt.Recycler` and returns :class:`~recycle.bench.results.Results`.
``quick=True`` is the small variant the test suite runs (minutes, not hours).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from functools import partial
from typing import Any

from recycle.bench.results import Results
from recycle.bench.runner import Method, Target, run_all
from recycle.errors import ConfigError
from recycle.progress import ProgressCallback

STREAM_SHOTS = (25, 50, 100, 250)
#: The quick stream28 variant: shots, adapter training epochs (full: 30) and auto's time budget.
STREAM_QUICK_SHOTS = (25,)
QUICK_EPOCHS = 12
QUICK_AUTO_BUDGET = 30.0
#: Methods of the ``--quick`` variants (the tests run these).
STREAM_QUICK = {"independent", "module_mixing_m3", "linear_probe_m3", "auto"}
REALZOO_QUICK = {"independent", "linear_probe_m1", "auto"}
TEXT_QUICK = {"independent", "tfidf_logreg", "linear_probe_m1", "auto"}
TABULAR_QUICK = {"gb", "logreg", "no_source", "stacking", "auto"}


def stream28_methods() -> list[Method]:
    """Every method of the adaptation issue, plus the random-selection ablation."""
    return [
        # the paper's Independent: new adapters on the shared base, no source adapters
        Method("independent", {"strategy": "independent_adapters", "m": 1}),
        Method("finetune_source", {"strategy": "finetune_source", "m": 1}),
        Method("independent_lenet", {"strategy": "independent"}),
        Method("module_mixing_m1", {"strategy": "module_mixing", "m": 1}),
        Method("module_mixing_m3", {"strategy": "module_mixing", "m": 3}),
        Method("module_mixing_m5", {"strategy": "module_mixing", "m": 5}),
        Method("module_mixing_m3_random", {"strategy": "module_mixing", "m": 3}, random_sources=3),
        Method("feature_mixing_m3", {"strategy": "feature_mixing", "m": 3}),
        Method("mcw_knn_m3", {"strategy": "mcw", "m": 3, "selection_score": "knn"}),
        Method("linear_probe_m3", {"strategy": "linear_probe", "m": 3}),
        Method("stacking_m3", {"strategy": "stacking", "m": 3}),
        Method("averaging_m3", {"strategy": "averaging", "m": 3}),
        Method("auto", {"strategy": "auto", "m": "auto"}),
    ]


@dataclass(frozen=True)
class Options:
    """How much of a protocol to run.

    ``quick`` is the small variant the tests run; ``methods``, ``max_targets`` and ``shots``
    restrict a run further (a subset of the full protocol when time is short).
    """

    quick: bool = False
    seeds: int = 3
    methods: tuple[str, ...] | None = None
    max_targets: int | None = None
    shots: tuple[int, ...] | None = None
    #: Use the quick variant's (cached, 8-source) stream28 zoo with the full targets and methods.
    quick_pool: bool = False
    #: Save the rows after every fit to this file (a partial ``results.json``).
    checkpoint: str | None = None
    #: Where the stream28 zoo is cached (default ``$RECYCLE_CACHE/stream28``).
    cache_dir: str | None = None
    #: Keep the rows already in ``checkpoint`` and run only the missing fits.
    resume: bool = False
    #: stream28 only: each finished target's model joins the pool of the later targets.
    growing_pool: bool = False
    #: ``(i, n)``: run i of n side-by-side runs, with about the same number of shots each (see
    #: :func:`_shard`), joined afterwards by ``scripts/merge_results.py``.
    shard: tuple[int, int] | None = None
    #: stream28 only: train the shared base on the first N source tasks' classes (default all;
    #: 1 is EFT's first-task base).
    base_tasks: int | None = None


def _meta(opts: Options) -> dict[str, object]:
    """Run facts saved with every checkpoint (so a partial file says what was running)."""
    meta: dict[str, object] = {"quick": opts.quick, "seeds": opts.seeds}
    if opts.methods or opts.max_targets or opts.shots or opts.quick_pool:
        meta["subset"] = {
            "max_targets": opts.max_targets, "shots": opts.shots, "methods": opts.methods,
            "quick_pool": opts.quick_pool,
        }  # fmt: skip
    if opts.shard:
        meta["shard"] = list(opts.shard)
    return meta


def _shard(targets: list[Target], opts: Options) -> list[Target]:
    """Run i of n's share of ``targets`` when ``opts.shard == (i, n)``; all targets otherwise.

    Fits cost about in proportion to the shots, so targets are dealt largest first, each to the
    run with the fewest shots so far (ties: the lower run): every run gets the same mix of cheap
    and dear fits. (Dealing every n-th target gave one stream28 run all the 25/100-shot fits
    and the other all the 50/250-shot ones, about 3x dearer.) A run keeps its targets in the
    given order.

    >>> import numpy as np
    >>> ts = [Target(f"t{t}", n, 0, [], np.array([]), [], np.array([]))
    ...       for t in range(2) for n in (25, 50, 100, 250)]
    >>> [(t.name, t.shots) for t in _shard(ts, Options(shard=(0, 2)))]
    [('t0', 25), ('t0', 50), ('t0', 100), ('t0', 250)]
    """
    if opts.shard is None:
        return targets
    i, n = opts.shard
    load = [0] * n
    mine = set()
    for j in sorted(range(len(targets)), key=lambda j: (-targets[j].shots, j)):
        run = min(range(n), key=lambda r: (load[r], r))
        load[run] += targets[j].shots
        if run == i:
            mine.add(j)
    return [t for j, t in enumerate(targets) if j in mine]


def _pick(methods: list[Method], quick_keep: set[str], opts: Options) -> list[Method]:
    keep = set(opts.methods) if opts.methods else (quick_keep if opts.quick else None)
    if keep is None:
        return methods
    unknown = keep - {m.name for m in methods}
    if unknown:
        raise ConfigError(
            f"Unknown method(s) {', '.join(sorted(unknown))}; valid: "
            f"{', '.join(m.name for m in methods)}."
        )
    return [m for m in methods if m.name in keep]


def _quick_method(method: Method) -> Method:
    """The quick variant's lighter training: fewer adapter epochs, a shorter auto budget."""
    if method.factory is not None:
        return replace(method, factory=partial(method.factory, epochs=QUICK_EPOCHS))
    adapters = ("module_mixing", "independent_adapters", "finetune_source")
    quick = {name: {"max_epochs": QUICK_EPOCHS} for name in adapters}
    params = {**method.params, "strategy_params": quick}
    if params.get("strategy") == "auto":
        params["time_budget"] = QUICK_AUTO_BUDGET
    return replace(method, params=params)


def _run(
    protocol: str,
    sources: list[Any],
    targets: list[Target],
    methods: list[Method],
    opts: Options,
    progress: ProgressCallback | None,
    meta: dict[str, object],
    grow: Callable[[Target], Any] | None = None,
    pool: Any = None,
) -> Results:
    """:func:`run_all` on this run's shard of ``targets``, with the options' checkpoint and
    resume; the sources' ids are recorded in ``meta``. ``pool`` (a zoo) replaces ``sources``."""
    results = run_all(
        protocol, sources if pool is None else pool, _shard(targets, opts), methods, progress,
        opts.checkpoint, meta, opts.resume, grow,
    )  # fmt: skip
    results.meta["sources"] = (
        [s.source_id for s in sources] if pool is None else [e.ref for e in pool.list()]
    )
    return results


def run_stream28(opts: Options, progress: ProgressCallback | None) -> Results:
    from recycle.bench.stream28 import Stream28

    small = opts.quick or opts.quick_pool
    stream = Stream28(
        seed=0, quick=small, n_targets=None if opts.quick else 20, cache_dir=opts.cache_dir,
        base_tasks=opts.base_tasks,
    )  # fmt: skip
    _, sources = stream.build_sources(progress)
    shots = opts.shots or (STREAM_QUICK_SHOTS if opts.quick else STREAM_SHOTS)
    tasks = stream.target_tasks[: opts.max_targets]
    targets = [
        Target(task.name, n, seed, *task.sample(n, seed), task.X_test, task.y_test)
        for seed in range(opts.seeds)
        for task in tasks
        for n in shots
    ]
    methods = _pick(stream28_methods(), STREAM_QUICK, opts)
    if opts.quick:
        methods = [_quick_method(m) for m in methods]
    grow = stream.grow_source if opts.growing_pool else None
    meta = {**_meta(opts), "growing_pool": opts.growing_pool}
    if opts.base_tasks is not None:
        meta["base_tasks"] = opts.base_tasks
        meta["base_classes"] = len(stream.base_class_ids)
    return _run("stream28", sources, targets, methods, opts, progress, meta, grow)


def run_realzoo(opts: Options, progress: ProgressCallback | None) -> Results:
    from recycle.bench.realzoo import realzoo_methods, realzoo_sources, realzoo_targets

    sources = realzoo_sources(opts.quick, opts.quick_pool, progress, opts.cache_dir)
    targets = realzoo_targets(quick=opts.quick, seeds=opts.seeds)
    if opts.shots:
        targets = [t for t in targets if t.shots in opts.shots]
    if opts.max_targets:
        names = list(dict.fromkeys(t.name for t in targets))[: opts.max_targets]
        targets = [t for t in targets if t.name in names]
    methods = _pick(realzoo_methods(), REALZOO_QUICK, opts)
    return _run("realzoo", sources, targets, methods, opts, progress, _meta(opts))


def run_text(opts: Options, progress: ProgressCallback | None) -> Results:
    from recycle.bench.text import TEXT_SHOTS, text_methods, text_sources, text_targets

    sources = text_sources()
    shots = opts.shots or ((20, 100) if opts.quick else TEXT_SHOTS)
    targets = text_targets(shots, opts.seeds, test_size=400 if opts.quick else 1000)
    methods = _pick(text_methods(), TEXT_QUICK, opts)
    return _run("text", sources, targets, methods, opts, progress, _meta(opts))


def run_tabular(opts: Options, progress: ProgressCallback | None) -> Results:
    from recycle.bench.tabular import TABULAR_SHOTS, tabular_methods, tabular_pool, tabular_targets

    zoo = tabular_pool(opts.quick, opts.cache_dir, progress)
    shots = opts.shots or ((50,) if opts.quick else TABULAR_SHOTS)
    targets = tabular_targets(zoo, opts.quick, opts.seeds, shots)
    if opts.max_targets:
        names = list(dict.fromkeys(t.name for t in targets))[: opts.max_targets]
        targets = [t for t in targets if t.name in names]
    methods = _pick(tabular_methods(), TABULAR_QUICK, opts)
    if opts.quick:  # the no-source baselines outside the Recycler have nothing to shorten
        methods = [m if m.factory else _quick_method(m) for m in methods]
    return _run("tabular", [], targets, methods, opts, progress, _meta(opts), pool=zoo)


def run_text_fewshot(opts: Options, progress: ProgressCallback | None) -> Results:
    from recycle.bench import text_fewshot as tf
    from recycle.bench.text import text_sources

    sources = tf.quick_sources() if opts.quick else text_sources()
    shots = opts.shots or (tf.QUICK_SHOTS if opts.quick else tf.SHOTS_PER_CLASS)
    test = tf.QUICK_TEST_PER_CLASS if opts.quick else tf.TEST_PER_CLASS
    only = (tf.FORTUNE_TARGET,) if opts.quick else None
    targets = tf.fewshot_targets(shots, opts.seeds, test, only)
    if opts.max_targets:
        names = list(dict.fromkeys(t.name for t in targets))[: opts.max_targets]
        targets = [t for t in targets if t.name in names]
    methods = tf.fewshot_methods(opts.methods or (tf.QUICK_METHODS if opts.quick else None))
    if opts.quick:
        methods = [_quick_method(m) for m in methods]
    meta = {**_meta(opts), "shots_are": "per class"}
    lora = [m for m in methods if tf.is_lora(m)]
    plain = [m for m in methods if not tf.is_lora(m)]
    results = _run("text_fewshot", sources, targets, plain, opts, progress, meta)
    if not lora:
        return results
    if opts.checkpoint is None:  # the LoRA rows join the rows above through the checkpoint
        raise ConfigError("text_fewshot's LoRA methods need a checkpoint file.")
    zoo, names = tf.lora_pool(opts.cache_dir, opts.quick)
    lora = [replace(m, params={**m.params, "candidates": names}) for m in lora]
    resumed = replace(opts, resume=True)
    current = set(names)
    meta = {**results.meta, "lora_pool": [e.ref for e in zoo.list() if e.name in current]}
    out = _run("text_fewshot", [], targets, lora, resumed, progress, meta, pool=zoo)
    out.meta["sources"] = results.meta["sources"]
    out.meta["failures"] = results.meta["failures"] + out.meta["failures"]
    return out


PROTOCOLS: dict[str, Callable[[Options, ProgressCallback | None], Results]] = {
    "stream28": run_stream28,
    "realzoo": run_realzoo,
    "text": run_text,
    "text_fewshot": run_text_fewshot,
    "tabular": run_tabular,
}


def protocol_names() -> list[str]:
    """Names accepted by :func:`run_protocol` (``recycle bench all`` runs each)."""
    return list(PROTOCOLS)


def limit_threads(shard: tuple[int, int] | None) -> int | None:
    """Share the machine's cores among ``N`` side-by-side runs (``shard = (I, N)``): this
    process's PyTorch threads and OpenMP/BLAS pools (gradient boosting, linear algebra) get
    ``cores // N``, at least 1; returns that number (None without a shard: nothing changes).

    Two processes on two cores, each with PyTorch's default threads, fitted the same 4 tabular
    auto fits in 80 s each instead of 15 s with one thread each
    (research/tabular-refit-bound.md): threads that wait on each other's cores.

    >>> limit_threads(None) is None
    True
    """
    if shard is None:
        return None
    import os

    import torch
    from threadpoolctl import threadpool_limits

    threads = max(1, (os.cpu_count() or 1) // shard[1])
    torch.set_num_threads(threads)
    threadpool_limits(threads)  # not as a context: the limit holds for the whole run
    return threads


def run_protocol(
    name: str,
    *,
    quick: bool = False,
    seeds: int = 3,
    progress: ProgressCallback | None = None,
    methods: tuple[str, ...] | None = None,
    max_targets: int | None = None,
    shots: tuple[int, ...] | None = None,
    quick_pool: bool = False,
    checkpoint: str | None = None,
    cache_dir: str | None = None,
    resume: bool = False,
    growing_pool: bool = False,
    shard: tuple[int, int] | None = None,
    base_tasks: int | None = None,
) -> Results:
    """Run protocol ``name`` and return its results (see :class:`Options` for the knobs).

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
    if max_targets is not None and max_targets < 1:
        raise ConfigError(f"max_targets must be >= 1 or None; got {max_targets}.")
    if growing_pool and name != "stream28":
        raise ConfigError(f"--growing-pool applies to stream28 only, not {name!r}.")
    if shard is not None:
        if not 0 <= shard[0] < shard[1]:
            raise ConfigError(
                f"shard must be I/N with 0 <= I < N (numbered from 0: 0/2 and 1/2); got "
                f"{shard[0]}/{shard[1]}."
            )
        if growing_pool:
            raise ConfigError(
                "--shard splits a stream's targets across runs, so it cannot be combined with "
                "--growing-pool (each target needs the earlier ones); drop one of them."
            )
    if base_tasks is not None and name != "stream28":
        raise ConfigError(f"--base-tasks applies to stream28 only, not {name!r}.")
    opts = Options(
        quick, seeds, methods, max_targets, shots, quick_pool, checkpoint, cache_dir, resume,
        growing_pool, shard, base_tasks,
    )  # fmt: skip
    limit_threads(shard)
    results = PROTOCOLS[name](opts, progress)
    results.meta["methods_run"] = results.methods()
    return results
