"""Is ``no_source``'s hard pick between its two kinds the cause of auto's losses, and does a
blend fix it? (issue #23)

``no_source`` fits gradient boosting *or* logistic regression, whichever wins one stratified CV
on the user's rows. On the tabular bench auto lost more than 2 points to the better of the two
kinds (on that fit's test rows) in 23 of 240 fits, 16 of them with auto on ``no_source``. Two
parts:

``stored``
    From the stored rows of ``benchmarks/results/tabular.json`` (no fits): per size, the fits
    where ``no_source`` and ``auto`` are more than 2 points below the better of gb and logreg,
    per fit (on that fit's test rows) and per size (the better on average at that size).
``run``
    Every (target, rows, seed) of the tabular protocol (its own target builders and splits,
    :func:`recycle.bench.tabular.tabular_targets`), fitted on the user's labelled rows and
    scored on the test rows: ``gb``, ``logreg``, ``no_source`` (the current CV pick, the same
    folds as :func:`recycle.adapt.strategies.no_source.choose_kind`), ``blend`` (the mean of
    the two kinds' predicted probabilities, a soft vote) and ``blend_cv`` (the rule below).
    One JSON line per fit; ``table`` prints the summary.

The ``blend_cv`` rule, fixed before any test number was seen: on the same folds as the current
choice (``small_n_folds(y, 3)`` stratified folds, shuffled with the fit's seed), take the
per-fold differences ``d`` of the two kinds' accuracies (gradient boosting - logistic
regression), their mean and Nadeau & Bengio's corrected standard error
``sqrt((1/k + 1/(k-1)) * var(d, ddof=1))``. When ``|mean| > 2 * SE`` the kind with the higher
CV mean is fitted alone (as now); otherwise (including SE = 0 with mean 0, and fewer than two
folds) the two kinds are blended.

The decision rule, fixed before the run: adopt a blend into ``no_source`` only if, on seeds 0
and 1, it has fewer fits more than 2 points below the better of gb/logreg on that fit's test
rows (the per-fit reading) than the current ``no_source``, AND its mean accuracy is not lower
than the current ``no_source``'s at any size; seed 2 then confirms (reported either way).

Usage::

    python research/no_source_blend.py stored
    RECYCLE_CACHE=/tmp/i23cache nice -n 15 python research/no_source_blend.py run \\
        --out research/results/no_source_blend/fits.jsonl
    python research/no_source_blend.py table research/results/no_source_blend/fits.jsonl

Examples
--------
>>> se = corrected_se(np.array([0.1, -0.1, 0.1, -0.1]), 2)  # (1/J + 1/(k-1)) * s^2
>>> bool(abs(se - np.sqrt((1 / 4 + 1) * 4 / 3 * 0.01)) < 1e-12)
True
>>> blend_cv_pick([0.9, 0.9, 0.9], [0.7, 0.7, 0.7])  # no spread, a clear gap: pick
'gradient_boosting'
>>> blend_cv_pick([0.9, 0.7, 0.8], [0.7, 0.9, 0.8])  # the folds disagree: blend
'blend'
"""

from __future__ import annotations

import argparse
import json
import time
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
ROWS = ROOT / "benchmarks" / "results" / "tabular.json"
#: The study's methods: the two kinds, the current pick, and the two blends.
METHODS = ("gb", "logreg", "no_source", "blend", "blend_cv")
#: Standard errors the CV gap must exceed for blend_cv to pick one kind.
SE_FACTOR = 2.0


def corrected_se(d: np.ndarray, k: int) -> float:
    """Nadeau & Bengio's corrected standard error of the mean of ``k``-fold differences ``d``."""
    return float(np.sqrt((1 / len(d) + 1 / (k - 1)) * np.var(d, ddof=1)))


def blend_cv_pick(gb: Sequence[float], logreg: Sequence[float]) -> str:
    """``blend_cv``'s rule on paired fold accuracies: a kind, or ``"blend"``."""
    d = np.asarray(gb, dtype=float) - np.asarray(logreg, dtype=float)
    if len(d) < 2:
        return "blend"
    mean, se = float(d.mean()), corrected_se(d, len(d))
    if abs(mean) > SE_FACTOR * se and mean != 0.0:
        return "gradient_boosting" if mean > 0 else "logistic_regression"
    return "blend"


def _losses(rows: list[dict[str, Any]], method: str, ref: dict[tuple, float]) -> int:
    from recycle.bench.tabular_claims import MARGIN

    return sum(ref[(r["target"], r["shots"], r["seed"])] - r["accuracy"] > MARGIN
               for r in rows if r["method"] == method)  # fmt: skip


def summary(rows: list[dict[str, Any]], methods: Sequence[str]) -> str:
    """Per size: mean accuracy, mean paired gain vs the per-fit best kind and vs logreg, and
    fits > 2 points below the best kind per fit / per size, for each method."""
    from recycle.bench.tabular_claims import best_per_size, grouped

    fits = grouped(rows)
    per_fit = {key: max(m["gb"]["accuracy"], m["logreg"]["accuracy"]) for key, m in fits.items()}
    best = best_per_size(rows)
    per_size = {key: m[best[key[1]]]["accuracy"] for key, m in fits.items()}
    out = [
        "| method | rows | n | accuracy | gain vs best per fit | gain vs logreg "
        "| > 2 below, per fit | > 2 below, per size |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for method in methods:
        for s in sorted(best):
            sub = [r for r in rows if r["method"] == method and r["shots"] == s]
            if not sub:
                continue
            keys = [(r["target"], r["shots"], r["seed"]) for r in sub]
            acc = np.array([r["accuracy"] for r in sub])
            vs_best = acc - np.array([per_fit[k] for k in keys])
            vs_lr = acc - np.array([fits[k]["logreg"]["accuracy"] for k in keys])
            out.append(
                f"| {method} | {s} ({best[s]}) | {len(sub)} | {100 * acc.mean():.1f} "
                f"| {100 * vs_best.mean():+.2f} | {100 * vs_lr.mean():+.2f} "
                f"| {_losses(sub, method, per_fit)} | {_losses(sub, method, per_size)} |"
            )
    return "\n".join(out)


def stored(path: Path = ROWS) -> str:
    """The stored bench rows' counts for gb, logreg, no_source and auto, plus auto's losses on
    fits where it chose no_source."""
    from recycle.bench.tabular_claims import MARGIN, grouped

    rows = json.loads(path.read_text())["rows"]
    rows = [r for r in rows if r["method"] in ("gb", "logreg", "no_source", "auto")]
    lines = [summary(rows, ("gb", "logreg", "no_source", "auto")), ""]
    fits = grouped(rows)
    ns_lost = auto_lost = both = on_ns = 0
    for m in fits.values():
        best = max(m["gb"]["accuracy"], m["logreg"]["accuracy"])
        a = best - m["auto"]["accuracy"] > MARGIN
        n = best - m["no_source"]["accuracy"] > MARGIN
        ns_lost, auto_lost, both = ns_lost + n, auto_lost + a, both + (a and n)
        on_ns += a and m["auto"].get("strategy") == "no_source"
    lines.append(f"Per fit: auto lost {auto_lost}, {on_ns} of them with auto on no_source; "
                 f"no_source lost {ns_lost}; both lost {both}.")  # fmt: skip
    return "\n".join(lines)


def _fold_scores(X: np.ndarray, y: np.ndarray, seed: int) -> tuple[int, dict[str, list[float]]]:
    """Per-fold accuracies of both kinds on ``choose_kind``'s folds."""
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.model_selection import StratifiedKFold, cross_val_score

    from recycle.adapt.split import small_n_folds
    from recycle.adapt.strategies.no_source import CHOICE_FOLDS, candidates

    k = small_n_folds(y, CHOICE_FOLDS)
    if k < 2:
        return k, {}
    folds = StratifiedKFold(k, shuffle=True, random_state=seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return k, {n: [float(v) for v in cross_val_score(e, X, y, cv=folds)]
                   for n, e in candidates(seed).items()}  # fmt: skip


def fit_one(target: Any) -> list[dict[str, Any]]:
    """The study's five methods on one bench target: one row each."""
    from sklearn.exceptions import ConvergenceWarning

    from recycle.adapt.strategies.no_source import candidates

    X = np.asarray(target.X_train, dtype=np.float64)
    Xt = np.asarray(target.X_test, dtype=np.float64)
    y, seed = np.asarray(target.y_train), target.seed
    k, cv = _fold_scores(X, y, seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        models = {n: e.fit(X, y) for n, e in candidates(seed).items()}
    proba = {n: m.predict_proba(Xt) for n, m in models.items()}
    classes = models["gradient_boosting"].classes_
    means = {n: float(np.mean(v)) for n, v in cv.items()}
    current = (max(means, key=lambda n: (means[n], n == "logistic_regression")) if means
               else "logistic_regression")  # fmt: skip
    pick = blend_cv_pick(cv["gradient_boosting"], cv["logistic_regression"]) if cv else "blend"
    mean_p = (proba["gradient_boosting"] + proba["logistic_regression"]) / 2
    preds = {
        "gb": proba["gradient_boosting"], "logreg": proba["logistic_regression"],
        "no_source": proba[current], "blend": mean_p,
        "blend_cv": mean_p if pick == "blend" else proba[pick],
    }  # fmt: skip
    base = {"target": target.name, "shots": target.shots, "seed": seed, "folds": k,
            "cv": cv, "current": current, "blend_cv": pick}  # fmt: skip
    return [{**base, "method": name,
             "accuracy": float(np.mean(classes[p.argmax(1)] == target.y_test))}
            for name, p in preds.items()]  # fmt: skip


def run(out: Path, seeds: int) -> None:
    """Every tabular target (the bench zoo's names only choose the ``table`` users' sources,
    which the study does not use), appended to ``out``; fits already there are skipped."""
    from recycle.bench.tabular import TABULAR_SHOTS, tabular_pool, tabular_targets

    done = set()
    if out.exists():
        done = {(r["target"], r["shots"], r["seed"]) for r in map(json.loads, out.open())}
    targets = tabular_targets(tabular_pool(False, None, None), False, seeds, TABULAR_SHOTS)
    out.parent.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    with out.open("a") as f:
        for i, t in enumerate(targets):
            if (t.name, t.shots, t.seed) in done:
                continue
            for row in fit_one(t):
                f.write(json.dumps(row) + "\n")
            f.flush()
            print(f"{i + 1}/{len(targets)} {t.name} {t.shots} {t.seed} "
                  f"{time.perf_counter() - start:.0f}s", flush=True)  # fmt: skip


def table(path: Path, seeds: Sequence[int] | None) -> str:
    """The summary of ``run``'s rows, restricted to ``seeds`` when given."""
    rows = [json.loads(line) for line in path.open()]
    if seeds is not None:
        rows = [r for r in rows if r["seed"] in seeds]
    return summary(rows, METHODS)


def main(argv: Sequence[str] | None = None) -> None:
    """Command line: ``stored``, ``run`` or ``table``."""
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("stored")
    s.add_argument("rows", nargs="?", type=Path, default=ROWS)
    r = sub.add_parser("run")
    r.add_argument("--out", type=Path, required=True)
    r.add_argument("--seeds", type=int, default=3)
    t = sub.add_parser("table")
    t.add_argument("path", type=Path)
    t.add_argument("--seeds", type=int, nargs="*")
    a = p.parse_args(argv)
    if a.cmd == "stored":
        print(stored(a.rows))
    elif a.cmd == "run":
        run(a.out, a.seeds)
    else:
        print(table(a.path, a.seeds))


if __name__ == "__main__":
    main()
