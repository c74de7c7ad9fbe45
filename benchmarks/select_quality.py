"""Selection quality: how well each transferability score ranks sources, and automatic m.

Protocol (real data, issue 5): the 30 classes of MNIST, Fashion-MNIST and Animal-MNIST; each
class's training images are split into a source half and a target half. ``N_SOURCES`` source
tasks (random 5-class subsets, two thirds within one dataset, one third mixing datasets) each
train a small CNN for a few seconds (torch, one thread) on their source half. ``N_TARGETS``
target tasks (other 5-class subsets) x ``SEEDS``: 25 training images per class from the target
half, 60 test images per class from the datasets' test splits.

Ground truth of a (target, source) pair: a logistic-regression probe on that source's features
of the 125 training images, accuracy on the test images. For every score of
:data:`recycle.select.SCORES`: weighted Kendall tau and top-1 regret against the ground truth.
Automatic m (``choose_m`` over the k-NN ranking) against fixed m in {1, 2, 3, 5}: test accuracy
of a probe on the concatenated (L2-normalised) features of the chosen sources, and how often the
chosen subset contains the ground-truth best source.

Run: ``nice .venv/bin/python benchmarks/select_quality.py [--quick]`` -> a table on stdout and
``benchmarks/results/select_quality.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import time
import warnings
from pathlib import Path

import numpy as np
import torch
from threadpoolctl import threadpool_limits
from torch import nn

DATASETS = ("mnist", "fashion-mnist", "animal-mnist")
WAYS, SHOTS, TEST_PER_CLASS = 5, 25, 60
SOURCE_IMAGES_PER_CLASS, EPOCHS = 400, 3
FIXED_M = (1, 2, 3, 5)
OUT = Path(__file__).parent / "results" / "select_quality.json"


class SmallCNN(nn.Module):
    """Two strided 3x3 convolutions and a 64-d feature layer (~0.26 M multiply-adds/image)."""

    def __init__(self, n_classes: int = WAYS) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(1, 16, 3, stride=2),
            nn.ReLU(),
            nn.Conv2d(16, 32, 3, stride=2),
            nn.ReLU(),
            nn.Flatten(),
            nn.Linear(32 * 6 * 6, 64),
            nn.ReLU(),
        )
        self.head = nn.Linear(64, n_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(x))


def load_pool() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """All 30 classes: train images/labels (global class ids 0..29) and test images/labels."""
    from recycle.datasets import load

    xs, ys, xt, yt = [], [], [], []
    for offset, name in enumerate(DATASETS):
        data = load(name)
        xs.append(data.X_train)
        ys.append(data.y_train + 10 * offset)
        xt.append(data.X_test)
        yt.append(data.y_test + 10 * offset)
    return np.concatenate(xs), np.concatenate(ys), np.concatenate(xt), np.concatenate(yt)


def draw_tasks(n: int, rng: np.random.Generator, avoid: set[tuple[int, ...]]) -> list[list[int]]:
    """5-class subsets: two thirds within one dataset, one third across datasets."""
    tasks: list[list[int]] = []
    while len(tasks) < n:
        if len(tasks) % 3 == 2:
            classes = rng.choice(30, WAYS, replace=False)
        else:
            classes = 10 * rng.integers(3) + rng.choice(10, WAYS, replace=False)
        key = tuple(sorted(int(c) for c in classes))
        if key not in avoid:
            avoid.add(key)
            tasks.append(list(key))
    return tasks


def to_tensor(images: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(images.astype(np.float32) / 255.0).unsqueeze(1)


def train_source(X: np.ndarray, y: np.ndarray, seed: int) -> SmallCNN:
    torch.manual_seed(seed)
    net = SmallCNN()
    opt = torch.optim.Adam(net.parameters(), lr=2e-3)
    xt, yt = to_tensor(X), torch.from_numpy(y)
    gen = torch.Generator().manual_seed(seed)
    for _ in range(EPOCHS):
        for idx in torch.randperm(len(yt), generator=gen).split(64):
            opt.zero_grad()
            nn.functional.cross_entropy(net(xt[idx]), yt[idx]).backward()
            opt.step()
    return net.eval()


@torch.inference_mode()
def embed(net: SmallCNN, images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    feats = net.body(to_tensor(images))
    return feats.numpy(), torch.softmax(net.head(feats), dim=1).numpy()


def probe_accuracy(Ftr: np.ndarray, ytr: np.ndarray, Fte: np.ndarray, yte: np.ndarray) -> float:
    """Ground-truth adaptation: logistic regression on standardised features, test accuracy."""
    from sklearn.linear_model import LogisticRegression

    mu, sd = Ftr.mean(axis=0), Ftr.std(axis=0)
    sd[sd == 0] = 1.0
    clf = LogisticRegression(max_iter=300, C=1.0, solver="newton-cg")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        clf.fit((Ftr - mu) / sd, ytr)
    return float(np.mean(clf.predict((Fte - mu) / sd) == yte))


def concat(feats: list[np.ndarray]) -> np.ndarray:
    return np.concatenate(
        [f / np.maximum(np.linalg.norm(f, axis=1, keepdims=True), 1e-12) for f in feats], axis=1
    )


def run(n_sources: int, n_targets: int, seeds: int, progress: bool = True) -> dict:
    from recycle.select import SCORES, choose_m, selection_quality

    start = time.perf_counter()
    Xtr, ytr, Xte, yte = load_pool()
    split_rng = np.random.default_rng(0)
    source_half = np.zeros(len(ytr), dtype=bool)
    for c in range(30):
        idx = split_rng.permutation(np.flatnonzero(ytr == c))
        source_half[idx[: len(idx) // 2]] = True
    seen: set[tuple[int, ...]] = set()
    src_tasks = draw_tasks(n_sources, np.random.default_rng(100), seen)
    tgt_tasks = draw_tasks(n_targets, np.random.default_rng(200), seen)
    nets = []
    for i, classes in enumerate(src_tasks):
        rng = np.random.default_rng(1000 + i)
        idx = np.concatenate(
            [
                rng.choice(np.flatnonzero(source_half & (ytr == c)), SOURCE_IMAGES_PER_CLASS, False)
                for c in classes
            ]
        )
        nets.append(train_source(Xtr[idx], np.searchsorted(classes, ytr[idx]), seed=i))
        if progress:
            print(f"  source {i + 1}/{n_sources} {classes} trained", flush=True)
    t_sources = time.perf_counter() - start
    rows, per_score = [], {name: {"tau": [], "regret": [], "best": []} for name in SCORES}
    subset_acc = {str(m): [] for m in FIXED_M} | {"auto": []}
    subset_best = {str(m): [] for m in FIXED_M} | {"auto": []}
    auto_ms = []
    for t, classes in enumerate(tgt_tasks):
        for seed in range(seeds):
            rng = np.random.default_rng(10_000 * (t + 1) + seed)
            tr = np.concatenate(
                [
                    rng.choice(np.flatnonzero(~source_half & (ytr == c)), SHOTS, False)
                    for c in classes
                ]
            )
            te = np.concatenate(
                [rng.choice(np.flatnonzero(yte == c), TEST_PER_CLASS, False) for c in classes]
            )
            y_tr, y_te = np.searchsorted(classes, ytr[tr]), np.searchsorted(classes, yte[te])
            emb = [embed(net, np.concatenate([Xtr[tr], Xte[te]])) for net in nets]
            f_tr = [f[: len(tr)] for f, _ in emb]
            f_te = [f[len(tr) :] for f, _ in emb]
            p_tr = [p[: len(tr)] for _, p in emb]
            truth = [probe_accuracy(a, y_tr, b, y_te) for a, b in zip(f_tr, f_te, strict=True)]
            table = {
                name: [
                    info.fn(p if info.needs == "probs" else f, y_tr)
                    for f, p in zip(f_tr, p_tr, strict=True)
                ]
                for name, info in SCORES.items()
            }
            quality = selection_quality(table, truth)
            for name, q in quality.items():
                per_score[name]["tau"].append(q["weighted_tau"])
                per_score[name]["regret"].append(q["top1_regret"])
                per_score[name]["best"].append(q["top1_regret"] == 0.0)
            order = list(np.argsort(-np.asarray(table["knn"]), kind="stable"))
            auto = choose_m([f_tr[i] for i in order], y_tr, seed=seed)
            subsets = {str(m): order[:m] for m in FIXED_M}
            subsets["auto"] = [order[i] for i in auto.chosen]
            best = int(np.argmax(truth))
            for key, sub in subsets.items():
                acc = probe_accuracy(
                    concat([f_tr[i] for i in sub]), y_tr, concat([f_te[i] for i in sub]), y_te
                )
                subset_acc[key].append(acc)
                subset_best[key].append(best in sub)
            auto_ms.append(auto.m)
            rows.append(
                {
                    "target": t,
                    "classes": classes,
                    "seed": seed,
                    "truth": truth,
                    "scores": table,
                    "auto_m": auto.m,
                    "subset_accuracy": {k: v[-1] for k, v in subset_acc.items()},
                }
            )
        if progress:
            elapsed = time.perf_counter() - start
            print(f"  target {t + 1}/{n_targets} {classes} done ({elapsed:.0f} s)", flush=True)

    def stats(values: list[float]) -> dict[str, float]:
        a = np.asarray(values, dtype=np.float64)
        return {
            "mean": float(a.mean()),
            "std": float(a.std(ddof=1)) if a.size > 1 else 0.0,
            "se": float(a.std(ddof=1) / np.sqrt(a.size)) if a.size > 1 else 0.0,
        }

    return {
        "protocol": "select_quality",
        "config": {
            "sources": n_sources,
            "targets": n_targets,
            "seeds": seeds,
            "ways": WAYS,
            "shots": SHOTS,
            "test_per_class": TEST_PER_CLASS,
            "datasets": DATASETS,
            "source_tasks": src_tasks,
            "target_tasks": tgt_tasks,
        },
        "scores": {
            name: {
                "weighted_tau": stats(v["tau"]),
                "top1_regret": stats(v["regret"]),
                "top1_is_best_rate": float(np.mean(v["best"])),
            }
            for name, v in per_score.items()
        },
        "subsets": {
            key: {
                "accuracy": stats(subset_acc[key]),
                "contains_best_rate": float(np.mean(subset_best[key])),
            }
            for key in subset_acc
        },
        "auto_minus_fixed": {
            str(m): stats(list(np.subtract(subset_acc["auto"], subset_acc[str(m)])))
            for m in FIXED_M
        },
        "auto_m": {
            "mean_m": float(np.mean(auto_ms)),
            "histogram": {str(m): auto_ms.count(m) for m in sorted(set(auto_ms))},
        },
        "seconds": {"train_sources": t_sources, "total": time.perf_counter() - start},
        "rows": rows,
    }


def print_report(res: dict) -> None:
    cfg = res["config"]
    print(
        f"\nSelection quality: {cfg['targets']} targets x {cfg['seeds']} seeds, "
        f"{cfg['sources']} sources, {cfg['ways']}-way {cfg['shots']}-shot"
    )
    print(f"{'score':<8} {'weighted tau':>16} {'top-1 regret':>16} {'top-1 = best':>13}")
    for name, q in sorted(res["scores"].items(), key=lambda kv: -kv[1]["weighted_tau"]["mean"]):
        tau, reg = q["weighted_tau"], q["top1_regret"]
        print(
            f"{name:<8} {tau['mean']:>8.3f} ± {tau['std']:.3f} {reg['mean']:>8.3f} ± "
            f"{reg['std']:.3f} {q['top1_is_best_rate']:>12.0%}"
        )
    print(f"\n{'m':<6} {'probe accuracy':>18} {'contains best':>14}   (k-NN ranking)")
    for key, s in res["subsets"].items():
        acc = s["accuracy"]
        print(
            f"{key:<6} {acc['mean']:>9.4f} ± {acc['se']:.4f} (se) {s['contains_best_rate']:>11.0%}"
        )
    print(f"auto m: mean {res['auto_m']['mean_m']:.2f}, histogram {res['auto_m']['histogram']}")
    diffs = ", ".join(
        f"m={m}: {d['mean']:+.4f} ± {d['se']:.4f}" for m, d in res["auto_minus_fixed"].items()
    )
    print(f"auto - fixed m (paired, mean ± se): {diffs}")
    print(
        f"time: {res['seconds']['total']:.0f} s (sources {res['seconds']['train_sources']:.0f} s)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="6 sources, 4 targets, 1 seed")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    torch.set_num_threads(1)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    with threadpool_limits(1):
        res = run(6, 4, 1) if args.quick else run(15, 20, 3)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(res, indent=1, default=float) + "\n")
    print_report(res)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
