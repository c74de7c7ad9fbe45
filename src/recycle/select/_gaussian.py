"""Gaussian-model transferability scores: H-score (with Ledoit-Wolf shrinkage) and GBC.

Re-exported by :mod:`recycle.select.scores` (registered there in ``SCORES`` with
``needs="features"``).
"""

from __future__ import annotations

from typing import Literal

import numpy as np

from recycle.errors import ConfigError
from recycle.select._common import check_features
from recycle.select._spectrum import project, spectrum

#: Relative variance below which a feature column counts as constant.
CONSTANT_TOL = 1e-12
#: Pseudo-count of GBC's shrinkage of each class variance towards the pooled one (tiny classes).
GBC_PRIOR = 2.0


def _drop_constant(F: np.ndarray) -> np.ndarray:
    var = F.var(axis=0)
    scale = max(float(var.max(initial=0.0)), 1e-300)
    return F[:, var > CONSTANT_TOL * scale] if var.max(initial=0.0) > 0 else F[:, :0]


def hscore(F: np.ndarray, y: np.ndarray, shrinkage: bool = True) -> float:
    """H-score ``tr(cov(f)^-1 cov(E[f | y]))``, by default with Ledoit-Wolf shrinkage.

    Bao et al., "An Information-Theoretic Approach to Transferability in Task Transfer Learning",
    ICIP 2019; shrinkage version: Ibrahim, Ponomareva & Mazumder, "Newer is Not Always Better:
    Rethinking Transferability Metrics, Their Peculiarities, Stability and Performance", ECML
    2022 (covariance ``(1 - a) S + a mu I`` with the Ledoit-Wolf ``a``; the between-class
    covariance is scaled by ``1 - a`` too). Constant columns are dropped first; if nothing is
    left the score is 0.

    Examples
    --------
    >>> y = np.repeat([0, 1], 10)
    >>> good = np.c_[y + 0.1 * np.sin(np.arange(20)), np.cos(np.arange(20))]
    >>> bad = np.c_[np.sin(np.arange(20)), np.cos(np.arange(20))]
    >>> bool(hscore(good, y) > hscore(bad, y))
    True
    """
    F, y = check_features(F, y)
    F = _drop_constant(F)
    if F.shape[1] == 0:
        return 0.0
    F = F - F.mean(axis=0)
    n, d = F.shape
    C = int(y.max()) + 1
    counts = np.bincount(y, minlength=C).astype(np.float64)
    # between-class covariance = W^T W with W = A F (class means weighted by sqrt(n_c / n))
    A = np.eye(C)[y].T * (np.sqrt(counts / n) / np.maximum(counts, 1.0))[:, None]
    sigma, vecs, right = spectrum(F)  # eigenvalues of the sample covariance S are sigma / n
    a = ledoit_wolf_shrinkage(F, sigma) if shrinkage else 0.0
    mu = float(sigma.sum()) / (n * d)
    evals = (1.0 - a) * sigma / n + a * mu  # covariance eigenvalues on F's row space
    WV = project(F, sigma, vecs, right, A.T).T * np.sqrt(sigma)  # W V = A U S, C x k
    keep = evals > 1e-10 * max(float(evals.max()), 1e-300)
    score = float(np.sum(WV[:, keep] ** 2 / evals[keep]))
    if a > 0:  # W has no component outside F's row space: nothing to add for the complement
        score *= 1.0 - a
    return score


def ledoit_wolf_shrinkage(F: np.ndarray, sigma: np.ndarray | None = None) -> float:
    """Ledoit-Wolf shrinkage intensity of the (centred) rows of F, in O(n d min(n, d)).

    Ledoit & Wolf, "A well-conditioned estimator for large-dimensional covariance matrices",
    J. Multivariate Analysis 2004; the same estimator as ``sklearn.covariance.ledoit_wolf`` with
    ``assume_centered=True``, computed from the smaller Gram matrix's spectrum ``sigma``.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> 0.0 <= ledoit_wolf_shrinkage(rng.normal(size=(20, 50))) <= 1.0
    True
    """
    F = np.asarray(F, dtype=np.float64)
    n, d = F.shape
    if sigma is None:
        sigma = spectrum(F)[0]
    trace = float(sigma.sum()) / n  # tr(S)
    mu = trace / d
    frob2 = float(np.sum(sigma**2)) / n**2  # ||S||_F^2
    row4 = float(np.sum(np.sum(F**2, axis=1) ** 2))  # sum_i ||x_i||^4
    beta = (row4 / n - frob2) / (d * n)
    delta = (frob2 - 2.0 * mu * trace + d * mu**2) / d
    beta = min(beta, delta)
    return 0.0 if beta <= 0 or delta <= 0 else float(beta / delta)


def gbc_score(
    F: np.ndarray,
    y: np.ndarray,
    n_components: int = 64,
    gaussian: Literal["diagonal", "spherical"] = "diagonal",
) -> float:
    """GBC: minus the total Bhattacharyya overlap between per-class Gaussians after PCA.

    Pándy, Agostinelli, Uijlings, Ferrari & Mensink, "Transferability Estimation using
    Bhattacharyya Class Separability", CVPR 2022. ``GBC = - sum_{i != j} exp(-D_B(c_i, c_j))``
    (in ``[-C(C-1), 0]``). Class variances are shrunk towards the pooled within-class variance
    with :data:`GBC_PRIOR` pseudo-examples so classes with one or two examples stay usable.

    Examples
    --------
    >>> y = np.repeat([0, 1], 10)
    >>> far = np.c_[10.0 * y + np.sin(np.arange(20))]
    >>> near = np.c_[0.1 * y + np.sin(np.arange(20))]
    >>> bool(gbc_score(far, y) > gbc_score(near, y))
    True
    """
    F, y = check_features(F, y)
    C = int(y.max()) + 1
    Fc = F - F.mean(axis=0)
    F = _drop_constant(Fc)
    if F.shape[1] == 0:
        return -float(C * (C - 1))
    U, s, _ = np.linalg.svd(F, full_matrices=False)
    keep = s > 1e-10 * s[0]
    q = int(min(n_components, keep.sum()))
    Z = U[:, :q] * s[:q]
    counts = np.bincount(y, minlength=C).astype(np.float64)
    onehot = np.eye(C)[y]
    mu = onehot.T @ Z / counts[:, None]
    var = onehot.T @ (Z - mu[y]) ** 2 / counts[:, None]
    pooled = ((Z - mu[y]) ** 2).sum(axis=0) / max(Z.shape[0] - C, 1)
    pooled = np.maximum(pooled, 1e-12 * max(float(Z.var(axis=0).max()), 1e-300))
    var = (counts[:, None] * var + GBC_PRIOR * pooled) / (counts[:, None] + GBC_PRIOR)
    if gaussian == "spherical":
        var = np.repeat(var.mean(axis=1, keepdims=True), q, axis=1)
    elif gaussian != "diagonal":
        raise ConfigError(
            f"gbc_score's gaussian must be 'diagonal' or 'spherical'; got {gaussian!r}."
        )
    total = 0.0
    for i in range(C):
        for j in range(i + 1, C):
            v = (var[i] + var[j]) / 2.0
            db = 0.125 * np.sum((mu[i] - mu[j]) ** 2 / v) + 0.5 * np.sum(
                np.log(v) - 0.5 * (np.log(var[i]) + np.log(var[j]))
            )
            total += 2.0 * float(np.exp(-db))
    return -total
