"""stream28's tasks: the class halves, the task draw and the per-task data (no training).

The 30 classes (10 per dataset, 28x28 grayscale) each have their images split by seed into two
disjoint halves: a *source half* and a *target half*. :func:`draw_tasks` draws ``N_TASKS``
five-way tasks by seed (about two thirds within one dataset, one third mixing datasets);
:func:`build_tasks` turns the first ``n_sources`` into :class:`SourceTask` (their source half,
at most ``cap`` images per class) and the last ``n_targets`` into :class:`TargetTask` (a pool of
target-half images to draw shots from, and a fixed test set).

Examples
--------
>>> draw_tasks(0)[0]
[12, 18, 19, 22, 25]
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from recycle.errors import ConfigError, DataError

DATASETS = ("mnist", "fashion-mnist", "animal-mnist")
N_TASKS = 60  # the stream length (sources first, then targets)
WAYS = 5  # classes per task
WITHIN_FRACTION = 2 / 3  # share of tasks drawn within one dataset
TEST_PER_CLASS = 100  # target-half images per class in a target's fixed test set
POOL_CAP, QUICK_POOL_CAP = 600, 300  # target-half images kept per class (full, quick)
QUICK_TARGETS = 3  # target tasks of the quick variant


@dataclass
class SourceTask:
    """A source task: its classes and its source-half training images."""

    index: int
    name: str  # zoo name, e.g. "stream28.s0-<digest>.task00"
    classes: list[str]  # "dataset:class" names
    class_ids: list[int]  # global ids 0..29
    X_train: np.ndarray
    y_train: np.ndarray


@dataclass
class TargetTask:
    """A target task: a pool of target-half images to draw shots from and a fixed test set."""

    index: int
    name: str
    classes: list[str]
    class_ids: list[int]
    X_pool: np.ndarray
    y_pool: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray

    def sample(self, shots: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
        """Return ``shots`` training examples in total, stratified over the classes, by seed."""
        n_cls = len(self.classes)
        if shots < 2 * n_cls:
            raise ConfigError(f"shots must be >= {2 * n_cls} (2 per class); got {shots}.")
        rng = np.random.default_rng([seed, self.index, shots])
        per = np.full(n_cls, shots // n_cls)
        per[rng.permutation(n_cls)[: shots % n_cls]] += 1
        idx = []
        for c in range(n_cls):
            members = np.flatnonzero(self.y_pool == c)
            if per[c] > len(members):
                raise DataError(f"Task {self.name} has {len(members)} images of class {c}.")
            idx.append(rng.choice(members, per[c], replace=False))
        order = rng.permutation(np.concatenate(idx))
        return self.X_pool[order], self.y_pool[order]


def load_class_halves(seed: int, cap: int, pool_cap: int) -> tuple[list[str], list, list]:
    """Per global class: (source-half images capped at ``cap``, target-half at ``pool_cap``)."""
    from recycle.datasets import load

    names, src, tgt = [], [], []
    rng = np.random.default_rng([seed, 28])
    for ds_name in DATASETS:
        ds = load(ds_name)
        parts = [(ds.X_train, ds.y_train), (ds.X_test, ds.y_test)]
        if ds.X_val is not None and ds.y_val is not None:
            parts.append((ds.X_val, ds.y_val))
        X = np.concatenate([np.asarray(p[0], dtype=np.uint8) for p in parts])
        y = np.concatenate([np.asarray(p[1]) for p in parts])
        # Drop exact duplicate images so the two halves share no image.
        rows = np.ascontiguousarray(X.reshape(len(X), -1)).view(np.dtype((np.void, X[0].size)))
        keep = np.sort(np.unique(rows.ravel(), return_index=True)[1])
        X, y = X[keep], y[keep]
        for c, cname in enumerate(ds.classes):
            members = rng.permutation(np.flatnonzero(y == c))
            half = len(members) // 2
            names.append(f"{ds_name}:{cname}")
            src.append(X[members[:half][:cap]])
            tgt.append(X[members[half:][:pool_cap]])
    return names, src, tgt


def draw_tasks(seed: int, n_tasks: int = N_TASKS) -> list[list[int]]:
    """Draw ``n_tasks`` distinct 5-way class sets over the 30 global classes.

    Examples
    --------
    >>> t = draw_tasks(0)
    >>> len(t), all(len(c) == 5 for c in t)
    (60, True)
    """
    rng = np.random.default_rng([seed, 60])
    tasks: list[list[int]] = []
    while len(tasks) < n_tasks:
        if rng.random() < WITHIN_FRACTION:
            d = int(rng.integers(len(DATASETS)))
            cls = sorted(int(c) + 10 * d for c in rng.choice(10, WAYS, replace=False))
        else:
            cls = sorted(int(c) for c in rng.choice(30, WAYS, replace=False))
            if len({c // 10 for c in cls}) < 2:
                continue
        if cls not in tasks:
            tasks.append(cls)
    return tasks


def build_tasks(
    seed: int,
    n_sources: int,
    n_targets: int,
    prefix: str,
    cap: int,
    pool_cap: int,
    test_per_class: int,
) -> tuple[list[SourceTask], list[TargetTask]]:
    """The source tasks (first ``n_sources`` of the draw) and target tasks (last ``n_targets``).

    Parameters
    ----------
    seed : int
        Seed of the class halves and of the task draw.
    n_sources, n_targets : int
    prefix : str
        Start of every task name (``{prefix}.task00``, ``{prefix}.target59``).
    cap, pool_cap : int
        Source-half images per class for sources; target-half images per class kept for targets.
    test_per_class : int
        Target-half images per class in each target's fixed test set (the rest is its pool).
    """
    names, src, tgt = load_class_halves(seed, cap, pool_cap)
    draws = draw_tasks(seed)
    sources, targets = [], []
    for i, cls in enumerate(draws[:n_sources]):
        X = np.concatenate([src[c] for c in cls])
        y = np.concatenate([np.full(len(src[c]), j) for j, c in enumerate(cls)])
        sources.append(SourceTask(i, f"{prefix}.task{i:02d}", [names[c] for c in cls], cls, X, y))
    for i in range(N_TASKS - n_targets, N_TASKS):
        cls = draws[i]
        t = test_per_class
        Xt = np.concatenate([tgt[c][:t] for c in cls])
        yt = np.concatenate([np.full(len(tgt[c][:t]), j) for j, c in enumerate(cls)])
        Xp = np.concatenate([tgt[c][t:] for c in cls])
        yp = np.concatenate([np.full(len(tgt[c][t:]), j) for j, c in enumerate(cls)])
        targets.append(
            TargetTask(i, f"{prefix}.target{i:02d}", [names[c] for c in cls], cls, Xp, yp, Xt, yt)
        )
    return sources, targets
