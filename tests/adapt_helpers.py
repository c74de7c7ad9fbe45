"""Sources for the adaptation tests: fixed random projections, pure noise, and two small MLP
feature extractors trained on digits (8x8) subsets."""

from __future__ import annotations

import functools
import hashlib
from typing import Any

import numpy as np


class RandomProjection:
    """A fixed random-projection feature extractor ``tanh(X W / sqrt(d))`` for any input width."""

    modality = "tabular"
    access = "black-box"

    def __init__(self, seed: int = 0, feature_dim: int = 16) -> None:
        self.seed = seed
        self.feature_dim = feature_dim
        self.source_id = f"rp.s{seed}.d{feature_dim}"

    def embed(self, X: Any) -> np.ndarray:
        X = np.asarray(X, dtype=np.float64).reshape(len(X), -1)
        W = np.random.default_rng(self.seed).normal(size=(X.shape[1], self.feature_dim))
        return np.tanh(X @ W / np.sqrt(X.shape[1])).astype(np.float32)


class NoiseSource:
    """Pure noise: each row's features depend only on a hash of the row, not on its content's
    meaning (deterministic, so train/test features are consistent but uninformative)."""

    modality = "tabular"
    access = "black-box"

    def __init__(self, seed: int = 0, feature_dim: int = 32) -> None:
        self.seed = seed
        self.feature_dim = feature_dim
        self.source_id = f"noise.s{seed}"

    def embed(self, X: Any) -> np.ndarray:
        rows = np.asarray(X, dtype=np.float64).reshape(len(X), -1)
        out = np.empty((len(rows), self.feature_dim), dtype=np.float32)
        for i, row in enumerate(rows):
            h = int.from_bytes(hashlib.sha256(row.tobytes()).digest()[:8], "little")
            out[i] = np.random.default_rng((h, self.seed)).normal(size=self.feature_dim)
        return out


def digits() -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import load_digits

    X, y = load_digits(return_X_y=True)
    return (X / 16.0).astype(np.float32), y


#: Rows of digits used to train the sources; targets come from the rest.
SOURCE_ROWS = 1000


@functools.lru_cache(maxsize=4)
def digit_mlp(classes: tuple[int, ...], seed: int = 0, hidden: int = 64, dim: int = 32) -> Any:
    """A TorchSource: a 2-layer MLP (64 -> hidden -> dim) trained with a head on ``classes``."""
    import torch
    from torch import nn

    from recycle.sources import TorchSource
    from recycle.sources.arch import build_architecture

    X, y = digits()
    mask = np.isin(y[:SOURCE_ROWS], classes)
    Xs, ys = torch.from_numpy(X[:SOURCE_ROWS][mask]), y[:SOURCE_ROWS][mask]
    yt = torch.from_numpy(np.searchsorted(np.asarray(classes), ys))
    torch.manual_seed(seed)
    net = build_architecture("mlp", in_features=64, hidden=[hidden], out_features=dim)
    head = nn.Linear(dim, len(classes))
    opt = torch.optim.Adam([*net.parameters(), *head.parameters()], lr=1e-2)
    for _ in range(150):
        opt.zero_grad()
        loss = nn.functional.cross_entropy(head(torch.relu(net(Xs))), yt)
        loss.backward()
        opt.step()
    net.eval()
    name = "".join(str(c) for c in classes)
    return TorchSource(
        net, "tabular:identity", dim, source_id=f"mlp.digits{name}",
        head=head, source_classes=[str(c) for c in classes],
    )  # fmt: skip


def target(
    classes: tuple[int, ...], shots: int, seed: int = 0
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """A few-shot target from the digits rows the sources never saw: train and test splits."""
    X, y = digits()
    X, y = X[SOURCE_ROWS:], y[SOURCE_ROWS:]
    rng = np.random.default_rng(seed)
    train = []
    for c in classes:
        idx = np.flatnonzero(y == c)
        train.extend(rng.choice(idx, size=shots, replace=False))
    train_idx = np.array(sorted(train))
    test_mask = np.isin(y, classes)
    test_mask[train_idx] = False
    return X[train_idx], y[train_idx], X[test_mask], y[test_mask]


def ece_by_hand(y_true: np.ndarray, proba: np.ndarray, n_bins: int = 15) -> float:
    """Expected calibration error written out loop by loop, to check the library's against.

    >>> ece_by_hand(np.array([0, 1]), np.array([[0.9, 0.1], [0.8, 0.2]]))  # conf .9 right, .8 wrong
    0.45
    """
    total = 0.0
    conf, pred = proba.max(axis=1), proba.argmax(axis=1)
    for b in range(n_bins):
        lo, hi = b / n_bins, (b + 1) / n_bins
        rows = [i for i in range(len(conf)) if (lo < conf[i] <= hi) or (b == 0 and conf[i] == 0)]
        if rows:
            acc = sum(pred[i] == y_true[i] for i in rows) / len(rows)
            total += len(rows) / len(conf) * abs(acc - sum(conf[i] for i in rows) / len(rows))
    return round(float(total), 12)
