"""Selection quality against ground truth: weighted Kendall tau, top-1 regret, best-in-subset.

The ground truth of a target is each single source's accuracy after adaptation (here and in
``benchmarks/select_quality.py``: a linear probe on that source's features, evaluated on the
target's test set). A score is good when it orders the sources like the ground truth, with the
top of the order weighing most.

Examples
--------
>>> truth = [0.9, 0.5, 0.7]
>>> top1_regret([3.0, 1.0, 2.0], truth)
0.0
>>> round(top1_regret([1.0, 3.0, 2.0], truth), 3)
0.4
>>> round(weighted_tau([3.0, 1.0, 2.0], truth), 3)
1.0
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from recycle.errors import DataError


def _pair(scores: ArrayLike, truth: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    s = np.asarray(scores, dtype=np.float64).reshape(-1)
    t = np.asarray(truth, dtype=np.float64).reshape(-1)
    if s.shape != t.shape or s.size < 2:
        raise DataError(
            f"Need one score per source and >= 2 sources; got {s.size} scores and {t.size} "
            "ground-truth values."
        )
    if not (np.all(np.isfinite(s)) and np.all(np.isfinite(t))):
        raise DataError("Scores and ground truth must be finite; drop failed sources first.")
    return s, t


def weighted_tau(scores: ArrayLike, truth: ArrayLike) -> float:
    """Weighted Kendall tau between a score and the ground truth (``scipy.stats.weightedtau``).

    Vigna, "A Weighted Correlation Index for Rankings with Ties", WWW 2015; hyperbolic weights
    on the rank by ground truth (``rank=True`` with the ground truth first), so swapping the best
    sources costs more than swapping the worst. 1 is a perfect order; a constant score gives 0.
    """
    from scipy.stats import weightedtau

    s, t = _pair(scores, truth)
    if np.ptp(s) == 0 or np.ptp(t) == 0:
        return 0.0
    value = float(weightedtau(t, s).statistic)
    return value if np.isfinite(value) else 0.0


def top1_regret(scores: ArrayLike, truth: ArrayLike) -> float:
    """Ground-truth accuracy lost by taking the score's top source: ``max(t) - t[argmax(s)]``."""
    s, t = _pair(scores, truth)
    return float(t.max() - t[int(np.argmax(s))])


def selection_quality(
    table: Mapping[str, ArrayLike],
    truth: ArrayLike,
    subsets: Mapping[str, Sequence[int]] | None = None,
) -> dict[str, dict[str, Any]]:
    """Per score: weighted tau, top-1 regret, and whether its subset holds the best source.

    Parameters
    ----------
    table : mapping name -> scores
        One score per source for each score name (sources in the same order as ``truth``).
    truth : sequence of float
        Ground-truth accuracy of each source.
    subsets : mapping name -> source indices, optional
        The subset each score's selector chose; ``contains_best`` is reported for those.

    Examples
    --------
    >>> q = selection_quality({"knn": [0.8, 0.2, 0.5]}, [0.9, 0.4, 0.6], {"knn": [0, 2]})
    >>> q["knn"]["top1_regret"], q["knn"]["contains_best"]
    (0.0, True)
    """
    t = np.asarray(truth, dtype=np.float64)
    best = int(np.argmax(t))
    out: dict[str, dict[str, Any]] = {}
    for name, scores in table.items():
        row: dict[str, Any] = {
            "weighted_tau": weighted_tau(scores, t),
            "top1_regret": top1_regret(scores, t),
        }
        if subsets is not None and name in subsets:
            row["contains_best"] = best in {int(i) for i in subsets[name]}
        out[name] = row
    return out
