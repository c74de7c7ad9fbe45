"""Gaussian kernel pieces shared by the RKME build and the search.

All kernels are ``k(x, y) = exp(-gamma * ||x - y||^2)``; distances use the norms trick
``||x||^2 + ||y||^2 - 2 x.y`` (one matrix product), clamped at 0.

Examples
--------
>>> import numpy as np
>>> X = np.random.default_rng(0).normal(size=(50, 3))
>>> g = median_gamma(X)
>>> K = gaussian(X, X, g)
>>> bool(np.allclose(np.diag(K), 1.0))
True
"""

from __future__ import annotations

import numpy as np

#: Rows used to estimate the median pairwise distance (the bandwidth), enough for a stable median.
MEDIAN_ROWS = 1000


def sq_dists(A: np.ndarray, B: np.ndarray) -> np.ndarray:
    """Squared Euclidean distances between the rows of ``A`` and ``B`` (in their dtype).

    Examples
    --------
    >>> sq_dists(np.array([[0.0, 0.0]]), np.array([[3.0, 4.0]]))
    array([[25.]])
    """
    an = np.einsum("ij,ij->i", A, A)
    bn = np.einsum("ij,ij->i", B, B)
    D = an[:, None] + bn[None, :] - 2.0 * (A @ B.T)
    np.maximum(D, 0.0, out=D)
    return D


def gaussian(A: np.ndarray, B: np.ndarray, gamma: float) -> np.ndarray:
    """Gaussian kernel matrix ``exp(-gamma ||a - b||^2)`` between the rows of ``A`` and ``B``.

    Examples
    --------
    >>> float(gaussian(np.zeros((1, 2)), np.ones((1, 2)), 0.5)[0, 0])  # exp(-1)
    0.36787944117144233
    """
    D = sq_dists(A, B)
    D *= -gamma
    return np.exp(D, out=D)


def median_gamma(X: np.ndarray, seed: int = 0, max_rows: int = MEDIAN_ROWS) -> float:
    """Bandwidth by the median heuristic: ``1 / median ||x_i - x_j||^2`` over distinct pairs.

    Scale-free: multiplying ``X`` by ``c`` divides the returned gamma by ``c**2``, so
    ``gamma * ||x - y||^2`` (and every kernel value) is unchanged.

    Parameters
    ----------
    X : ndarray of shape (n, d)
        The rows (at least two).
    seed : int
        Seed of the row subsample when ``n > max_rows``.
    max_rows : int
        Largest subsample used.

    Returns
    -------
    float
        Positive gamma (falls back to 1.0 when all rows coincide).

    Examples
    --------
    >>> X = np.random.default_rng(0).normal(size=(200, 4))
    >>> bool(np.isclose(median_gamma(10 * X), median_gamma(X) / 100))
    True
    """
    X = np.asarray(X, dtype=np.float64)
    if X.shape[0] > max_rows:
        idx = np.random.default_rng(seed).choice(X.shape[0], max_rows, replace=False)
        X = X[idx]
    D = sq_dists(X, X)
    iu = np.triu_indices(X.shape[0], k=1)
    vals = D[iu]
    vals = vals[vals > 0]
    if vals.size == 0:
        return 1.0
    return float(1.0 / np.median(vals))


def simplex_qp(K: np.ndarray, c: np.ndarray) -> np.ndarray:
    """Solve ``min_w 1/2 w'Kw - c'w`` subject to ``w >= 0, sum(w) = 1`` (K symmetric PSD).

    Exact up to solver tolerance: NNLS (Lawson-Hanson, :func:`scipy.optimize.nnls`) on the
    Cholesky-augmented system ``[L'; rho 1'] w = [L^-1 c; rho]``, then renormalised.

    Examples
    --------
    >>> w = simplex_qp(np.eye(2), np.array([1.0, 0.0]))
    >>> [round(float(v), 6) for v in w]
    [1.0, 0.0]
    """
    from scipy.linalg import cholesky, solve_triangular
    from scipy.optimize import nnls

    K = np.asarray(K, dtype=np.float64)
    c = np.asarray(c, dtype=np.float64).ravel()
    k = K.shape[0]
    scale = max(float(np.trace(K)) / k, 1e-300)
    jitter = JITTER * scale
    L = cholesky(K + jitter * np.eye(k), lower=True)
    rhs = solve_triangular(L, c, lower=True)
    rho = PENALTY * np.sqrt(scale)
    A = np.vstack([L.T, np.full((1, k), rho)])
    b = np.concatenate([rhs, [rho]])
    w, _ = nnls(A, b, maxiter=50 * k)
    total = w.sum()
    if not np.isfinite(total) or total <= 0:
        return np.full(k, 1.0 / k)
    return w / total


#: Relative ridge added to K before the Cholesky factor (Gaussian Gram matrices are often singular).
JITTER = 1e-8
#: Weight of the sum-to-one row in the augmented NNLS; large enough that sum(w) = 1 to ~1e-8.
PENALTY = 1e4
