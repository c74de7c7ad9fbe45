"""The guard's risk bound: how much worse than each no-source model auto's choice may be.

The guard decides on mean cross-validated accuracy with a plain standard error; a choice it
keeps can still be worse than a no-source model on new data. :func:`risk_bound` puts a number
on that: the one-sided 95 % upper confidence bound of the accuracy difference (no-source model
- chosen candidate) from the paired per-fold differences, with Nadeau & Bengio's (2003)
corrected variance ``(1/J + n_test/n_train) * s^2`` for ``J`` folds whose training sets overlap
(for k-fold, ``n_test/n_train = 1/(k-1)``) and a Student t quantile with ``J - 1`` degrees of
freedom. ``report_["guard"]["risk"]`` holds the bound for every scored no-source model, and
``report_["warnings"]`` says it plainly when a bound exceeds :data:`RISK_LIMIT`.

On 25 labelled rows the folds hold a handful of rows each and the bound is wide on almost every
fit: there the warning says "the data cannot tell", not "this fit is bad" (``docs/AUTO.md``).

Examples
--------
>>> chosen = [0.90, 0.85, 0.95, 0.90, 0.80, 0.90]
>>> bounds = risk_bounds({"mcw": chosen, "no_source": [0.85, 0.85, 0.90, 0.85, 0.85, 0.85]},
...                      "mcw", ["no_source"], folds=3)
>>> bounds
{'no_source': 0.0438}
>>> risk_note(bounds, "mcw").split(" (")[0]
"auto's choice mcw may be up to 4.4 points below no_source on new data"
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import numpy as np
from numpy.typing import ArrayLike
from scipy import stats

#: Confidence level of the one-sided upper bound.
RISK_LEVEL = 0.95
#: ``report_`` warns when a no-source model may be better than the choice by more than this
#: (accuracy, 2 points: the issue's "never > 2 points below without saying so").
RISK_LIMIT = 0.02


def risk_bound(
    no_source: ArrayLike, chosen: ArrayLike, folds: int, level: float = RISK_LEVEL
) -> float:
    """One-sided upper bound (at ``level``) of the mean accuracy difference ``no_source -
    chosen`` over paired folds of repeated ``folds``-fold cross-validation.

    Variance: Nadeau & Bengio's ``(1/J + 1/(folds-1)) * s^2`` for ``J`` paired differences;
    quantile: Student t with ``J - 1`` degrees of freedom. With one fold there is no spread to
    estimate: the bound is the difference itself.

    >>> risk_bound([0.8, 0.8, 0.8, 0.8], [0.9, 0.9, 0.9, 0.9], folds=2)
    -0.1
    >>> d = np.array([0.1, -0.1, 0.1, -0.1])  # mean 0, s^2 = 4/3 * 0.01
    >>> se = np.sqrt((1 / 4 + 1 / 1) * d.var(ddof=1))
    >>> bool(abs(risk_bound(0.8 + d, [0.8] * 4, folds=2) - stats.t.ppf(0.95, 3) * se) < 1e-6)
    True
    """
    diff = np.asarray(no_source, dtype=float) - np.asarray(chosen, dtype=float)
    mean = float(diff.mean())
    if len(diff) < 2:
        return round(mean, 9)
    ratio = 1 / (folds - 1) if folds > 1 else 0.0  # n_test / n_train of one k-fold split
    se = float(np.sqrt((1 / len(diff) + ratio) * diff.var(ddof=1)))
    return round(mean + float(stats.t.ppf(level, len(diff) - 1)) * se, 9)


def risk_bounds(
    scores: Mapping[str, ArrayLike], chosen: str, no_source: Iterable[str], folds: int
) -> dict[str, float]:
    """:func:`risk_bound` of every scored ``no_source`` model (besides ``chosen``) against
    ``chosen``, rounded to 1e-4; models without scores are left out."""
    return {
        k: round(risk_bound(scores[k], scores[chosen], folds), 4)
        for k in dict.fromkeys(no_source)
        if k != chosen and k in scores and np.size(scores[k]) == np.size(scores[chosen])
    }


def risk_note(bounds: Mapping[str, float], chosen: str, limit: float = RISK_LIMIT) -> str | None:
    """The plain warning for the bounds over ``limit`` (None when there are none)."""
    over = {k: v for k, v in bounds.items() if v > limit}
    if not over:
        return None
    worst = ", ".join(f"{100 * v:.1f} points below {k}" for k, v in over.items())
    return (
        f"auto's choice {chosen} may be up to {worst} on new data (one-sided "
        f"{100 * RISK_LEVEL:.0f}% upper bound from cross-validation, over the "
        f"{100 * limit:g}-point limit)"
    )
