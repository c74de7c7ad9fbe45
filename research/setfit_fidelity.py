"""How cheap can auto's cross-validation of SetFit be? (issue #22, auto on the LoRA library)

For text_fewshot targets (seed 0), scores on auto's own 3-fold split: SetFit at the low
fidelity given on the command line and ``minilm_logreg`` (the reference it must rank against),
then fits the low-fidelity SetFit on the whole train split and tests it, beside the full
SetFit and minilm_logreg test accuracies of ``benchmarks/results/text_fewshot.json``.

Usage::

    nice -n 10 python research/setfit_fidelity.py --iterations 5 --seconds 20 --out OUT.json
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

import recycle.adapt.strategies  # noqa: F401  (registers the strategies)
from recycle.adapt.auto import cv_splits, fit_and_score
from recycle.adapt.registry import build
from recycle.adapt.strategies.minilm_probe import embeddings_reused
from recycle.bench.text_fewshot import fewshot_targets

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--iterations", type=int, default=5)
    p.add_argument("--seconds", type=float, default=20.0)
    p.add_argument("--shots", default="8,32")
    p.add_argument("--out", required=True)
    a = p.parse_args()
    torch.set_num_threads(1)
    low = {"setfit": {"num_iterations": a.iterations, "max_seconds": a.seconds}}
    rows = json.loads((ROOT / "benchmarks/results/text_fewshot.json").read_text())["rows"]
    test = {(r["method"], r["target"], r["shots"], r["seed"]): r["accuracy"] for r in rows}
    out = []
    shots = tuple(int(s) for s in a.shots.split(","))
    for t in fewshot_targets(shots, 1):
        y = np.asarray(t.y_train)
        row = {"target": t.name, "shots": t.shots, "seed": t.seed}
        with embeddings_reused():
            for name in ("minilm_logreg", "setfit"):
                t0 = time.perf_counter()
                accs = [
                    fit_and_score(name, [], t.X_train, y, {}, tr, te, 0, low)[0]
                    for tr, te in cv_splits(y, 3, 1, t.seed)
                ]
                row[f"cv_{name}"] = round(float(np.mean(accs)), 4)
                row[f"cv_{name}_s_per_fit"] = round((time.perf_counter() - t0) / len(accs), 1)
        t0 = time.perf_counter()
        est = build("setfit", [], t.seed, low).fit(t.X_train, y)
        row["test_setfit_low"] = round(float(np.mean(est.predict(t.X_test) == t.y_test)), 4)
        row["fit_s_setfit_low"] = round(time.perf_counter() - t0, 1)
        for m in ("setfit", "minilm_logreg"):
            row[f"test_{m}"] = test.get((m, t.name, t.shots, t.seed))
        out.append(row)
        print(json.dumps(row), flush=True)
        Path(a.out).write_text(json.dumps({"low": low, "rows": out}, indent=1))


if __name__ == "__main__":
    main()
