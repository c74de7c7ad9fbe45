"""Learning-curve-aware cross-validation on small tables: at least ten folds under 100 rows, so
the models auto compares train on nearly as many rows as their refit."""

from __future__ import annotations

import numpy as np
import pytest

import recycle.adapt.strategies  # noqa: F401  (registers the strategies)
from recycle.adapt.auto import REFERENCE, TABULAR_BASELINES, TABULAR_REFERENCE, choose
from recycle.adapt.split import SMALL_N_FOLDS, SMALL_N_ROWS, small_n_folds


def _step(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A balanced step in the first column (the label is whether it is above its median)."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 4))
    return X, (X[:, 0] > np.median(X[:, 0])).astype(int)


@pytest.mark.parametrize(
    ("n", "k", "expected"),
    [(50, 3, SMALL_N_FOLDS), (SMALL_N_ROWS - 2, 3, SMALL_N_FOLDS), (SMALL_N_ROWS, 3, 3),
     (250, 5, 5), (50, 12, 12)],
)  # fmt: skip
def test_small_tables_get_more_folds(n: int, k: int, expected: int) -> None:
    y = np.arange(n) % 2
    assert small_n_folds(y, k) == expected


def test_the_smallest_class_still_caps_the_folds() -> None:
    assert small_n_folds(np.array([0] * 45 + [1] * 5), 3) == 5


@pytest.mark.parametrize(("n", "folds"), [(50, SMALL_N_FOLDS), (120, 3)])
def test_auto_on_a_named_table_cross_validates_with_more_folds_under_100_rows(
    n: int, folds: int
) -> None:
    X, y = _step(n)
    c = choose([], X, y, [], {}, m_selected=0, references=(TABULAR_REFERENCE,),
               baselines=TABULAR_BASELINES, seed=0)  # fmt: skip
    assert {len(r.scores) for r in c.cv} == {2 * folds}  # 2 repeats


def test_other_modalities_keep_their_folds() -> None:
    X, y = _step(50)
    c = choose([], X, y, [], {}, m_selected=0, references=(REFERENCE,), seed=0,
               params={"*": {"max_epochs": 2}})  # fmt: skip
    assert {len(r.scores) for r in c.cv} == {6}
