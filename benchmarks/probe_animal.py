"""Linear probe on EfficientNet-Lite0 features vs raw pixels, Animal-MNIST (2,000 / 1,000).

Also sweeps the EfficientNet input size to justify the default for small images (96 px).
Writes ``benchmarks/results/probe_animal.json`` (rows of earlier runs with other sizes are kept).

Usage::

    nice .venv/bin/python benchmarks/probe_animal.py [--sizes 64 96 128 224] [--seed 0]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from recycle import datasets
from recycle.sources import builtin

N_TRAIN, N_TEST = 2000, 1000


def probe(
    F_train: np.ndarray, y_train: np.ndarray, F_test: np.ndarray, y_test: np.ndarray
) -> float:
    clf = make_pipeline(StandardScaler(), LogisticRegression(C=0.1, max_iter=2000))
    clf.fit(F_train, y_train)
    return float((clf.predict(F_test) == y_test).mean())


def merge_rows(path: Path, seed: int, rows: list[dict]) -> list[dict]:
    """Keep rows of earlier runs (same seed) for sizes this run did not measure."""
    if not path.is_file():
        return rows
    old = json.loads(path.read_text())
    if old.get("seed") != seed:
        return rows
    done = {(r["features"], r["image_size"]) for r in rows}
    kept = [r for r in old["rows"] if (r["features"], r["image_size"]) not in done]
    return sorted(kept + rows, key=lambda r: (r["features"] != "raw pixels", r["image_size"]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", type=int, nargs="+", default=[64, 96, 128])
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.set_num_threads(1)
    ds = datasets.load("animal-mnist")
    X = np.concatenate([ds.X_train, ds.X_test])
    y = np.concatenate([ds.y_train, ds.y_test])
    X_tr, X_te, y_tr, y_te = train_test_split(
        X, y, train_size=N_TRAIN, test_size=N_TEST, stratify=y, random_state=args.seed
    )
    rows = []
    flat = lambda A: A.reshape(len(A), -1).astype(np.float32) / 255.0  # noqa: E731
    rows.append({"features": "raw pixels", "image_size": 28, "dim": 784, "embed_seconds": 0.0,
                 "accuracy": probe(flat(X_tr), y_tr, flat(X_te), y_te)})  # fmt: skip
    print(rows[-1], flush=True)
    for size in args.sizes:
        src = builtin("effnet_lite0.imagenet", image_size=size)
        t = time.perf_counter()
        F_tr, F_te = src.embed(X_tr), src.embed(X_te)
        seconds = time.perf_counter() - t
        rows.append({"features": "effnet_lite0.imagenet", "image_size": size, "dim": 1280,
                     "embed_seconds": round(seconds, 1),
                     "images_per_second": round((N_TRAIN + N_TEST) / seconds, 1),
                     "accuracy": probe(F_tr, y_tr, F_te, y_te)})  # fmt: skip
        print(rows[-1], flush=True)
    out = Path(__file__).parent / "results" / "probe_animal.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    rows = merge_rows(out, args.seed, rows)
    payload = {"dataset": "animal-mnist", "n_train": N_TRAIN, "n_test": N_TEST,
               "seed": args.seed, "torch_threads": 1, "rows": rows}  # fmt: skip
    out.write_text(json.dumps(payload, indent=2) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
