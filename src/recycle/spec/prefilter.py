"""Approximate prefilter for big indexes: a cheap first pass, then exact re-ranking.

For an index of many specs (default: more than :data:`APPROX_MIN_POINTS` reduced points), the
first pass compares a compressed query (:data:`QUERY_POINTS` weighted k-means centres of the
query's reduced set) with every reduced point projected on the index's top :data:`DIMS` principal
directions (squared norms kept exact, only the cross term of the residual is dropped). The best
:func:`keep_count` specs of that pass are then scored exactly; they come first in the result, and
``SearchResult.n_exact`` says how many leading scores are exact.

Examples
--------
>>> import numpy as np
>>> Z = np.random.default_rng(0).normal(size=(40, 5))
>>> Zc, bc = compress(Z, np.full(40, 1 / 40), 4)
>>> Zc.shape, round(float(bc.sum()), 6)
((4, 5), 1.0)
"""

from __future__ import annotations

import numpy as np

#: Indexes with more reduced points than this use the prefilter (below it, exact is fast).
APPROX_MIN_POINTS = 50_000
#: Principal directions kept for the first pass.
DIMS = 64
#: Weighted k-means centres the query is compressed to for the first pass (32 missed the best
#: of 1,000 near-duplicate MNIST specs by 9e-4 in MMD^2; 64 found it, for +40% time).
QUERY_POINTS = 64
#: Fewest specs re-scored exactly after the first pass.
KEEP_MIN = 32
#: Share of the index re-scored exactly (1,000 specs: 32; 10,000 specs: 250).
KEEP_FRACTION = 0.025
#: Rows used to fit the principal directions.
PCA_ROWS = 20_000


def pca_basis(Z: np.ndarray, dims: int = DIMS, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Mean and top ``dims`` principal directions (d x dims, float32) of the rows of ``Z``.

    Examples
    --------
    >>> mean, U = pca_basis(np.random.default_rng(0).normal(size=(100, 8)), dims=3)
    >>> U.shape
    (8, 3)
    """
    rng = np.random.default_rng(seed)
    sample = Z if Z.shape[0] <= PCA_ROWS else Z[rng.choice(Z.shape[0], PCA_ROWS, replace=False)]
    sample = sample.astype(np.float64)
    mean = sample.mean(axis=0)
    _, _, Vt = np.linalg.svd(sample - mean, full_matrices=False)
    return mean.astype(np.float32), np.ascontiguousarray(Vt[: min(dims, Vt.shape[0])].T, np.float32)


def compress(
    Z: np.ndarray, beta: np.ndarray, k: int, iters: int = 5
) -> tuple[np.ndarray, np.ndarray]:
    """Weighted k-means of a reduced set to ``k`` centres; weights add up (total mass kept)."""
    Z = np.asarray(Z, dtype=np.float64)
    beta = np.asarray(beta, dtype=np.float64)
    if Z.shape[0] <= k:
        return Z, beta
    centres = Z[np.argsort(-beta, kind="stable")[:k]].copy()
    for _ in range(iters):
        d = (
            np.einsum("ij,ij->i", Z, Z)[:, None]
            - 2 * Z @ centres.T
            + np.einsum("ij,ij->i", centres, centres)[None, :]
        )
        lab = d.argmin(axis=1)
        mass = np.bincount(lab, weights=beta, minlength=k)
        onehot = np.zeros((k, Z.shape[0]))
        onehot[lab, np.arange(Z.shape[0])] = beta
        keep = mass > 0
        centres[keep] = (onehot @ Z)[keep] / mass[keep, None]
    lab = (
        np.einsum("ij,ij->i", Z, Z)[:, None]
        - 2 * Z @ centres.T
        + np.einsum("ij,ij->i", centres, centres)[None, :]
    ).argmin(axis=1)
    mass = np.bincount(lab, weights=beta, minlength=k)
    keep = mass > 0
    return centres[keep], mass[keep] / mass[keep].sum()


def keep_count(n_specs: int) -> int:
    """Specs re-scored exactly after the first pass over ``n_specs`` specs.

    Examples
    --------
    >>> keep_count(1000), keep_count(10000)
    (32, 250)
    """
    return min(n_specs, max(KEEP_MIN, round(KEEP_FRACTION * n_specs)))
