"""Selection-quality metrics: weighted Kendall tau, top-1 regret, best-in-subset."""

from __future__ import annotations

import numpy as np
import pytest

from recycle.errors import DataError
from recycle.select import selection_quality, top1_regret, weighted_tau


def test_weighted_tau_orders() -> None:
    truth = np.array([0.9, 0.8, 0.6, 0.5, 0.2])
    assert weighted_tau(truth * 10, truth) == pytest.approx(1.0)
    assert weighted_tau(-truth, truth) == pytest.approx(-1.0)
    assert weighted_tau(np.ones(5), truth) == 0.0
    # swapping the two best costs more than swapping the two worst (the top weighs most)
    top_swap = np.array([0.8, 0.9, 0.6, 0.5, 0.2])
    bottom_swap = np.array([0.9, 0.8, 0.6, 0.2, 0.5])
    assert weighted_tau(top_swap, truth) < weighted_tau(bottom_swap, truth) < 1.0


def test_top1_regret_and_subsets() -> None:
    truth = [0.5, 0.9, 0.7]
    assert top1_regret([0.1, 0.3, 0.2], truth) == 0.0
    assert top1_regret([0.3, 0.1, 0.2], truth) == pytest.approx(0.4)
    q = selection_quality(
        {"a": [0.3, 0.1, 0.2], "b": [0.0, 1.0, 0.5]}, truth, {"a": [0, 2], "b": [1]}
    )
    assert q["a"]["contains_best"] is False and q["b"]["contains_best"] is True
    assert q["b"]["weighted_tau"] == pytest.approx(1.0)


def test_quality_input_errors() -> None:
    with pytest.raises(DataError, match="one score per source"):
        weighted_tau([1.0, 2.0], [1.0, 2.0, 3.0])
    with pytest.raises(DataError, match="finite"):
        top1_regret([np.nan, 1.0], [0.1, 0.2])
