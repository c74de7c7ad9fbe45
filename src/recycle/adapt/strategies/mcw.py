"""Maximal correlation weighting (MCW; Lee, Sattigeri & Wornell, NeurIPS 2019).

For every source, features are whitened on the target's train split (centred, projected on the
span of the train rows, Ledoit-Wolf shrunk covariance), and the maximal-correlation functions
between the whitened features ``f~(x)`` and the label come from the SVD of
``B[y] = sqrt(p(y)) E[f~ | y]``: singular values ``sigma_i`` (the correlations), feature
functions ``phi_i' f~(x)`` and label functions ``psi_i(y) / sqrt(p(y))``. Their sum
``sum_i sigma_i f_i(x) g_i(y)`` equals ``E[f~ | y]' f~(x)``, the source's score. Sources are
weighted by their mean correlation (weights sum to 1) and

    P(y | x)  ~  p(y) (1 + sum_s w_s score_s(x, y))   (clipped at a small floor, renormalised)

No fine-tuning: everything is closed form.

Examples
--------
>>> import numpy as np
>>> from sklearn.datasets import load_digits
>>> X, y = load_digits(return_X_y=True)
>>> class Pixels:
...     source_id, modality, access, feature_dim = "pixels", "tabular", "black-box", 64
...     def embed(self, X):
...         return np.asarray(X, dtype=np.float32)
>>> MCW([Pixels()]).fit(X[:300], y[:300]).score(X[300:600], y[300:600]) > 0.7
True
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
from sklearn.covariance import ledoit_wolf

from recycle.adapt._linear import pack, unpack
from recycle.adapt.base import Strategy
from recycle.adapt.registry import register_strategy
from recycle.sources.base import SourceModel

#: Lowest probability factor: P(y|x) >= PROBA_FLOOR * p(y) before renormalising.
PROBA_FLOOR = 1e-3
#: Eigenvalue floor of the shrunk covariance, relative to its largest eigenvalue.
EIG_FLOOR = 1e-6


def fit_maximal_correlation(F: np.ndarray, y: np.ndarray, n_classes: int) -> dict[str, np.ndarray]:
    """Whitening map, class-conditional means and correlations of one source on the target.

    Returns arrays ``mean (d,)``, ``W (d, r)``, ``M (C, r)`` (class means of ``(F-mean) @ W``),
    ``prior (C,)`` and ``sigma (C-1,)`` (maximal correlations, descending).

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> y = np.repeat([0, 1], 50); F = rng.normal(size=(100, 5)); F[:, 0] += 3 * y
    >>> mc = fit_maximal_correlation(F, y, 2)
    >>> bool(mc["sigma"][0] > 0.7)
    True
    """
    F = F.astype(np.float64)
    n = F.shape[0]
    mean = F.mean(axis=0)
    Fc = F - mean
    _, s, Vt = np.linalg.svd(Fc, full_matrices=False)
    r = int(max(1, np.sum(s > s.max(initial=0.0) * 1e-8)))
    P = Vt[:r].T
    Z = Fc @ P
    cov, _ = ledoit_wolf(Z, assume_centered=True)
    evals, evecs = np.linalg.eigh(cov)
    evals = np.maximum(evals, evals.max(initial=0.0) * EIG_FLOOR + 1e-12)
    W = P @ evecs / np.sqrt(evals)
    Ft = Fc @ W
    counts = np.bincount(y, minlength=n_classes).astype(np.float64)
    prior = counts / n
    M = np.zeros((n_classes, W.shape[1]))
    for c in range(n_classes):
        if counts[c]:
            M[c] = Ft[y == c].mean(axis=0)
    B = np.sqrt(prior)[:, None] * M
    sigma = np.linalg.svd(B, compute_uv=False)[: max(1, n_classes - 1)]
    return {"mean": mean, "W": W, "M": M, "prior": prior, "sigma": np.clip(sigma, 0.0, 1.0)}


def mc_score(mc: dict[str, np.ndarray], F: np.ndarray) -> np.ndarray:
    """``sum_i sigma_i f_i(x) g_i(y)`` for every row and class, shape ``(n, C)``."""
    return ((F.astype(np.float64) - mc["mean"]) @ mc["W"]) @ mc["M"].T


@register_strategy
class MCW(Strategy):
    """Maximal correlation weighting of the sources' features (no fine-tuning, no parameters).

    Parameters
    ----------
    sources : list of SourceModel
    seed : int, default 0
        Unused (everything is closed form); kept for the strategy contract.

    Attributes
    ----------
    source_weights_ : ndarray of shape (m,)
        Weight of each source (its mean maximal correlation, normalised to sum 1).
    correlations_ : list of ndarray
        Per source, the maximal correlations ``sigma``.
    """

    name: ClassVar[str] = "mcw"
    relative_cost: ClassVar[float] = 2.0
    #: Models saved before MCW lost its unused logistic-regression strength ``C``.
    legacy_params: ClassVar[dict[str, str | None]] = {"C": None}

    def __init__(self, sources: list[SourceModel] | None = None, seed: int = 0) -> None:
        self.sources = sources
        self.seed = seed

    def _fit(self, X: Any, y: np.ndarray, feats: list[np.ndarray]) -> None:
        n_classes = len(self.classes_)
        self.arrays_ = {}
        rho = []
        for i, F in enumerate(feats):
            mc = fit_maximal_correlation(F, y, n_classes)
            self.arrays_.update(pack(f"src{i}", mc))
            rho.append(float(mc["sigma"].mean()))
        rho_arr = np.asarray(rho)
        weights = rho_arr / rho_arr.sum() if rho_arr.sum() > 0 else np.full(len(rho), 1 / len(rho))
        self.arrays_["weights"] = weights
        self.trainable_params_ = int(
            sum(self.arrays_[f"src{i}.M"].size for i in range(len(feats))) + len(feats)
        )

    @property
    def source_weights_(self) -> np.ndarray:
        return self.arrays_["weights"]

    @property
    def correlations_(self) -> list[np.ndarray]:
        n = len(self.arrays_["weights"])
        return [self.arrays_[f"src{i}.sigma"] for i in range(n)]

    def _proba(self, X: Any, feats: list[np.ndarray]) -> np.ndarray:
        total = np.zeros((len(X), len(self.classes_)))
        for i, F in enumerate(feats):
            mc = unpack(f"src{i}", self.arrays_)
            total += self.arrays_["weights"][i] * mc_score(mc, F)
        prior = self.arrays_["src0.prior"]
        return prior * np.maximum(1.0 + total, PROBA_FLOOR)
