"""Score auto's decision rules against the truth: every candidate's test accuracy.

A stream28 bench row of ``auto`` keeps every candidate's per-fold cross-validation accuracy and
log-loss (``cv_folds``), so another decision rule can be replayed without re-fitting; but its
test accuracy is only known for the candidate auto chose. This script fits, once, every other
candidate (strategy at m, the same fixed-strategy ``Recycler`` the bench runs) on the same target
and seed, and then replays the rules.

Usage::

    python scripts/auto_study.py candidates RESULTS_JSON STUDY_JSONL [--base-tasks 1]
    python scripts/auto_study.py replay RESULTS_JSON STUDY_JSONL

``candidates`` appends one JSON line per fit to the study file and skips what it already holds
(a stopped run goes on where it stopped); a candidate the bench already ran as a fixed method
(``mcw_knn_m3``, ``module_mixing_m5``, ...) is read from the results instead. ``replay`` prints a
markdown table per shots count (``docs/AUTO.md`` has the findings).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from recycle.adapt import auto

#: Candidate keys (auto's ``strategy@m=M`` and its references) that the bench runs as a method.
BENCH_METHOD = {
    "mcw@m=3": "mcw_knn_m3",
    "linear_probe@m=3": "linear_probe_m3",
    "averaging@m=3": "averaging_m3",
    "stacking@m=3": "stacking_m3",
    "feature_mixing@m=3": "feature_mixing_m3",
    "module_mixing@m=1": "module_mixing_m1",
    "module_mixing@m=3": "module_mixing_m3",
    "module_mixing@m=5": "module_mixing_m5",
    "independent_adapters": "independent",
    "independent": "independent_lenet",
}
Key = tuple[str, int, int]  # (target, shots, seed)
#: auto's repeats of k-fold (``Recycler`` default): k = folds stored / repeats
CV_REPEATS = 2


def auto_rows(results: Path) -> tuple[list[dict[str, Any]], dict[tuple[str, int, int, str], float]]:
    """The ``auto`` rows that kept their folds, and every row's accuracy by (key, method)."""
    rows = json.loads(results.read_text())["rows"]
    accuracy = {(r["target"], r["shots"], r["seed"], r["method"]): r["accuracy"] for r in rows}
    autos = [r for r in rows if r["method"] == "auto" and r.get("cv_folds")]
    return autos, accuracy


def fit_candidates(results: Path, study: Path, base_tasks: int | None) -> None:
    """Fit every candidate of every auto row that neither the bench nor ``study`` scored."""
    from recycle.bench.runner import Method, Target, run_method
    from recycle.bench.stream28 import Stream28

    autos, accuracy = auto_rows(results)
    done = set(_study(study))
    stream = Stream28(seed=0, n_targets=20, base_tasks=base_tasks)
    _, sources = stream.build_sources()
    tasks = {t.name: t for t in stream.target_tasks}
    todo = [
        (r, key)
        for r in autos
        for key in r["cv_folds"]
        if "@m=" in key
        and (r["target"], r["shots"], r["seed"], key) not in done
        and (r["target"], r["shots"], r["seed"], BENCH_METHOD.get(key, "")) not in accuracy
    ]
    print(f"{len(todo)} candidate fits to run", flush=True)
    for i, (r, key) in enumerate(todo, 1):
        task = tasks[r["target"]]
        X, y = task.sample(r["shots"], r["seed"])
        target = Target(task.name, r["shots"], r["seed"], X, y, task.X_test, task.y_test)
        strategy, m = key.split("@m=")
        params: dict[str, Any] = {"strategy": strategy, "m": int(m)}
        if strategy == "mcw":
            params["score"] = "knn"
        row = run_method(sources, target, Method(f"{strategy}_m{m}", params))
        line = {"target": r["target"], "shots": r["shots"], "seed": r["seed"], "key": key}
        with study.open("a") as f:
            f.write(json.dumps({**line, "accuracy": row.accuracy}) + "\n")
        if i % 20 == 0 or i == len(todo):
            print(f"{i}/{len(todo)}", flush=True)


def _study(study: Path) -> dict[tuple[str, int, int, str], float]:
    if not study.exists():
        return {}
    lines = [json.loads(line) for line in study.read_text().splitlines() if line.strip()]
    return {(d["target"], d["shots"], d["seed"], d["key"]): d["accuracy"] for d in lines}


def _largest_mcw(scores: dict[str, list[float]]) -> str:
    return max((k for k in scores if k.startswith("mcw@m=")), key=lambda k: int(k.split("=")[1]))


def _decide(
    scores: dict[str, list[float]],
    losses: dict[str, list[float]],
    default: list[str],
    k: int,
) -> dict[str, Any]:
    refs = tuple(r for r in auto.REFERENCES[::-1] if r in scores)  # as auto passes them
    return auto.guard_decision(scores, refs, losses=losses, default=default, folds=k)


def _accuracy_only_challenger(
    scores: dict[str, list[float]], losses: dict[str, list[float]], k: int
) -> str:
    """The challenger replaces the MCW default on accuracy alone; the guard as auto's."""
    default = [c for c in scores if c.startswith("mcw@")]
    best = _decide(scores, {}, default, k)["best"]  # no log-losses: ranks and beats by accuracy
    refs = [r for r in auto.REFERENCES if r in scores]
    kept = {c: v for c, v in scores.items() if c in (best, *refs)}
    return str(_decide(kept, {c: losses[c] for c in kept}, [best], k)["use"])


#: The rules replayed: each maps (scores, losses, folds) to the candidate key it would fit.
RULES: dict[str, Callable[[dict[str, list[float]], dict[str, list[float]], int], str]] = {
    "auto": lambda s, l, k: _decide(s, l, [c for c in s if c.startswith("mcw@")], k)["use"],
    "no guard": lambda s, l, k: _decide(s, l, [c for c in s if c.startswith("mcw@")], k)["best"],
    "default MCW at largest m": lambda s, l, k: _decide(s, l, [_largest_mcw(s)], k)["use"],
    "challenger vs default on accuracy only": _accuracy_only_challenger,
    "always MCW at largest m": lambda s, l, k: _largest_mcw(s),
}


def replay(results: Path, study: Path) -> None:
    """Print, per shots count, each rule's mean true test accuracy against fixed references."""
    autos, accuracy = auto_rows(results)
    truth = _study(study)

    def true_accuracy(key: Key, candidate: str) -> float:
        if (*key, candidate) in truth:
            return truth[(*key, candidate)]
        return accuracy.get((*key, BENCH_METHOD.get(candidate, "")), np.nan)

    for shots in sorted({r["shots"] for r in autos}):
        rows = [r for r in autos if r["shots"] == shots]
        keys = [(r["target"], shots, r["seed"]) for r in rows]
        mcw3 = np.array([accuracy[(*k, "mcw_knn_m3")] for k in keys])
        scratch = np.array([accuracy[(*k, "independent_lenet")] for k in keys])
        print(f"\n{shots} shots, {len(rows)} target-seeds; MCW m=3 {100 * mcw3.mean():.2f}\n")
        print("| rule | accuracy | − MCW m=3 (paired SE) | > 2 below the small network | unknown |")
        print("|---|---|---|---|---|")
        for name, rule in RULES.items():
            got = []
            for r, k in zip(rows, keys, strict=True):
                scores = {c: f[0] for c, f in r["cv_folds"].items()}
                losses = {c: f[1] for c, f in r["cv_folds"].items()}
                folds = len(scores[auto.REFERENCE]) // CV_REPEATS
                got.append(true_accuracy(k, rule(scores, losses, folds)))
            _table_row(name, np.array(got), mcw3, scratch)
        best = [
            np.nanmax([true_accuracy(k, c) for c in r["cv_folds"]])
            for r, k in zip(rows, keys, strict=True)
        ]
        _table_row("oracle (best candidate on test)", np.array(best), mcw3, scratch)


def _table_row(name: str, got: np.ndarray, mcw3: np.ndarray, scratch: np.ndarray) -> None:
    ok = ~np.isnan(got)
    diff = 100 * (got[ok] - mcw3[ok])
    se = f"{diff.std(ddof=1) / np.sqrt(ok.sum()):.2f}" if ok.sum() > 1 else "–"
    bad = int((got[ok] - scratch[ok] < -0.02).sum())
    print(
        f"| {name} | {100 * got[ok].mean():.2f} | {diff.mean():+.2f} ± {se} | {bad} "
        f"| {int((~ok).sum())} |"
    )


def main(argv: list[str]) -> None:
    if len(argv) < 3 or argv[0] not in ("candidates", "replay"):
        sys.exit(__doc__)
    command, results, study = argv[0], Path(argv[1]), Path(argv[2])
    if command == "candidates":
        base_tasks = int(argv[argv.index("--base-tasks") + 1]) if "--base-tasks" in argv else None
        fit_candidates(results, study, base_tasks)
    else:
        replay(results, study)


if __name__ == "__main__":
    main(sys.argv[1:])
