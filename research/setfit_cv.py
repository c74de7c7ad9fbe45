"""Can auto's cross-validation rank SetFit at 8-32 labelled texts per class? (issue #22)

auto on the text LoRA library scores SetFit in a 3-fold CV beside frozen MiniLM and the
recycled candidates. On text_fewshot it stayed below SetFit at 8, 16 and 32 texts per class.
This study asks why, in three parts:

``agreement``
    From the stored ``auto`` rows of ``benchmarks/results/text_fewshot.json`` (no fits): per
    shot count, how often the sign of SetFit - frozen MiniLM in auto's own CV folds matches the
    sign on the test set, and how often the guard would keep SetFit if comparisons with it used
    the corrected standard error and a larger factor (the stored folds replayed through
    :func:`recycle.adapt.auto.guard.guard_decision`).
``curve``
    SetFit (at auto's CV fidelity) and frozen MiniLM + logistic regression fitted on each
    3-fold training part of one target and scored on the *whole test set*: is SetFit's CV low
    because 5 validation texts are noise, or because SetFit on 10-11 texts is a worse model?
``folds``
    The same targets' CV at more folds (``--k``): do training parts closer to n rank SetFit
    as the test does?

Usage::

    python research/setfit_cv.py agreement
    nice -n 10 python research/setfit_cv.py curve --target fortunes_food_sports --shots 8
    nice -n 10 python research/setfit_cv.py folds --k 6 --out research/results/setfit_cv/k6.json

``curve`` and ``folds`` need the MiniLM asset and the text_fewshot corpora (``make setup``).
"""

from __future__ import annotations

import argparse
import json
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
ROWS = ROOT / "benchmarks" / "results" / "text_fewshot.json"
#: SetFit's CV fidelity inside auto (recycle.adapt.auto.fidelity.LOW_FIDELITY).
LOW = {"setfit": {"max_seconds": 30.0}}
REFERENCES = ("tfidf_logreg", "minilm_logreg", "setfit")


def _by_fit(rows: list[dict[str, Any]]) -> dict[tuple, dict[str, dict[str, Any]]]:
    fits: dict[tuple, dict[str, dict[str, Any]]] = defaultdict(dict)
    for r in rows:
        fits[(r["target"], r["shots"], r["seed"])][r["method"]] = r
    return fits


def sign_agreement(rows: list[dict[str, Any]]) -> dict[int, tuple[int, int]]:
    """Per shot count: (fits where CV and test agree on the sign of SetFit - MiniLM, fits).

    >>> folds = {"setfit": [[0.6, 0.8, 0.7], []], "minilm_logreg": [[0.9, 0.9, 0.9], []]}
    >>> rows = [{"target": "t", "shots": 8, "seed": 0, "method": "auto", "cv_folds": folds},
    ...         {"target": "t", "shots": 8, "seed": 0, "method": "setfit", "accuracy": 0.93},
    ...         {"target": "t", "shots": 8, "seed": 0, "method": "minilm_logreg", "accuracy": 0.91}]
    >>> sign_agreement(rows)
    {8: (0, 1)}
    """
    out: Counter[tuple[int, bool]] = Counter()
    for (_, shots, _), fit in _by_fit(rows).items():
        if "auto" not in fit or not {"setfit", "minilm_logreg"} <= set(fit):
            continue
        folds = fit["auto"].get("cv_folds") or {}
        if "setfit" not in folds or "minilm_logreg" not in folds:
            continue
        cv = np.mean(folds["setfit"][0]) - np.mean(folds["minilm_logreg"][0])
        test = fit["setfit"]["accuracy"] - fit["minilm_logreg"]["accuracy"]
        out[(shots, bool(np.sign(cv) == np.sign(test)))] += 1
    shots_seen = sorted({s for s, _ in out})
    return {s: (out[(s, True)], out[(s, True)] + out[(s, False)]) for s in shots_seen}


def kept_setfit(rows: list[dict[str, Any]], factor: float) -> dict[int, tuple[int, int]]:
    """Per shot count: (fits where the replayed guard would choose SetFit, fits), when every
    comparison with SetFit uses the corrected SE (3 folds) and ``factor`` standard errors."""
    from recycle.adapt.auto import guard

    plain = guard._compare

    def strict(a: str, b: str, scores: Any, losses: Any, k: Any, f: float) -> Any:
        return plain(a, b, scores, losses, 3, factor) if b == "setfit" else plain(
            a, b, scores, losses, k, f)  # fmt: skip

    out: Counter[tuple[int, bool]] = Counter()
    for (_, shots, _), fit in sorted(_by_fit(rows).items()):
        folds = (fit.get("auto") or {}).get("cv_folds")
        if not folds or "setfit" not in folds:
            continue
        scores = {k: v[0] for k, v in folds.items()}
        losses = {k: v[1] for k, v in folds.items()}
        guard._compare = strict
        try:
            use = guard.guard_decision(
                scores, REFERENCES, losses=losses, folds=3, default_reference="setfit",
                default=[k for k in scores if k.startswith("mcw@")],
            ).use  # fmt: skip
        finally:
            guard._compare = plain
        out[(shots, use == "setfit")] += 1
    shots_seen = sorted({s for s, _ in out})
    return {s: (out[(s, True)], out[(s, True)] + out[(s, False)]) for s in shots_seen}


def _target(name: str, shots: int, seed: int) -> Any:
    from recycle.bench.text_fewshot import fewshot_targets

    for t in fewshot_targets((shots,), seed + 1, only=(name,)):
        if t.seed == seed:
            return t
    raise SystemExit(f"no target {name} at {shots} per class, seed {seed}")


def curve(name: str, shots: int, seed: int) -> list[dict[str, Any]]:
    """SetFit (CV fidelity) and frozen MiniLM fitted on each 3-fold training part, scored on
    the fold's validation texts and on the whole test set."""
    import recycle.adapt.strategies  # noqa: F401  (registers the strategies)
    from recycle.adapt.auto import cv_splits
    from recycle.adapt.registry import build

    t = _target(name, shots, seed)
    y, y_test = np.asarray(t.y_train), np.asarray(t.y_test)
    out = []
    for i, (train, val) in enumerate(cv_splits(y, 3, 1, seed)):
        X = [t.X_train[j] for j in train]
        for method in ("setfit", "minilm_logreg"):
            est = build(method, [], seed, LOW).fit(X, y[train])
            out.append({
                "fold": i, "train": len(train), "method": method,
                "validation": float(np.mean(est.predict([t.X_train[j] for j in val]) == y[val])),
                "test": float(np.mean(est.predict(t.X_test) == y_test)),
            })  # fmt: skip
            print(json.dumps(out[-1]), flush=True)
    return out


def folds(k: int, shots: tuple[int, ...], seeds: int, out: Path) -> None:
    """CV of SetFit (CV fidelity) and frozen MiniLM at ``k`` folds on the protocol's targets."""
    import recycle.adapt.strategies  # noqa: F401
    from recycle.adapt.auto import cv_splits, fit_and_score
    from recycle.adapt.strategies.minilm_probe import embeddings_reused
    from recycle.bench.text_fewshot import fewshot_targets

    rows = []
    for t in fewshot_targets(shots, seeds):
        y = np.asarray(t.y_train)
        row: dict[str, Any] = {"target": t.name, "shots": t.shots, "seed": t.seed, "k": k}
        with embeddings_reused():
            for method in ("minilm_logreg", "setfit"):
                start = time.perf_counter()
                row[method] = [
                    fit_and_score(method, [], t.X_train, y, {}, tr, te, t.seed, LOW)[0]
                    for tr, te in cv_splits(y, k, 1, t.seed)
                ]
                row[f"{method}_s"] = round(time.perf_counter() - start)
        rows.append(row)
        print(json.dumps(row), flush=True)
        out.write_text(json.dumps(rows, indent=1))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="command", required=True)
    sub.add_parser("agreement")
    c = sub.add_parser("curve")
    c.add_argument("--target", default="fortunes_food_sports")
    c.add_argument("--shots", type=int, default=8)
    c.add_argument("--seed", type=int, default=0)
    f = sub.add_parser("folds")
    f.add_argument("--k", type=int, default=6)
    f.add_argument("--shots", default="8,16")
    f.add_argument("--seeds", type=int, default=2)
    f.add_argument("--out", type=Path, required=True)
    a = p.parse_args()
    if a.command == "agreement":
        rows = json.loads(ROWS.read_text())["rows"]
        for s, (agree, n) in sign_agreement(rows).items():
            print(f"{s:>3} per class: CV sign of SetFit - MiniLM matches the test on {agree}/{n}")
        for factor in (1.0, 1.645, 2.0, 3.0):
            kept = kept_setfit(rows, factor)
            cells = ", ".join(f"{s}: {k}/{n}" for s, (k, n) in kept.items())
            print(f"corrected SE x {factor:g} against SetFit: SetFit chosen {cells}")
    elif a.command == "curve":
        curve(a.target, a.shots, a.seed)
    else:
        import torch

        torch.set_num_threads(1)
        folds(a.k, tuple(int(s) for s in a.shots.split(",")), a.seeds, a.out)


if __name__ == "__main__":
    main()
