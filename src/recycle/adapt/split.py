"""The stratified splits of the adapt package: one hold-out rule and one k-fold rule.

- :func:`stratified_holdout`: the validation split that early stopping watches. Every class
  with at least two rows holds out ``round(fraction * rows)`` of them, at least one and never
  all; when a class has a single row no split is made (training then runs without early
  stopping).
- :func:`early_stopping_split`: the small network's rule (it trains from scratch): the same
  hold-out, but none at all when ``round(fraction * rows)`` is smaller than the number of
  classes; such a target is too small to spare rows for early stopping, and training on every row
  for the full epoch budget is more accurate there (benchmarks/adapt_holdout_accuracy.py: +0.4 to
  +1.5 points at 5 rows per class on digits, 3 seeds).
- :func:`stratified_folds`: the (repeated) stratified k-fold of auto's cross-validation and of
  the out-of-fold predictions of stacking and feature augment. ``k`` is capped at the size of
  the smallest class (:func:`n_folds`).
- :func:`small_n_folds`: more folds on small tables (:data:`SMALL_N_ROWS`), so that a model
  cross-validated there trains on nearly as many rows as its refit (the learning curve is
  steep at a few dozen rows: gradient boosting's leaves of 20 rows cannot split 33 rows at all).

Examples
--------
>>> y = np.array([0, 0, 0, 1, 1, 1])
>>> train, val = stratified_holdout(y, 0.1)
>>> len(train), len(val), sorted(y[val].tolist())
(4, 2, [0, 1])
>>> [len(test) for _, test in stratified_folds(y, 5)]
[2, 2, 2]
"""

from __future__ import annotations

import numpy as np
from sklearn.model_selection import RepeatedStratifiedKFold

from recycle.errors import DataError

#: Below this many labelled rows a k-fold's training folds (2/3 of the rows at k=3) are on the
#: steep part of the learning curve: :func:`small_n_folds` then uses :data:`SMALL_N_FOLDS`.
SMALL_N_ROWS = 100
#: Folds on small tables: each model trains on 90 % of the rows (Kohavi 1995's 10-fold).
SMALL_N_FOLDS = 10


def stratified_holdout(
    y: np.ndarray, fraction: float = 0.1, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Indices ``(train, val)``: ``fraction`` of each class held out (see the module docstring).

    Examples
    --------
    >>> tr, va = stratified_holdout(np.array([0, 0, 1]), 0.5)
    >>> len(tr), len(va)
    (3, 0)
    """
    y = np.asarray(y)
    classes = np.unique(y)
    if any(np.sum(y == c) < 2 for c in classes):
        return np.arange(len(y)), np.arange(0)
    rng = np.random.default_rng(seed)
    train, val = [], []
    for c in classes:
        idx = rng.permutation(np.flatnonzero(y == c))
        k = min(len(idx) - 1, max(1, round(fraction * len(idx))))
        val.append(idx[:k])
        train.append(idx[k:])
    return np.concatenate(train), np.concatenate(val)


def early_stopping_split(
    y: np.ndarray, fraction: float = 0.1, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """:func:`stratified_holdout`, or no hold-out when ``round(fraction * len(y))`` is smaller
    than the number of classes (see the module docstring).

    Examples
    --------
    >>> tr, va = early_stopping_split(np.repeat(np.arange(10), 5), 0.1)  # 5 rows < 10 classes
    >>> len(tr), len(va)
    (50, 0)
    >>> tr, va = early_stopping_split(np.repeat(np.arange(10), 10), 0.1)
    >>> len(tr), len(va)
    (90, 10)
    """
    y = np.asarray(y)
    if round(fraction * len(y)) < len(np.unique(y)):
        return np.arange(len(y)), np.arange(0)
    return stratified_holdout(y, fraction, seed)


def n_folds(y: np.ndarray, k: int) -> int:
    """``k``, or fewer when the smallest class has fewer rows.

    >>> n_folds(np.array([0, 0, 1, 1, 1]), 3)
    2
    """
    counts = np.bincount(np.asarray(y))
    return int(min(k, counts[counts > 0].min()))


def small_n_folds(y: np.ndarray, k: int) -> int:
    """``k`` folds, or at least :data:`SMALL_N_FOLDS` below :data:`SMALL_N_ROWS` rows; capped
    by the smallest class (:func:`n_folds`).

    At 50 rows, 3-fold trains each model on 33 rows, where scikit-learn's gradient boosting
    (leaves of at least 20 rows) cannot split and scores as a constant; refitted on all 50 it
    can. Ten folds train on 45 rows, closer to what is refitted (``docs/AUTO.md``).

    >>> small_n_folds(np.repeat([0, 1], 25), 3), small_n_folds(np.repeat([0, 1], 100), 3)
    (10, 3)
    >>> small_n_folds(np.array([0] * 40 + [1] * 4), 3)  # the smallest class has 4 rows
    4
    """
    return n_folds(y, k if len(y) >= SMALL_N_ROWS else max(k, SMALL_N_FOLDS))


def stratified_folds(
    y: np.ndarray, k: int, *, repeats: int = 1, seed: int = 0
) -> list[tuple[np.ndarray, np.ndarray]]:
    """The ``(train, test)`` index pairs of a shuffled stratified k-fold, repeat after repeat;
    within a repeat, split ``i`` tests on fold ``i``. ``k`` is capped by :func:`n_folds`.

    Raises DataError when the smallest class has fewer than two rows (no fold can test on it).
    """
    folds = n_folds(y, k)
    if folds < 2:
        raise DataError(
            f"A stratified {k}-fold split needs at least 2 rows in every class; the smallest "
            f"class has {folds}. Add examples to that class or drop it."
        )
    splitter = RepeatedStratifiedKFold(n_splits=folds, n_repeats=repeats, random_state=seed)
    return list(splitter.split(np.zeros(len(y)), y))
