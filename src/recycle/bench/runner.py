"""Run methods over targets and seeds, producing :class:`~recycle.bench.results.Row` s.

A *method* is a name plus the keyword arguments of :class:`~recycle.adapt.Recycler` that define
it (``strategy``, ``m``, ``score``); every method runs through the same public estimator, so the
benchmark measures exactly what users get.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from recycle.bench.results import Results, Row
from recycle.errors import ConfigError
from recycle.progress import ProgressCallback


@dataclass(frozen=True)
class Method:
    """A named Recycler configuration: ``Method("mm3", {"strategy": "module_mixing", "m": 3})``."""

    name: str
    params: dict[str, Any] = field(default_factory=dict)
    #: When set, the pool is replaced by this many sources drawn at random (seeded by the
    #: target): the random-selection ablation of the paper.
    random_sources: int | None = None
    #: A baseline outside the Recycler: ``factory(seed, pool)`` returns an unfitted estimator
    #: with ``fit``, ``predict`` and ``trainable_params_`` (and optionally ``selected_``), e.g.
    #: the text protocol's TF-IDF baseline.
    factory: Callable[..., Any] | None = None


@dataclass
class Target:
    """One target task at one number of shots and one seed."""

    name: str
    shots: int
    seed: int
    X_train: Any
    y_train: np.ndarray
    X_test: Any
    y_test: np.ndarray
    #: Recycler arguments of this target, over the method's (e.g. ``candidates`` that leave out
    #: the target table's own sources).
    params: dict[str, Any] = field(default_factory=dict)


def selected_names(report: dict[str, Any]) -> list[str]:
    """Names of the sources a fitted Recycler used, from its ``report_`` (``sources`` key).

    Examples
    --------
    >>> selected_names({"sources": [{"source_id": "a", "name": "A"}, {"source_id": "b"}]})
    ['A', 'b']
    """
    used = report.get("sources") or report.get("selected") or []
    return [
        str(s.get("name") or s.get("source_id")) if isinstance(s, dict) else str(s) for s in used
    ]


def run_method(pool: Any, target: Target, method: Method) -> Row:
    """Fit ``Recycler(pool, seed=target.seed, **method.params)``; score on the test set."""
    from recycle.adapt import Recycler

    if method.factory is not None:
        return _run_factory(pool, target, method)
    if method.random_sources is not None:
        rng = np.random.default_rng([target.seed, target.shots, sum(map(ord, target.name))])
        members = list(pool)
        pool = [members[i] for i in rng.choice(len(members), method.random_sources, replace=False)]
    start = time.perf_counter()
    params = {**method.params, **target.params}
    rec = Recycler(pool, seed=target.seed, **params).fit(target.X_train, target.y_train)
    fit_seconds = time.perf_counter() - start
    accuracy = float(np.mean(rec.predict(target.X_test) == target.y_test))
    report = rec.report_
    guard = report.get("guard") or {}
    return Row(
        target=target.name,
        method=method.name,
        m=method.params.get("m", "auto"),
        shots=target.shots,
        accuracy=accuracy,
        fit_seconds=fit_seconds,
        trainable_params=int(report.get("trainable_params", 0)),
        seed=target.seed,
        extra={
            "selected": selected_names(report),
            "strategy": report.get("strategy"),
            "m_used": report.get("m"),
            "guard": bool(guard.get("triggered", False)),
            "flagged": bool(guard.get("flagged", False)),
            "close_to": sorted(guard.get("close_to") or {}),
            "risk": guard.get("risk") or {},
            "gap_probability": guard.get("gap_probability") or {},
            "refit": guard.get("refit") or {},
            **(_cv_extra(report) if report.get("cv") else {}),
        },
    )


def _cv_extra(report: dict[str, Any]) -> dict[str, Any]:
    """auto's cross-validation, kept in bench rows so a run can be re-examined (another decision
    rule replayed on the same folds) without re-fitting: ``cv`` maps each scored candidate to
    ``[mean accuracy, mean log-loss]``, ``cv_folds`` to ``[per-fold accuracies, per-fold
    log-losses]``, and ``reference`` names the no-source baseline the guard compared with."""
    scored = {k: v for k, v in report["cv"].items() if v.get("mean") is not None}
    return {
        "cv": {k: [v["mean"], v.get("log_loss")] for k, v in scored.items()},
        "cv_folds": {k: [v["per_fold"], v.get("per_fold_log_loss", [])] for k, v in scored.items()},
        "reference": (report.get("guard") or {}).get("reference"),
    }


def _run_factory(pool: Any, target: Target, method: Method) -> Row:
    assert method.factory is not None  # checked by the caller
    start = time.perf_counter()
    est = method.factory(target.seed, pool).fit(target.X_train, target.y_train)
    fit_seconds = time.perf_counter() - start
    accuracy = float(np.mean(est.predict(target.X_test) == target.y_test))
    return Row(
        target.name, method.name, method.params.get("m", 0), target.shots, accuracy, fit_seconds,
        int(getattr(est, "trainable_params_", 0)), target.seed,
        {"strategy": method.name, "selected": list(getattr(est, "selected_", []))},
    )  # fmt: skip


def run_all(
    protocol: str,
    pool: Any,
    targets: Sequence[Target],
    methods: Sequence[Method],
    progress: ProgressCallback | None = None,
    checkpoint: str | Path | None = None,
    meta: dict[str, Any] | None = None,
    resume: bool = False,
    grow: Callable[[Target], Any] | None = None,
) -> Results:
    """Every method on every target; a failing method is recorded in ``meta['failures']``.

    With ``checkpoint``, the rows so far are saved there after every fit, so a long run that
    is stopped still leaves its measurements; with ``resume`` too, the rows already in that
    file are kept and their (target, method, shots, seed) fits are not run again.

    With ``grow`` (the paper's growing pool), ``grow(target)`` returns a new source trained on
    that target's data once all methods ran on it, and it joins the pool of the later targets
    with the same shots and seed (targets of one stream must come in stream order).
    """
    results = Results(protocol, meta=dict(meta or {}))
    failures: list[str] = []
    total = len(targets) * len(methods)
    done = 0
    finished = _resume(results, checkpoint) if resume else set()
    pools: dict[tuple[int, int], list[Any]] = {}
    for target in targets:
        # a zoo (the tabular protocol) is used as it is; a list of sources is copied per stream
        fresh = list(pool) if isinstance(pool, list | tuple) else pool
        stream_pool = pools.setdefault((target.shots, target.seed), fresh)
        for method in methods:
            if (target.name, method.name, target.shots, target.seed) in finished:
                done += 1
                continue
            try:
                results.add(run_method(stream_pool, target, method))
            except Exception as exc:  # a broken method must not lose the whole run
                failures.append(
                    f"{method.name} on {target.name}/{target.shots}/{target.seed}: {exc}"
                )
            done += 1
            if checkpoint is not None:
                results.meta.update({"failures": failures, "done": done, "total": total})
                results.save(checkpoint)
            if progress is not None:
                progress(protocol, done, total)
        if grow is not None:
            stream_pool.append(grow(target))
    results.meta["failures"] = failures
    return results


def _resume(results: Results, checkpoint: str | Path | None) -> set[tuple[str, str, int, int]]:
    """Copy the rows of an earlier run's ``checkpoint`` into ``results``, and its run notes
    (``meta["notes"]``) unless this run has its own; return the rows' keys.

    A missing file is a fresh start; a file of another protocol is an error (it would mix
    protocols in one table).
    """
    if checkpoint is None or not Path(checkpoint).exists():
        return set()
    earlier = Results.load(checkpoint)
    if earlier.protocol != results.protocol:
        raise ConfigError(
            f"Cannot resume {results.protocol!r} from {checkpoint}: it holds "
            f"{earlier.protocol!r} results. Use another --out folder."
        )
    results.rows.extend(earlier.rows)
    if earlier.meta.get("notes") and not results.meta.get("notes"):
        results.meta["notes"] = earlier.meta["notes"]
    return {(r.target, r.method, r.shots, r.seed) for r in earlier.rows}
