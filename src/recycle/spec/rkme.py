"""Building a reduced kernel mean embedding (RKME) from private rows.

``build_spec`` fits ``m`` synthetic points ``Z`` and weights ``beta`` so that
``sum_j beta_j k(z_j, .)`` is close in the RKHS to the data's kernel mean ``(1/n) sum_i k(x_i, .)``:
k-means init, then alternating exact simplex-QP steps on ``beta`` and preconditioned gradient
steps on ``Z`` (a mean-shift-like move with backtracking, so it never increases the distance).

The Gaussian bandwidth comes from the data (median heuristic) and is stored in the spec, so the
result is scale-free: multiplying the data by ``c`` multiplies ``Z`` by ``c`` and divides gamma by
``c**2``; nothing else changes.

Examples
--------
>>> import numpy as np
>>> X = np.random.default_rng(0).normal(size=(300, 5))
>>> spec = build_spec(X, m=20, seed=0)
>>> spec.space, spec.m, spec.n
('input:5', 20, 300)
"""

from __future__ import annotations

import numpy as np

from recycle.errors import ConfigError, DataError
from recycle.progress import ProgressCallback
from recycle.spec.format import Spec, parse_space
from recycle.spec.kernel import gaussian, median_gamma, simplex_qp, sq_dists

#: Rows used to estimate the mean of k(x, x') for the stored residual.
RESIDUAL_ROWS = 2000
#: Halvings of the Z step tried before giving up on a round.
BACKTRACK = 4
#: Rows k-means runs on (a seeded subsample above this; it only initialises Z).
KMEANS_ROWS = 20000
#: Lloyd iterations of the k-means init at most.
KMEANS_ITERS = 30


def as_rows(X: object) -> np.ndarray:
    """Flatten trailing dimensions into an ``(n, d)`` float64 matrix, checking it is finite."""
    try:
        A = np.asarray(X, dtype=np.float64)
    except (TypeError, ValueError) as e:
        raise DataError(
            f"Spec data must be a numeric array ({e}); embed text or images first."
        ) from e
    if A.ndim < 2:
        raise DataError(f"Spec data must have one row per example (2+ dims). Got shape {A.shape}.")
    A = A.reshape(A.shape[0], -1)
    if not np.isfinite(A).all():
        raise DataError("Spec data contains NaN or inf; impute or drop those rows first.")
    return A


def resolve_space(space: str, d: int) -> str:
    """``"input"`` -> ``"input:d"``; ``"name:dim"`` is checked against ``d``."""
    if ":" not in space:
        return f"{space}:{d}"
    _, dim = parse_space(space)
    if dim != d:
        raise DataError(f"Space {space!r} has dimension {dim} but the data has {d} features.")
    return space


def build_spec(
    X: object,
    m: int = 100,
    space: str = "input",
    seed: int = 0,
    gamma: float | None = None,
    steps: int = 3,
    progress: ProgressCallback | None = None,
) -> Spec:
    """Build a data-free RKME spec of ``X`` (rows are examples; trailing dims are flattened).

    Parameters
    ----------
    X : array-like of shape (n, ...)
        Private rows; they never enter the spec.
    m : int
        Number of reduced points, at most ``n // 2``: the privacy/fidelity knob. On 1,500 MNIST
        images the closest reduced point sits at 0.6x (m=10), 0.35x (m=100), 0.03x (m=750) the
        typical distance between two real images, for residuals 0.0145, 0.0021, 0.0001
        (``benchmarks/spec_privacy.py``); keep m <= n / 10 for no near-copies.
    space : str
        ``"input"`` (raw features) or a space id ``"name"`` / ``"name:dim"`` of an embedding.
    seed : int
        Seed of k-means and of the bandwidth subsample.
    gamma : float, optional
        Kernel bandwidth; default ``1 / median ||x_i - x_j||^2`` (scale-free).
    steps : int
        Rounds of (Z step, beta step) after the k-means init.
    progress : callable, optional
        ``progress(task, done, total)`` after each round.

    Returns
    -------
    Spec

    Examples
    --------
    >>> import numpy as np
    >>> X = np.random.default_rng(1).normal(size=(200, 3))
    >>> s = build_spec(X, m=10, seed=1)
    >>> round(float(s.beta.sum()), 6), s.residual < 0.05
    (1.0, True)
    """
    A = as_rows(X)
    n, d = A.shape
    # canonical row order (by a fixed random projection): the spec does not depend on row order
    key = A @ np.random.default_rng(0).normal(size=d)
    A = A[np.lexsort((A[:, 0], key))]
    if isinstance(m, bool) or not isinstance(m, int | np.integer) or m < 1:
        raise ConfigError(
            f"The 'm' parameter of build_spec must be an int >= 1. Got {m!r} instead."
        )
    if n < 2 * m:
        raise ConfigError(
            f"build_spec needs at least 2*m rows so each reduced point summarises several; "
            f"got n={n} rows for m={m}. Use m <= {max(n // 2, 1)} or more rows."
        )
    if steps < 0:
        raise ConfigError(f"The 'steps' parameter must be >= 0. Got {steps} instead.")
    space_id = resolve_space(space, d)
    g = median_gamma(A, seed=seed) if gamma is None else float(gamma)
    if not np.isfinite(g) or g <= 0:
        raise ConfigError(f"The 'gamma' parameter must be > 0. Got {gamma!r} instead.")

    Z = _kmeans(A, int(m), seed)
    x_norms = np.einsum("ij,ij->i", A, A)
    C = _cross(Z, A, x_norms, g)
    Kzz = gaussian(Z, Z, g)
    beta = simplex_qp(Kzz, C.mean(axis=1))
    obj = _objective(beta, Kzz, C)
    total = steps + 1
    if progress is not None:
        progress("rkme", 1, total)
    for step in range(steps):
        Z, beta, C, Kzz, obj = _z_round(A, x_norms, Z, beta, C, Kzz, obj, g)
        if progress is not None:
            progress("rkme", step + 2, total)
    Z, beta, C, Kzz, obj = _privacy_guard(A, x_norms, Z, beta, C, Kzz, obj, g, n, int(m))
    residual = max(obj + _mean_kxx(A, g, seed), 0.0)
    return Spec(
        space=space_id,
        gamma=g,
        Z=Z.astype(np.float32),
        beta=beta,
        n=n,
        seed=seed,
        residual=float(residual),
        meta={"builder": "recycle.build_spec", "steps": steps},
    )


def _kmeans(A: np.ndarray, m: int, seed: int) -> np.ndarray:
    """Seeded k-means++ init then Lloyd iterations, vectorised in float32 (on <= 20k rows)."""
    rng = np.random.default_rng(seed)
    if A.shape[0] > KMEANS_ROWS:
        A = A[rng.choice(A.shape[0], KMEANS_ROWS, replace=False)]
    X = A.astype(np.float32)
    n = X.shape[0]
    norms = np.einsum("ij,ij->i", X, X)
    centers = np.empty((m, X.shape[1]), dtype=np.float32)
    centers[0] = X[rng.integers(n)]
    closest = np.maximum(norms - 2 * X @ centers[0] + centers[0] @ centers[0], 0)
    for j in range(1, m):
        total = float(closest.sum())
        i = int(rng.choice(n, p=closest / total)) if total > 0 else int(rng.integers(n))
        centers[j] = X[i]
        d = np.maximum(norms - 2 * X @ centers[j] + centers[j] @ centers[j], 0)
        np.minimum(closest, d, out=closest)
    labels = np.full(n, -1)
    for _ in range(KMEANS_ITERS):
        D = norms[:, None] - 2 * X @ centers.T + np.einsum("ij,ij->i", centers, centers)[None, :]
        new = D.argmin(axis=1)
        if np.array_equal(new, labels):
            break
        labels = new
        counts = np.bincount(labels, minlength=m)
        onehot = np.zeros((m, n), dtype=np.float32)
        onehot[labels, np.arange(n)] = 1.0
        sums = onehot @ X
        keep = counts > 0
        centers[keep] = sums[keep] / counts[keep, None]
    return centers.astype(np.float64)


def _cross(Z: np.ndarray, A: np.ndarray, x_norms: np.ndarray, g: float) -> np.ndarray:
    D = np.einsum("ij,ij->i", Z, Z)[:, None] + x_norms[None, :] - 2.0 * (Z @ A.T)
    np.maximum(D, 0.0, out=D)
    D *= -g
    return np.exp(D, out=D)


def _objective(beta: np.ndarray, Kzz: np.ndarray, C: np.ndarray) -> float:
    """Squared RKHS distance minus the constant mean k(x, x')."""
    return float(beta @ Kzz @ beta - 2.0 * beta @ C.mean(axis=1))


def _z_round(
    A: np.ndarray,
    x_norms: np.ndarray,
    Z: np.ndarray,
    beta: np.ndarray,
    C: np.ndarray,
    Kzz: np.ndarray,
    obj: float,
    g: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, float]:
    """One preconditioned gradient step on Z (with backtracking), then the exact beta step.

    The gradient of the distance w.r.t. ``z_j`` is
    ``-4 g beta_j [sum_b beta_b K_jb (z_j - z_b) - (1/n) sum_i C_ji (z_j - x_i)]``; dividing it by
    ``4 g beta_j mean_i C_ji`` gives a scale-free step whose full length moves ``z_j`` to the
    kernel-weighted mean of the data near it, corrected by the repulsion from other points.
    """
    n = A.shape[0]
    B = C / n
    b = np.maximum(B.sum(axis=1), 1e-300)
    W = Kzz * beta[None, :]
    a = W.sum(axis=1)
    direction = (B @ A) / b[:, None] - Z + (a[:, None] * Z - W @ Z) / b[:, None]
    eta = 1.0
    for _ in range(BACKTRACK + 1):
        Z_new = Z + eta * direction
        C_new = _cross(Z_new, A, x_norms, g)
        K_new = gaussian(Z_new, Z_new, g)
        obj_new = _objective(beta, K_new, C_new)
        if obj_new < obj:
            beta_new = simplex_qp(K_new, C_new.mean(axis=1))
            return Z_new, beta_new, C_new, K_new, _objective(beta_new, K_new, C_new)
        eta /= 2.0
    return Z, beta, C, Kzz, obj


def _privacy_guard(
    A: np.ndarray,
    x_norms: np.ndarray,
    Z: np.ndarray,
    beta: np.ndarray,
    C: np.ndarray,
    Kzz: np.ndarray,
    obj: float,
    g: float,
    n: int,
    m: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, float]:
    """Replace any reduced point that coincides with a data row by the mean of its k nearest rows.

    A k-means cluster of one row would otherwise be that row verbatim.
    """
    D = sq_dists(Z, A)
    nearest = D.min(axis=1)
    floor = 1e-9 * max(float(np.median(D)), 1e-300)
    bad = np.flatnonzero(nearest <= floor)
    if bad.size == 0:
        return Z, beta, C, Kzz, obj
    k = max(2, n // m)
    Z = Z.copy()
    for j in bad:
        idx = np.argpartition(D[j], k)[:k]
        Z[j] = A[idx].mean(axis=0)
    C = _cross(Z, A, x_norms, g)
    Kzz = gaussian(Z, Z, g)
    beta = simplex_qp(Kzz, C.mean(axis=1))
    return Z, beta, C, Kzz, _objective(beta, Kzz, C)


def _mean_kxx(A: np.ndarray, g: float, seed: int) -> float:
    """Mean of k(x_i, x_j) over all pairs (estimated on a subsample for large n)."""
    if A.shape[0] > RESIDUAL_ROWS:
        idx = np.random.default_rng(seed + 1).choice(A.shape[0], RESIDUAL_ROWS, replace=False)
        A = A[idx]
    return float(gaussian(A, A, g).mean())
