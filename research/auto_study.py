"""Score auto's decision rules against the truth: every candidate's test accuracy.

A stream28 bench row of ``auto`` keeps every candidate's per-fold cross-validation accuracy and
log-loss (``cv_folds``), so another decision rule can be replayed without re-fitting; but its
test accuracy is only known for the candidate auto chose. This script fits, once, every other
candidate (strategy at m, the same fixed-strategy ``Recycler`` the bench runs) on the same target
and seed, and then replays the rules.

Usage::

    python research/auto_study.py candidates RESULTS_JSON STUDY_JSONL [--base-tasks 1]
    python research/auto_study.py curves RESULTS_JSON CURVES_JSONL [--base-tasks 1]
    python research/auto_study.py fresh RESULTS_JSON FRESH_JSONL [--base-tasks 1] [--folds K]
    python research/auto_study.py nested RESULTS_JSON OUT_JSONL [--base-tasks 1] [--fresh --folds K]
    python research/auto_study.py replay RESULTS_JSON STUDY_JSONL [MEASURED_JSONL ...]

Every fitting command also takes ``--shots N`` (that shots count's auto rows only), so two
processes can share the work, one per core, into separate files that ``replay`` reads together.

``candidates`` appends one JSON line per fit to the study file and skips what it already holds
(a stopped run goes on where it stopped); a candidate the bench already ran as a fixed method
(``mcw_knn_m3``, ``module_mixing_m5``, ...) is read from the results instead. ``curves`` scores,
for every auto row, the recycled choice auto's guard weighs and the no-source references one
point lower on their learning curves (trained on half of each CV training set,
:func:`small_sample_scores`), on the same test folds; with that file, ``replay`` adds the
rule whose guard compares scores extrapolated to the full training size. ``fresh``
cross-validates the same keys again on new folds (``--folds K``, another seed), for the rule
whose guard decides on folds the recycled choice was not picked on. ``nested`` cross-validates
auto's recycled choice with its sources selected inside each fold. ``replay`` prints a markdown
table per shots count (``research/auto-study.md`` has the findings).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from recycle.adapt import auto
from recycle.errors import RecycleError

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


def fit_candidates(
    results: Path, study: Path, base_tasks: int | None, shots: int | None = None
) -> None:
    """Fit every candidate of every auto row (at ``shots`` only, if given) that neither the
    bench nor ``study`` scored."""
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
        and shots in (None, r["shots"])
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


def _candidate(key: str) -> tuple[str, int]:
    """``(strategy, m)`` of a candidate key: ``mcw@m=3``, or a reference (m as auto plans it)."""
    if "@m=" in key:
        strategy, m = key.split("@m=")
        return strategy, int(m)
    return key, 0 if key == auto.REFERENCE else 1


def _scores_and_losses(
    folds: dict[str, list[list[float]]],
) -> tuple[dict[str, list[float]], dict[str, list[float]]]:
    """``{key: [scores, losses]}`` (a row's ``cv_folds``, a measured file's) as two dicts."""
    return {c: f[0] for c, f in folds.items()}, {c: f[1] for c, f in folds.items()}


def _guarded(cv_folds: dict[str, list[list[float]]]) -> list[str]:
    """The keys auto's guard weighs: its recycled choice and the references it holds."""
    scores, losses = _scores_and_losses(cv_folds)
    best = _decide(scores, losses, _mcw(scores), _folds(cv_folds)).best
    return [k for k in (best, *auto.REFERENCES) if k in scores]


#: The learning curve's lower point keeps at least this many examples of a class (strategies
#: that early-stop carve one of them out for validation).
MIN_PER_CLASS = 2


def half_subsets(y: np.ndarray, splits: list[tuple[Any, Any]], seed: int) -> list[np.ndarray]:
    """Per CV split, a stratified half of its training indices: half of each class's examples,
    rounded up, but at least :data:`MIN_PER_CLASS` (or all it has). The same subsets serve
    every candidate, so their scores stay paired.

    >>> y = np.array([0] * 6 + [1] * 3)
    >>> [len(s) for s in half_subsets(y, [(np.arange(9), None)], seed=0)]
    [5]
    """
    rng = np.random.default_rng(seed)
    subsets = []
    for train, _ in splits:
        keep: list[int] = []
        for c in np.unique(y[train]):
            idx = train[y[train] == c]
            n = min(len(idx), max(MIN_PER_CLASS, -(-len(idx) // 2)))
            keep.extend(rng.choice(idx, n, replace=False).tolist())
        subsets.append(np.sort(np.asarray(keep)))
    return subsets


def small_sample_scores(
    candidates: list[tuple[str, int]],
    X: Any,
    y: np.ndarray,
    ranked: list[Any],
    features: Any,
    *,
    seed: int = 0,
    cv: int = 3,
    repeats: int = CV_REPEATS,
) -> tuple[list[auto.CVResult], dict[str, list[int]]]:
    """Each candidate's learning-curve point below cross-validation's, on CV's own folds, and
    the training sizes per split (``cv``: CV's, ``small``: here).

    For every split of :func:`auto.cross_validate`, the candidate is trained on a stratified
    half of that split's training set (:func:`half_subsets`) and tested on the same test fold,
    so split ``i`` here pairs with split ``i`` there. :func:`extrapolate` turns the two points
    into an estimate at the full training size. A candidate that fails gets ``skipped``.
    """
    splits = auto.cv_splits(y, cv, repeats, seed)
    subsets = half_subsets(y, splits, seed)
    results = []
    for name, m in candidates:
        res = auto.CVResult(name, m)
        results.append(res)
        srcs = ranked[:m] if m else []
        try:
            for (_, te), small in zip(splits, subsets, strict=True):
                accuracy, loss = auto.fit_and_score(
                    name, srcs, X, y, features, small, te, seed, None
                )
                res.scores.append(accuracy)
                res.losses.append(loss)
        except RecycleError as exc:
            res.scores, res.losses = [], []
            res.skipped = f"{type(exc).__name__}: {exc}"
    sizes = {"cv": [len(tr) for tr, _ in splits], "small": [len(small) for small in subsets]}
    return results, sizes


def extrapolate(
    full: list[float], small: list[float], full_sizes: list[int], small_sizes: list[int], n: int
) -> list[float]:
    """Per-split scores at the full training size ``n``, from CV's (trained on ``full_sizes``)
    and :func:`small_sample_scores`' (trained on ``small_sizes``), assuming the score is linear
    in log(training size): ``full + (full - small) * log(n / n_full) / log(n_full / n_small)``.
    A network trained from scratch, whose score still climbs steeply, would get a larger
    correction than a linear model on frozen features, whose curve is flat. A split whose two
    sizes are equal keeps its CV score.

    >>> [round(v, 3) for v in extrapolate([0.6, 0.7], [0.4, 0.7], [16, 16], [8, 8], n=24)]
    [0.717, 0.7]
    """
    out = []
    for f, s, n_full, n_small in zip(full, small, full_sizes, small_sizes, strict=True):
        slope = 0.0 if n_full <= n_small else (f - s) / np.log(n_full / n_small)
        out.append(float(f + slope * np.log(n / n_full)))
    return out


def fit_curves(
    results: Path, curves: Path, base_tasks: int | None, shots: int | None = None
) -> None:
    """Half the training data: :func:`small_sample_scores` of the keys :func:`_guarded` names,
    for every auto row ``curves`` does not hold yet."""

    def measure(r: dict[str, Any], X: Any, y: np.ndarray, ranked: list[Any], feats: Any) -> Curve:
        keys, k = _guarded(r["cv_folds"]), _folds(r["cv_folds"])
        small, sizes = small_sample_scores(
            [_candidate(c) for c in keys], X, y, ranked, feats, seed=r["seed"], cv=k
        )
        return {
            "small": {c: [res.scores, res.losses] for c, res in zip(keys, small, strict=True)},
            "sizes": {"n": len(y), **sizes},
        }

    _each_auto_row(results, curves, base_tasks, measure, shots)


def fit_fresh_cv(
    results: Path, out: Path, base_tasks: int | None, k: int, shots: int | None = None
) -> None:
    """The keys :func:`_guarded` names cross-validated again on new folds (k-fold, another
    seed), for every auto row ``out`` does not hold yet: a guard that decides on folds the
    choice of the recycled candidate never saw is free of the winner's curse."""

    def measure(r: dict[str, Any], X: Any, y: np.ndarray, ranked: list[Any], feats: Any) -> Curve:
        keys = _guarded(r["cv_folds"])
        again = auto.cross_validate(
            [_candidate(c) for c in keys], X, y, ranked, feats, seed=r["seed"] + FRESH_SEED,
            cv=k, repeats=CV_REPEATS, references=tuple(keys),
        )  # fmt: skip
        return {
            "k": auto.n_folds(y, k),
            "fresh": {c: [res.scores, res.losses] for c, res in zip(keys, again, strict=True)},
        }

    _each_auto_row(results, out, base_tasks, measure, shots)


def fit_nested(
    results: Path,
    out: Path,
    base_tasks: int | None,
    k: int,
    fresh: bool,
    shots: int | None = None,
) -> None:
    """auto's recycled choice cross-validated with its sources selected *inside* each fold
    (ranked by the k-NN score on the fold's training part only), for every auto row ``out``
    does not hold yet: selection on the same examples as CV makes CV optimistic. On the stored
    folds (k as stored), or with ``fresh`` on :func:`fit_fresh_cv`'s folds (pairs with its
    references)."""
    from recycle.select.scores import knn_score

    def measure(r: dict[str, Any], X: Any, y: np.ndarray, ranked: list[Any], feats: Any) -> Curve:
        choice = _guarded(r["cv_folds"])[0]
        strategy, m = _candidate(choice)
        folds = k if fresh else _folds(r["cv_folds"])
        splits = auto.cv_splits(y, folds, CV_REPEATS, r["seed"] + (FRESH_SEED if fresh else 0))
        scores, losses = [], []
        for tr, te in splits:
            knn = {s.source_id: knn_score(feats[s.source_id][tr], y[tr]) for s in ranked}
            in_fold = sorted(ranked, key=lambda s: -knn[s.source_id])  # stable: ties keep order
            accuracy, loss = auto.fit_and_score(
                strategy, in_fold[:m], X, y, feats, tr, te, r["seed"], None
            )
            scores.append(accuracy)
            losses.append(loss)
        return {"nested_fresh" if fresh else "nested": {choice: [scores, losses]}}

    _each_auto_row(results, out, base_tasks, measure, shots)


#: Added to a row's seed for the folds of :func:`fit_fresh_cv`.
FRESH_SEED = 1000


def _folds(cv_folds: dict[str, list[list[float]]]) -> int:
    """k of the stored repeated k-fold."""
    return len(cv_folds[auto.REFERENCE][0]) // CV_REPEATS


def _each_auto_row(
    results: Path,
    out: Path,
    base_tasks: int | None,
    measure: Callable[[dict[str, Any], Any, np.ndarray, list[Any], Any], dict[str, Any]],
    shots: int | None = None,
) -> None:
    """Append ``measure(row, X, y, ranked sources, features)`` for every auto row of
    ``results`` (at ``shots`` only, if given) that ``out`` does not hold yet, with the target,
    sources and features auto saw.
    The first row's references are also cross-validated again and must match the stored folds
    (same splits, same sources, same training), or the study stops."""
    from recycle.bench.stream28 import Stream28
    from recycle.select import select_sources

    autos, _ = auto_rows(results)
    done = {(d["target"], d["shots"], d["seed"]) for d in _lines(out)}
    stream = Stream28(seed=0, n_targets=20, base_tasks=base_tasks)
    _, sources = stream.build_sources()
    tasks = {t.name: t for t in stream.target_tasks}
    todo = [
        r
        for r in autos
        if shots in (None, r["shots"]) and (r["target"], r["shots"], r["seed"]) not in done
    ]
    print(f"{len(todo)} auto rows to measure", flush=True)
    for i, r in enumerate(todo, 1):
        X, y = tasks[r["target"]].sample(r["shots"], r["seed"])
        sel = select_sources(sources, X, y, score="knn", m="auto", seed=r["seed"])
        ranked = [sel.sources[s.source_id] for s in sel.ranking if s.error is None]
        if i == 1:
            _check_reproduced(r, X, y, ranked, dict(sel.features), _folds(r["cv_folds"]))
        line = {"target": r["target"], "shots": r["shots"], "seed": r["seed"]}
        line.update(measure(r, X, y, ranked, dict(sel.features)))
        with out.open("a") as f:
            f.write(json.dumps(line) + "\n")
        if i % 10 == 0 or i == len(todo):
            print(f"{i}/{len(todo)}", flush=True)


def _check_reproduced(
    row: dict[str, Any], X: Any, y: np.ndarray, ranked: list[Any], features: Any, k: int
) -> None:
    refs = [c for c in auto.REFERENCES if c in row["cv_folds"]]
    again = auto.cross_validate(
        [_candidate(c) for c in refs], X, y, ranked, features, seed=row["seed"], cv=k,
        references=tuple(refs),
    )  # fmt: skip
    for c, res in zip(refs, again, strict=True):
        stored = np.asarray(row["cv_folds"][c][0])
        if not np.allclose(stored, res.scores, atol=1e-4):
            sys.exit(f"{c} on {row['target']}: CV {res.scores} differs from the stored {stored}")
    print(f"reproduced the stored CV of {', '.join(refs)}", flush=True)


def _lines(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _study(study: Path) -> dict[tuple[str, int, int, str], float]:
    return {(d["target"], d["shots"], d["seed"], d["key"]): d["accuracy"] for d in _lines(study)}


def _largest_mcw(scores: dict[str, list[float]]) -> str:
    return max((k for k in scores if k.startswith("mcw@m=")), key=lambda k: int(k.split("=")[1]))


def _mcw(scores: dict[str, list[float]]) -> list[str]:
    """The MCW candidates: auto's default strategy at every m."""
    return [c for c in scores if c.startswith("mcw@")]


def _decide(
    scores: dict[str, list[float]],
    losses: dict[str, list[float]],
    default: list[str],
    k: int,
    se_factor: float = auto.GUARD_SE_FACTOR,
) -> auto.GuardDecision:
    refs = tuple(r for r in auto.REFERENCES[::-1] if r in scores)  # as auto passes them
    return auto.guard_decision(scores, refs, losses, default, k, se_factor=se_factor)


def _guard(
    best: str, scores: dict[str, list[float]], losses: dict[str, list[float]], k: int
) -> str:
    """auto's guard alone: the recycled ``best`` against the references ``scores`` holds."""
    kept = [c for c in scores if c in (best, *auto.REFERENCES)]
    kept_losses = {c: losses[c] for c in kept if c in losses}
    return str(_decide({c: scores[c] for c in kept}, kept_losses, [best], k).use)


def _accuracy_only_challenger(
    scores: dict[str, list[float]], losses: dict[str, list[float]], k: int
) -> str:
    """The challenger replaces the MCW default on accuracy alone; the guard as auto's."""
    best = _decide(scores, {}, _mcw(scores), k).best  # no log-losses: ranks by accuracy
    return _guard(best, scores, losses, k)


#: A row's measurements: from the ``curves`` file (``small`` scores by candidate key and training
#: ``sizes``), the ``fresh`` file (``fresh`` scores and their ``k``) and the ``nested`` files.
Curve = dict[str, Any]
Rule = Callable[[dict[str, list[float]], dict[str, list[float]], int, Curve | None], str | None]


def _fresh_guard(
    scores: dict[str, list[float]],
    losses: dict[str, list[float]],
    k: int,
    curve: Curve | None,
) -> str | None:
    """auto's recycled choice (from the stored folds) against the references on the fresh
    folds of :func:`fit_fresh_cv`; None where the row has none."""
    if curve is None or "fresh" not in curve or not all(v[0] for v in curve["fresh"].values()):
        return None
    fresh = curve["fresh"]
    best = next(c for c in fresh if c not in auto.REFERENCES)
    return _guard(best, *_scores_and_losses(fresh), curve["k"])


def _nested_guard(fresh: bool) -> Rule:
    """auto's recycled choice, scored with its sources selected inside each fold
    (:func:`fit_nested`), against the references on the same folds (the stored ones, or with
    ``fresh`` those of :func:`fit_fresh_cv`)."""
    field = "nested_fresh" if fresh else "nested"

    def rule(
        scores: dict[str, list[float]],
        losses: dict[str, list[float]],
        k: int,
        curve: Curve | None,
    ) -> str | None:
        if curve is None or field not in curve or (fresh and "fresh" not in curve):
            return None
        [(choice, (acc, loss))] = curve[field].items()
        refs = curve["fresh"] if fresh else {c: [scores[c], losses[c]] for c in scores}
        kept = {c: v for c, v in refs.items() if c in auto.REFERENCES and v[0]}
        ref_scores, ref_losses = _scores_and_losses(kept)
        return _guard(choice, {**ref_scores, choice: acc}, {**ref_losses, choice: loss},
                      curve["k"] if fresh else k)  # fmt: skip

    return rule


def _extrapolated_guard(
    scores: dict[str, list[float]],
    losses: dict[str, list[float]],
    k: int,
    curve: Curve | None,
) -> str | None:
    """auto's recycled choice against the references, all scored at the full
    training size by :func:`extrapolate` (accuracy and log-loss) instead of at k-1 folds;
    None where the row's learning curves were not measured."""
    if curve is None or "small" not in curve or not all(v[0] for v in curve["small"].values()):
        return None
    small, sizes = curve["small"], curve["sizes"]

    def ex(full: list[float], low: list[float]) -> list[float]:
        return extrapolate(full, low, sizes["cv"], sizes["small"], sizes["n"])

    best = next(c for c in small if c not in auto.REFERENCES)
    ex_scores = {c: ex(scores[c], small[c][0]) for c in small}
    ex_losses = {c: ex(losses[c], small[c][1]) for c in small}
    return _guard(best, ex_scores, ex_losses, k)


def _guard_factor(factor: float) -> Rule:
    """auto with "beyond noise" meaning ``factor`` standard errors instead of 1 (the guard and
    the challenger test)."""

    def rule(
        scores: dict[str, list[float]], losses: dict[str, list[float]], k: int, _: Curve | None
    ) -> str:
        return str(_decide(scores, losses, _mcw(scores), k, se_factor=factor).use)

    return rule


def _split_repeats(
    scores: dict[str, list[float]], losses: dict[str, list[float]], k: int, _: Curve | None
) -> str:
    """The recycled candidate picked on the first repeat's folds, guarded on the second's (a
    guard free of the winner's curse, on half the folds)."""

    def repeat(values: dict[str, list[float]], r: int) -> dict[str, list[float]]:
        return {c: v[r * k : (r + 1) * k] for c, v in values.items()}

    best = _decide(repeat(scores, 0), repeat(losses, 0), _mcw(scores), k).best
    return _guard(best, repeat(scores, 1), repeat(losses, 1), k)


#: The rules replayed: each maps (scores, losses, folds, learning curves) to the candidate key it
#: would fit.
RULES: dict[str, Rule] = {
    "auto": lambda s, l, k, _: _decide(s, l, _mcw(s), k).use,
    "no guard": lambda s, l, k, _: _decide(s, l, _mcw(s), k).best,
    "default MCW at largest m": lambda s, l, k, _: _decide(s, l, [_largest_mcw(s)], k).use,
    "challenger vs default on accuracy only": lambda s, l, k, _: _accuracy_only_challenger(s, l, k),
    "always MCW at largest m": lambda s, l, k, _: _largest_mcw(s),
    "guard factor 2 (stricter)": _guard_factor(2.0),
    "picked on one repeat, guarded on the other": _split_repeats,
    "guard on scores extrapolated to the full size": _extrapolated_guard,
    "guard on fresh folds": _fresh_guard,
    "guard with the choice's sources selected inside each fold": _nested_guard(fresh=False),
    "the same on the fresh folds": _nested_guard(fresh=True),
}


def replay(results: Path, study: Path, *measured: Path) -> None:
    """Print, per shots count, each rule's mean true test accuracy against fixed references."""
    autos, accuracy = auto_rows(results)
    truth = _study(study)
    measurements: dict[Key, Curve] = {}  # each row's lines of the curves / fresh / nested files
    for path in measured:
        for d in _lines(path):
            measurements.setdefault((d["target"], d["shots"], d["seed"]), {}).update(d)

    def true_accuracy(key: Key, candidate: str | None) -> float:
        if candidate is None:
            return np.nan
        if (*key, candidate) in truth:
            return truth[(*key, candidate)]
        return accuracy.get((*key, BENCH_METHOD.get(candidate, "")), np.nan)

    studied = {shots for _, shots, _, _ in truth}
    for shots in sorted({r["shots"] for r in autos}):
        if truth and shots not in studied:  # other candidates' accuracies unknown: no oracle
            print(f"\n{shots} shots: no candidate fits in {study} (run `candidates` first)")
            continue
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
                scores, losses = _scores_and_losses(r["cv_folds"])
                folds = _folds(r["cv_folds"])
                got.append(true_accuracy(k, rule(scores, losses, folds, measurements.get(k))))
            if not np.isnan(got).all():  # rules that need measurements these rows lack
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
    if len(argv) < 3 or argv[0] not in ("candidates", "curves", "fresh", "nested", "replay"):
        sys.exit(__doc__)
    command, results, study = argv[0], Path(argv[1]), Path(argv[2])
    base_tasks = int(argv[argv.index("--base-tasks") + 1]) if "--base-tasks" in argv else None
    folds = int(argv[argv.index("--folds") + 1]) if "--folds" in argv else 3
    shots = int(argv[argv.index("--shots") + 1]) if "--shots" in argv else None
    if command == "candidates":
        fit_candidates(results, study, base_tasks, shots)
    elif command == "curves":
        fit_curves(results, study, base_tasks, shots)
    elif command == "fresh":
        fit_fresh_cv(results, study, base_tasks, folds, shots)
    elif command == "nested":
        fit_nested(results, study, base_tasks, folds, "--fresh" in argv, shots)
    else:
        replay(results, study, *[Path(a) for a in argv[3:]])


if __name__ == "__main__":
    main(sys.argv[1:])
