"""Shared helpers of the selection scores: input checks, stratified splits, k-NN votes.

Everything here is pure numpy and deterministic given a seed.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from recycle.errors import DataError

#: Rows of the query block in chunked distance computations (memory: CHUNK x n floats).
CHUNK = 1024


def check_features(F: np.ndarray, y: np.ndarray, name: str = "F") -> tuple[np.ndarray, np.ndarray]:
    """Validate ``(F, y)``; return float64 ``F`` (n x d) and labels re-coded to ``0..C-1``.

    Raises :class:`~recycle.errors.DataError` for wrong shapes, non-finite values or fewer than
    two classes.
    """
    arr = np.asarray(F)
    if arr.ndim == 1:
        arr = arr.reshape(-1, 1)
    if arr.ndim != 2:
        raise DataError(
            f"{name} must be a 2-D array (n examples x d features); got shape {arr.shape}. "
            "Flatten or pool the features first."
        )
    arr = arr.astype(np.float64, copy=False)
    labels = check_labels(y, arr.shape[0], name)
    if not np.all(np.isfinite(arr)):
        raise DataError(
            f"{name} contains NaN or infinite values; the source produced non-finite features. "
            "Check the source or drop the bad rows."
        )
    return arr, labels


def check_labels(y: np.ndarray, n: int, name: str = "F") -> np.ndarray:
    """Return ``y`` re-coded to ``0..C-1``; check its length against ``n`` and >= 2 classes."""
    y = np.asarray(y).reshape(-1)
    if y.shape[0] != n:
        raise DataError(
            f"{name} has {n} rows but y has {y.shape[0]} labels; pass one label per row."
        )
    _, codes = np.unique(y, return_inverse=True)
    if codes.size == 0 or codes.max() < 1:
        raise DataError(
            f"The target has {int(codes.max(initial=-1)) + 1} class(es); need at least 2 classes "
            "to score transferability."
        )
    return codes.astype(np.int64)


def stratified_folds(
    y: np.ndarray, n_splits: int, n_repeats: int = 1, seed: int = 0
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Yield ``(train_idx, test_idx)`` of repeated stratified K-fold, robust to tiny classes.

    Each class's (shuffled) examples are dealt round-robin over the folds, starting at a random
    fold, so a class with fewer examples than folds simply misses some test folds (scikit-learn
    warns and may fail there). ``n_splits`` is clipped to ``[2, n]``. Folds with an empty test
    or train side are skipped.
    """
    n = y.shape[0]
    n_splits = int(min(max(n_splits, 2), n))
    rng = np.random.default_rng(seed)
    for _ in range(max(1, n_repeats)):
        fold = np.empty(n, dtype=np.int64)
        for c in np.unique(y):
            idx = np.flatnonzero(y == c)
            idx = idx[rng.permutation(idx.size)]
            start = int(rng.integers(n_splits))
            fold[idx] = (start + np.arange(idx.size)) % n_splits
        for f in range(n_splits):
            test = np.flatnonzero(fold == f)
            train = np.flatnonzero(fold != f)
            if test.size and train.size:
                yield train, test


def stratified_holdout(y: np.ndarray, fraction: float, seed: int = 0) -> tuple[np.ndarray, ...]:
    """Split indices into ``(train, val)`` keeping ``fraction`` of each class for validation.

    Every class with >= 2 examples puts at least one example in each side; a class with a single
    example stays in train.
    """
    rng = np.random.default_rng(seed)
    train: list[np.ndarray] = []
    val: list[np.ndarray] = []
    for c in np.unique(y):
        idx = np.flatnonzero(y == c)
        idx = idx[rng.permutation(idx.size)]
        n_val = round(fraction * idx.size)
        n_val = min(max(n_val, 1), idx.size - 1) if idx.size >= 2 else 0
        val.append(idx[:n_val])
        train.append(idx[n_val:])
    return np.sort(np.concatenate(train)), np.sort(np.concatenate(val))


def knn_predict(
    F_train: np.ndarray,
    y_train: np.ndarray,
    F_query: np.ndarray,
    k: int,
    n_classes: int,
    exclude_self: bool = False,
) -> np.ndarray:
    """Majority vote of the ``k`` nearest (Euclidean) training rows for every query row.

    Distances are computed in blocks of :data:`CHUNK` query rows (``O(n_q n_t d)`` time,
    ``O(CHUNK n_t)`` memory). Ties are broken towards the class of the nearer neighbours.
    With ``exclude_self`` the query set *is* the training set and each row ignores itself
    (leave-one-out).
    """
    import torch  # top-k selection is ~4x faster than numpy's argpartition

    n_t = F_train.shape[0]
    k = int(min(k, n_t - 1 if exclude_self else n_t))
    k = max(k, 1)
    Ft = torch.from_numpy(np.ascontiguousarray(F_train, dtype=np.float32))
    Fq = torch.from_numpy(np.ascontiguousarray(F_query, dtype=np.float32))
    sq_t = (Ft * Ft).sum(dim=1)
    labels_t = torch.from_numpy(np.asarray(y_train, dtype=np.int64))
    out = np.empty(Fq.shape[0], dtype=np.int64)
    # one vote per neighbour, plus a tie-breaker that favours nearer neighbours
    weights = torch.from_numpy(1.0 + 1e-3 / (1.0 + np.arange(k)))
    with torch.inference_mode():
        for start in range(0, Fq.shape[0], CHUNK):
            q = Fq[start : start + CHUNK]
            d2 = sq_t[None, :] - 2.0 * (q @ Ft.T)  # |q|^2 is constant per row: not needed
            if exclude_self:
                rows = torch.arange(q.shape[0])
                d2[rows, start + rows] = float("inf")
            nn = torch.topk(d2, k, dim=1, largest=False, sorted=True).indices
            votes = torch.zeros((q.shape[0], n_classes), dtype=torch.float64)
            votes.scatter_add_(1, labels_t[nn], weights.expand(q.shape[0], k).contiguous())
            out[start : start + q.shape[0]] = votes.argmax(dim=1).numpy()
    return out
