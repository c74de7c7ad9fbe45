"""Matching a user's table columns to a source's columns: by name, then by type and distribution.

A tabular source's card names its columns (``input.columns``, with ``column_types``); a user's
table may hold a subset of them, more, the same under other names, or other columns altogether.
:func:`match_columns` decides, for each source column, which user column feeds it:

1. **by name**: the same name, else the same name up to case and punctuation
   (``Total Day Minutes`` = ``total_day_minutes``);
2. **by type and distribution**, for source columns still unmatched (learnware's heterogeneous
   market idea: relate feature spaces through what the specifications say about them): the
   source's RKME spec is a weighted set of points in its own column space, so each column's
   weighted mean is a data-free summary of the provider's column (measured on mlc_churn with
   m=100: every column's mean within 2 % of the data's; spreads shrink, so they are not used).
   A user column of a compatible type (:func:`column_type`) whose mean lies within
   :data:`MAX_MEAN_SHIFT` of its own standard deviation from the source column's (or
   :data:`MEAN_SHIFT_SE` standard errors of its mean, on few rows) is a candidate;
   the pairing minimising the total shift is taken (Hungarian assignment). A mean is weak
   evidence for flags (a 0/1 column's rate is its whole distribution) and small counts:
   unrelated tables share them (wa_churn's flags met 6 of mlc_churn's 7 by rate; HMDA's
   ``mhist`` met mlc_churn's service calls, its flags the plan flags). So distribution matches
   are kept only when the table shares :data:`MIN_NAME_ANCHORS` column names (of the same
   type) with the source, or when at least :data:`MIN_CONTINUOUS_ANCHORS` real-valued columns
   matched (their means are specific). One shared name is not enough: credit_data's ``Age``
   let 20 of attrition's flags and counts match its columns by their means;
3. **imputed**: the rest get the source column's spec mean (the provider's average, data-free).

The result, a :class:`ColumnMap`, turns user rows into the source's input
(:meth:`ColumnMap.apply`) and is saved with a model so predictions map columns the same way.

Examples
--------
>>> import numpy as np
>>> X = np.array([[1.0, 0.0, 7.0], [3.0, 1.0, 9.0]])
>>> cmap = match_columns(["Age", "flag", "other"], X, ["age", "income"], fill=[40.0, 2.5])
>>> cmap.taken_from, cmap.how
(['Age', None], ['name', 'imputed'])
>>> cmap.apply(["Age", "flag", "other"], X).tolist()
[[1.0, 2.5], [3.0, 2.5]]
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from recycle.errors import DataError

#: Largest |source mean - user mean| / user std for a distribution match: a tenth of a standard
#: deviation (a renamed copy of a column sits at ~0.02 on mlc_churn; unrelated columns of the
#: same type mostly lie farther, and the assignment takes the closest anyway) ...
MAX_MEAN_SHIFT = 0.1
#: ... or, on few rows, this many standard errors of the user's mean (std / sqrt(rows)): with
#: 150 rows a copy's sample mean is off by up to ~0.25 std.
MEAN_SHIFT_SE = 3.0
#: Real-valued columns that must match by distribution before any distribution match is kept,
#: when no column name is shared (see the module docstring).
MIN_CONTINUOUS_ANCHORS = 2
#: Same-type column names shared with the source before distribution matches are kept.
MIN_NAME_ANCHORS = 2
#: Types that may feed each other by distribution: only the same type (a copied column keeps
#: its type; letting counts feed amounts matched wa_churn's tenure, in months, to mlc_churn's
#: day charge, in USD, by their means).
COMPATIBLE = {"binary": {"binary"}, "integer": {"integer"}, "continuous": {"continuous"}}


def normalise(name: str) -> str:
    """A column name up to case and punctuation.

    >>> normalise("Total Day-Minutes"), normalise("total_day_minutes")
    ('totaldayminutes', 'totaldayminutes')
    """
    return re.sub(r"[^0-9a-z]", "", name.lower())


def column_type(values: np.ndarray) -> str:
    """``"binary"`` (only 0 and 1), ``"integer"`` (whole numbers) or ``"continuous"``.

    >>> [column_type(np.array(v)) for v in ([0, 1, 1.0], [2, 5], [0.5])]
    ['binary', 'integer', 'continuous']
    """
    v = np.asarray(values, dtype=np.float64)
    v = v[np.isfinite(v)]
    if v.size and np.all((v == 0) | (v == 1)):
        return "binary"
    if v.size and np.all(v == np.round(v)):
        return "integer"
    return "continuous"


def spec_means(spec: Any) -> np.ndarray:
    """Per-column weighted mean of a spec's reduced set (the provider's column means)."""
    Z = np.asarray(spec.Z, dtype=np.float64)
    beta = np.asarray(spec.beta, dtype=np.float64)
    return np.asarray((beta / beta.sum()) @ Z)


@dataclass
class ColumnMap:
    """Where each source column comes from in the user's table."""

    source_columns: list[str]  # the source's columns, in its order
    taken_from: list[str | None]  # the user column feeding each one; None = imputed
    how: list[str]  # "name", "distribution" or "imputed", per source column
    fill: list[float]  # the value an imputed column gets (the source's spec mean)

    @property
    def n_matched(self) -> int:
        """Source columns fed by a user column."""
        return sum(c is not None for c in self.taken_from)

    def to_dict(self) -> dict[str, Any]:
        """JSON-able view (saved with a model)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ColumnMap:
        """Inverse of :meth:`to_dict`."""
        return cls(**{k: list(data[k]) for k in ("source_columns", "taken_from", "how", "fill")})

    def apply(self, user_columns: list[str], X: Any) -> np.ndarray:
        """The source's input ``(n, len(source_columns))`` built from user rows ``X``."""
        A = np.asarray(X, dtype=np.float32)
        where = {c: i for i, c in enumerate(user_columns)}
        missing = [c for c in self.taken_from if c is not None and c not in where]
        if missing:
            raise DataError(
                f"The table lacks column(s) {missing[:5]} that the model maps to its sources; "
                "give the columns it was fitted with."
            )
        out = np.empty((len(A), len(self.source_columns)), dtype=np.float32)
        for j, (col, value) in enumerate(zip(self.taken_from, self.fill, strict=True)):
            out[:, j] = A[:, where[col]] if col is not None else value
        return out


def _by_name(user: list[str], source: list[str]) -> dict[int, str]:
    exact = {j: c for j, c in enumerate(source) if c in user}
    loose = {normalise(c): c for c in user if c not in exact.values()}
    for j, c in enumerate(source):
        if j not in exact and normalise(c) in loose:
            exact[j] = loose.pop(normalise(c))
    return exact


def _by_distribution(
    user: list[str], X: np.ndarray, free_src: list[int], means: np.ndarray, types: list[str]
) -> dict[int, str]:
    from scipy.optimize import linear_sum_assignment

    free_user = [i for i, c in enumerate(user)]
    if not free_src or not free_user:
        return {}
    mu = X[:, free_user].mean(axis=0)
    sd = X[:, free_user].std(axis=0) + 1e-9
    kinds = [column_type(X[:, i]) for i in free_user]
    cost = np.abs(means[free_src][:, None] - mu[None, :]) / sd[None, :]
    for a, j in enumerate(free_src):
        for b, kind in enumerate(kinds):
            if kind not in COMPATIBLE[types[j]]:
                cost[a, b] = np.inf
    big = 1e6  # stands for "no match" in the assignment
    rows, cols = linear_sum_assignment(np.where(np.isfinite(cost), cost, big))
    return {
        free_src[a]: user[free_user[b]]
        for a, b in zip(rows, cols, strict=True)
        if cost[a, b] <= max(MAX_MEAN_SHIFT, MEAN_SHIFT_SE / np.sqrt(len(X)))
    }


def match_columns(
    user_columns: list[str],
    X: Any,
    source_columns: list[str],
    *,
    fill: list[float] | None = None,
    spec: Any = None,
    source_types: list[str] | None = None,
) -> ColumnMap:
    """Map ``source_columns`` to the user's columns (see the module docstring).

    Parameters
    ----------
    user_columns : list of str
        The user's column names, one per column of ``X``.
    X : array-like of shape (n, len(user_columns))
        The user's rows (their means and types drive the distribution match).
    source_columns : list of str
        The source's columns (its card's ``input.columns``).
    fill : list of float, optional
        Values for imputed columns; default the spec's column means (zeros without a spec).
    spec : Spec, optional
        The source's RKME spec in its raw column space; without it only names are matched.
    source_types : list of str, optional
        The card's ``input.column_types``; default "continuous" for every column.

    Returns
    -------
    ColumnMap
    """
    A = np.asarray(X, dtype=np.float64)
    means = spec_means(spec) if spec is not None else None
    if means is not None and len(means) != len(source_columns):
        means = None  # a spec of another space says nothing about these columns
    if fill is None:
        fill = [0.0] * len(source_columns) if means is None else means.tolist()
    taken = _by_name(list(user_columns), list(source_columns))
    if means is not None:
        left_user = [c for c in user_columns if c not in taken.values()]
        free_src = [j for j in range(len(source_columns)) if j not in taken]
        types = list(source_types or ["continuous"] * len(source_columns))
        keep = [user_columns.index(c) for c in left_user]
        by_dist = _by_distribution(left_user, A[:, keep], free_src, means, types)
        same_type = [j for j, c in taken.items() if column_type(A[:, user_columns.index(c)])
                     in COMPATIBLE[types[j]]]  # fmt: skip
        continuous = sum(types[j] == "continuous" for j in by_dist)
        if len(same_type) < MIN_NAME_ANCHORS and continuous < MIN_CONTINUOUS_ANCHORS:
            by_dist = {}
    else:
        by_dist = {}
    taken_from: list[str | None] = []
    how = []
    for j in range(len(source_columns)):
        col = taken.get(j) or by_dist.get(j)
        taken_from.append(col)
        how.append("name" if j in taken else "distribution" if j in by_dist else "imputed")
    return ColumnMap(list(source_columns), taken_from, how, [float(v) for v in fill])
