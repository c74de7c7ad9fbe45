"""How close do a spec's reduced points get to the private rows? (the m knob, on MNIST)

A provider holds 1,500 MNIST training images ([0, 1] pixels). For each m we build the spec and
measure, for every reduced point z, the distance to its nearest training row, divided by the
typical nearest-neighbour distance between real rows (median over rows of the distance to the
closest other row). A ratio near 0 would mean a reduced point is a near-copy of a row; ~1 means
it is as far from any row as real rows are from each other. The residual (squared RKHS distance
to the data's kernel mean) shows what fidelity each m buys.

Run:  nice .venv/bin/python benchmarks/spec_privacy.py [--quick]
Writes benchmarks/results/spec_privacy.json.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import argparse
import json
import time
from pathlib import Path

import numpy as np

from recycle.datasets import load
from recycle.spec import build_spec
from recycle.spec.kernel import sq_dists

RESULTS = Path(__file__).parent / "results"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args()
    ds = load("mnist")
    ms = [10, 50, 200] if args.quick else [10, 25, 50, 100, 200, 400, 750]
    seeds = [0] if args.quick else [0, 1]
    rows = []
    for seed in seeds:
        rng = np.random.default_rng(seed)
        X = ds.X_train[rng.choice(len(ds.X_train), 1500, replace=False)]
        X = X.reshape(len(X), -1).astype(np.float64) / 255.0
        D = sq_dists(X, X)
        np.fill_diagonal(D, np.inf)
        nn_real = float(np.median(np.sqrt(D.min(axis=1))))
        for m in ms:
            t = time.perf_counter()
            spec = build_spec(X, m=m, seed=seed)
            dt = time.perf_counter() - t
            near = np.sqrt(sq_dists(spec.Z.astype(np.float64), X).min(axis=1))
            rel = near / nn_real
            rows.append(
                {
                    "seed": seed,
                    "m": m,
                    "n": len(X),
                    "nn_real_median": nn_real,
                    "nearest_row_min": float(near.min()),
                    "ratio_min": float(rel.min()),
                    "ratio_median": float(np.median(rel)),
                    "exact_copies": int((near == 0).sum()),
                    "residual": spec.residual,
                    "build_s": dt,
                }
            )
            print(rows[-1], flush=True)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "spec_privacy.json").write_text(json.dumps({"rows": rows}, indent=1))


if __name__ == "__main__":
    main()
