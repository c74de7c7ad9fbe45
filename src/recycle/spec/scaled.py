"""Scaled specs: a table's RKME spec also computed in a per-column quantile space.

A Gaussian kernel on raw columns takes its bandwidth from the widest column: on spam7,
``crl.tot`` (a count of capital letters, up to ~10,000) sets ``gamma`` and every other column
(percentages under 1) is invisible to the kernel, so per-row source weights see one column.
Mapping each column through its provider's empirical quantiles (:func:`quantile_map`, then
:func:`to_quantiles`) puts every column on [0, 1] by rank: a heavy tail no longer sets the
bandwidth, and a row is compared with the provider's rows column by column.

:func:`build_scaled_spec` returns the ordinary spec of the raw rows (what column matching and
imputation read) with ``meta["scaled"]``: the quantile map (:data:`QUANTILE_LEVELS` knots per
column; marginal quantiles, no rows) and a second reduced set, weights and bandwidth built on
the mapped rows. Consumers that compare rows with the spec (``spec_weighted``) map the rows
with the same map first (:func:`scaled_part`); a spec without ``meta["scaled"]`` is used raw,
as before. :func:`scaled_mmd2` compares a table's rows with a scaled spec in its quantile
space (``Zoo.search`` re-ranks tabular hits with it).

Examples
--------
>>> import numpy as np
>>> rng = np.random.default_rng(0)
>>> X = np.c_[rng.normal(size=400), rng.lognormal(5, 2, size=400)]  # one heavy tail
>>> spec = build_scaled_spec(X, m=20, seed=0)
>>> part = scaled_part(spec)
>>> Q = to_quantiles(part["knots"], X)
>>> bool(Q.min() >= 0 and Q.max() <= 1), part["Z"].shape
(True, (20, 2))
>>> round(float(np.median(Q[:, 1])), 2)  # the heavy column's median maps to the middle
0.5
"""

from __future__ import annotations

from typing import Any

import numpy as np

from recycle.errors import DataError
from recycle.spec.format import Spec
from recycle.spec.kernel import gaussian
from recycle.spec.rkme import as_rows, build_spec

#: Quantile levels of the stored knots: 1 % to 99 % (the extremes would be single rows'
#: values), 49 knots per column. Values outside the knots map to the first or last level.
QUANTILE_LEVELS = np.linspace(0.01, 0.99, 49)
#: :func:`scaled_mmd2` compares at most this many rows (evenly spaced), so its ``n x n``
#: kernel stays small (8 MB).
MAX_ROWS = 1000


def quantile_map(X: Any) -> np.ndarray:
    """``(d, len(QUANTILE_LEVELS))`` knots: each column's quantiles at :data:`QUANTILE_LEVELS`.

    >>> quantile_map(np.arange(101.0)[:, None])[0, [0, 24, 48]].tolist()
    [1.0, 50.0, 99.0]
    """
    A = as_rows(X)
    return np.quantile(A, QUANTILE_LEVELS, axis=0).T.copy()


def to_quantiles(knots: Any, X: Any) -> np.ndarray:
    """Rows ``X`` mapped column by column onto [0, 1] through ``knots``
    (:func:`quantile_map`): linear between knots; a value equal to several tied knots (a
    discrete column) gets the mean of their levels.

    >>> knots = quantile_map(np.r_[np.zeros(80), np.ones(20)][:, None])
    >>> to_quantiles(knots, np.array([[0.0], [1.0], [0.5]])).round(2).ravel().tolist()
    [0.4, 0.91, 0.65]
    """
    K = np.asarray(knots, dtype=np.float64)
    A = as_rows(X)
    if A.shape[1] != K.shape[0]:
        raise DataError(
            f"The quantile map has {K.shape[0]} columns but the rows have {A.shape[1]}; map "
            "rows in the spec's own column space."
        )
    out = np.empty_like(A)
    for j in range(K.shape[0]):
        values, inverse = np.unique(K[j], return_inverse=True)
        levels = np.bincount(inverse, QUANTILE_LEVELS) / np.bincount(inverse)
        out[:, j] = np.interp(A[:, j], values, levels)
    return out


def build_scaled_spec(X: Any, m: int = 100, seed: int = 0) -> Spec:
    """The raw RKME spec of ``X`` with ``meta["scaled"]``: the quantile map and the reduced
    set of the mapped rows (see the module docstring)."""
    spec = build_spec(X, m=m, seed=seed)
    knots = quantile_map(X)
    inner = build_spec(to_quantiles(knots, X), m=m, seed=seed)
    spec.meta["scaled"] = {
        "levels": QUANTILE_LEVELS.round(6).tolist(),
        "knots": knots.tolist(),
        "Z": inner.Z.astype(np.float64).tolist(),
        "beta": inner.beta.tolist(),
        "gamma": float(inner.gamma),
    }
    return spec


def scaled_part(spec: Any) -> dict[str, Any] | None:
    """``{"knots", "Z", "beta", "gamma"}`` (arrays) of a scaled spec; None for a plain one."""
    meta = getattr(spec, "meta", None) if not isinstance(spec, dict) else spec.get("meta")
    part = (meta or {}).get("scaled")
    if not part:
        return None
    if not np.allclose(part.get("levels", QUANTILE_LEVELS), QUANTILE_LEVELS, atol=1e-6):
        raise DataError(
            "This spec's quantile map uses other levels than this version of recycle; rebuild "
            "the spec (recycle spec build) with this version."
        )
    return {
        "knots": np.asarray(part["knots"], dtype=np.float64),
        "Z": np.asarray(part["Z"], dtype=np.float64),
        "beta": np.asarray(part["beta"], dtype=np.float64),
        "gamma": float(part["gamma"]),
    }


def scaled_mmd2(spec: Any, X: Any) -> float | None:
    """Squared MMD between rows ``X`` mapped through ``spec``'s quantile map and the spec's
    scaled reduced set (its weights and bandwidth); None for a plain spec.

    >>> rng = np.random.default_rng(0)
    >>> spec = build_scaled_spec(np.c_[rng.normal(size=400), rng.lognormal(5, 2, 400)], m=20)
    >>> same = np.c_[rng.normal(size=200), rng.lognormal(5, 2, 200)]
    >>> other = np.c_[rng.normal(2, 1, size=200), rng.lognormal(5, 2, 200)]
    >>> bool(scaled_mmd2(spec, same) < scaled_mmd2(spec, other))
    True
    """
    part = scaled_part(spec)
    return None if part is None else part_mmd2(part, X)


def part_mmd2(part: dict[str, Any], X: Any) -> float:
    """:func:`scaled_mmd2` on an already parsed :func:`scaled_part` (searches keep those)."""
    A = as_rows(X)
    if len(A) > MAX_ROWS:
        A = A[np.linspace(0, len(A) - 1, MAX_ROWS).astype(int)]
    Q = to_quantiles(part["knots"], A)
    Z, beta, g = part["Z"], part["beta"], part["gamma"]
    value = (
        gaussian(Q, Q, g).mean() + beta @ gaussian(Z, Z, g) @ beta
        - 2.0 * gaussian(Q, Z, g).mean(0) @ beta
    )  # fmt: skip
    return float(max(value, 0.0))
