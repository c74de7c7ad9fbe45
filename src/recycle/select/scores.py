"""Transferability scores: pure functions of (features, labels) or (source probabilities, labels).

Every score is "higher is better" and returns a finite float for any finite input with at least
two classes: n < d, classes with one or two examples, constant or all-zero features.
:data:`SCORES` maps a name to ``(fn, needs)`` where ``needs`` is ``"features"`` (``fn(F, y)``,
``F = source.embed(X)``) or ``"probs"`` (``fn(P, y)``, ``P = source.predict_proba(X)`` over the
source's own classes).

Examples
--------
>>> import numpy as np
>>> rng = np.random.default_rng(0)
>>> y = np.repeat(np.arange(3), 20)
>>> good = rng.normal(size=(60, 8)) + 3 * np.eye(3, 8)[y]
>>> bad = rng.normal(size=(60, 8))
>>> bool(knn_score(good, y) > knn_score(bad, y))
True
>>> bool(logme_score(good, y) > logme_score(bad, y))
True
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Literal, NamedTuple

import numpy as np

from recycle.errors import ConfigError, DataError
from recycle.select._common import (
    check_features,
    knn_predict,
    stratified_folds,
    stratified_holdout,
)
from recycle.select._gaussian import gbc_score, hscore, ledoit_wolf_shrinkage
from recycle.select._probs import leep_score, nce_score
from recycle.select._spectrum import project, spectrum

#: Numerical floor used by LogME's fixed point (as in the reference implementation).
LOGME_EPS = 1e-5
#: Maximum fixed-point iterations of LogME (the paper: converges in <= 11).
LOGME_MAX_ITER = 11
#: Relative change of alpha/beta at which LogME's fixed point stops.
LOGME_TOL = 1e-3
#: Bounds that keep LogME's precisions finite for degenerate (e.g. all-zero) features.
LOGME_CLIP = (1e-12, 1e12)


def knn_score(
    F: np.ndarray,
    y: np.ndarray,
    k: int = 5,
    val: float | tuple[np.ndarray, np.ndarray] | None = None,
    cv: int | None = None,
    seed: int = 0,
) -> float:
    """k-NN accuracy of the target labels in the source's feature space.

    The paper's selector (Wang & Henao 2025, arXiv 2508.02039): fit k-NN (k=5, Euclidean,
    majority vote) on the target's train features and score accuracy on a validation split.

    Parameters
    ----------
    F : array (n, d)
        Source features of the target examples.
    y : array (n,)
        Target labels.
    k : int
        Neighbours (clipped to the training size).
    val : float or (F_val, y_val), optional
        A float in (0, 1): the paper's protocol, one stratified validation split of that fraction
        (seeded). A pair: fit on all of ``(F, y)`` and score on ``(F_val, y_val)``.
    cv : int, optional
        Repeats of stratified 5-fold cross-validation (tiny targets should not hinge on 15
        validation examples).
    seed : int
        Seed of the splits.

    Returns
    -------
    float
        Accuracy in [0, 1]. With neither ``val`` nor ``cv``: leave-one-out accuracy over all n
        rows (deterministic, uses every example; same O(n^2 d) cost, computed in chunks).

    Examples
    --------
    >>> y = np.array([0, 0, 0, 1, 1, 1])
    >>> F = np.array([[0.0], [0.1], [0.2], [5.0], [5.1], [5.2]])
    >>> knn_score(F, y, k=1)
    1.0
    """
    F_raw, y_raw = F, y
    F, y = check_features(F, y)
    C = int(y.max()) + 1
    if k < 1:
        raise ConfigError(f"knn_score needs k >= 1; got k={k}.")
    if isinstance(val, tuple):
        return _knn_val(np.asarray(F_raw), np.asarray(y_raw), val, k)
    if val is not None:
        if not 0.0 < float(val) < 1.0:
            raise ConfigError(f"knn_score's val must be a fraction in (0, 1); got {val}.")
        tr, va = stratified_holdout(y, float(val), seed)
        if va.size == 0:
            return 0.0
        pred = knn_predict(F[tr], y[tr], F[va], k, C)
        return float(np.mean(pred == y[va]))
    if cv is not None:
        correct = total = 0
        for tr, te in stratified_folds(y, 5, n_repeats=int(cv), seed=seed):
            pred = knn_predict(F[tr], y[tr], F[te], k, C)
            correct += int(np.sum(pred == y[te]))
            total += te.size
        return correct / total if total else 0.0
    pred = knn_predict(F, y, F, k, C, exclude_self=True)
    return float(np.mean(pred == y))


def _knn_val(F: np.ndarray, y: np.ndarray, val: tuple[np.ndarray, np.ndarray], k: int) -> float:
    """k-NN fitted on (F, y), accuracy on an explicit validation pair (labels in one coding)."""
    F_val, y_val = np.asarray(val[0]), np.asarray(val[1]).reshape(-1)
    F, _ = check_features(F, y)
    F_val = np.asarray(F_val, dtype=np.float64).reshape(y_val.size, -1)
    if F_val.shape[1] != F.shape[1]:
        raise DataError(
            f"Validation features have {F_val.shape[1]} columns but training features have "
            f"{F.shape[1]}; embed both with the same source."
        )
    classes, coded = np.unique(np.concatenate([y.reshape(-1), y_val]), return_inverse=True)
    ytr, yva = coded[: y.size], coded[y.size :]
    if yva.size == 0:
        return 0.0
    pred = knn_predict(F, ytr, F_val, k, classes.size)
    return float(np.mean(pred == yva))


def logme_score(F: np.ndarray, y: np.ndarray) -> float:
    """LogME: log marginal evidence of Bayesian linear regression of one-hot labels on features.

    You, Liu, Wang & Long, "LogME: Practical Assessment of Pre-trained Models for Transfer
    Learning", ICML 2021 (thuml/LogME), fast form: one eigen-decomposition of the smaller Gram
    matrix of F (equivalent to one SVD of F), then O(min(n, d)) per class per fixed-point
    iteration over (alpha, beta), at most :data:`LOGME_MAX_ITER` iterations. All classes iterate
    together (vectorised); the evidence is divided by n and averaged over classes. Unlike the
    reference code, the log-determinant also counts the ``d - n`` zero eigenvalues when n < d,
    so the value equals the direct d x d formula.

    Examples
    --------
    >>> y = np.repeat([0, 1], 10)
    >>> F = np.c_[y + 0.01 * np.arange(20), np.ones(20)]
    >>> bool(np.isfinite(logme_score(F, y)))
    True
    """
    F, y = check_features(F, y)
    n, d = F.shape
    C = int(y.max()) + 1
    Y = np.eye(C)[y]  # n x C one-hot
    sigma, vecs, right = spectrum(F)
    x = project(F, sigma, vecs, right, Y)  # U^T Y, k x C
    x2 = x**2
    res_x2 = np.clip((Y**2).sum(axis=0) - x2.sum(axis=0), 0.0, None)  # null-space residual
    extra = d - sigma.size  # zero eigenvalues not in the spectrum (n < d)
    sig = sigma[:, None]
    lo, hi = LOGME_CLIP
    alpha = np.ones(C)
    beta = np.ones(C)
    m2 = np.zeros(C)
    res2 = np.zeros(C)
    active = np.ones(C, dtype=bool)
    for _ in range(LOGME_MAX_ITER):
        t = alpha / beta
        gamma = (sig / (sig + t)).sum(axis=0)
        new_m2 = (sig * x2 / (t + sig) ** 2).sum(axis=0)
        new_res2 = (x2 / (1.0 + sig / t) ** 2).sum(axis=0) + res_x2
        new_alpha = np.clip(gamma / (new_m2 + LOGME_EPS), lo, hi)
        new_beta = np.clip((n - gamma) / (new_res2 + LOGME_EPS), lo, hi)
        m2 = np.where(active, new_m2, m2)
        res2 = np.where(active, new_res2, res2)
        alpha = np.where(active, new_alpha, alpha)
        beta = np.where(active, new_beta, beta)
        active &= np.abs(alpha / beta - t) / t > LOGME_TOL
        if not active.any():
            break
    logdet = np.log(alpha + beta * sig).sum(axis=0) + extra * np.log(alpha)
    evidence = (
        d / 2.0 * np.log(alpha)
        + n / 2.0 * np.log(beta)
        - 0.5 * logdet
        - beta / 2.0 * res2
        - alpha / 2.0 * m2
        - n / 2.0 * np.log(2 * np.pi)
    )
    return float(np.mean(evidence / n))


def linear_probe_score(
    F: np.ndarray, y: np.ndarray, cv: int = 5, repeats: int = 1, C: float = 1.0, seed: int = 0
) -> float:
    """Cross-validated accuracy of a logistic-regression probe on standardised features.

    The usual ground-truth proxy of transferability studies (e.g. Kornblith, Shlens & Le, "Do
    Better ImageNet Models Transfer Better?", CVPR 2019): strongest and costliest of the scores.
    Stratified ``cv``-fold (``repeats`` times), robust to classes smaller than ``cv``.

    Examples
    --------
    >>> y = np.repeat([0, 1], 10)
    >>> F = np.c_[y + 0.1 * np.sin(np.arange(20)), np.cos(np.arange(20))]
    >>> linear_probe_score(F, y)
    1.0
    """
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression

    F, y = check_features(F, y)
    correct = total = 0
    for tr, te in stratified_folds(y, cv, n_repeats=repeats, seed=seed):
        if np.unique(y[tr]).size < 2:
            pred = np.full(te.size, y[tr][0])
        else:
            mean = F[tr].mean(axis=0)
            std = F[tr].std(axis=0)
            std[std == 0] = 1.0
            clf = LogisticRegression(C=C, max_iter=200, solver="newton-cg")
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)
                clf.fit((F[tr] - mean) / std, y[tr])
            pred = clf.predict((F[te] - mean) / std)
        correct += int(np.sum(pred == y[te]))
        total += te.size
    return correct / total if total else 0.0


class ScoreInfo(NamedTuple):
    """A registered score: the function and what it needs from a source."""

    fn: Callable[[np.ndarray, np.ndarray], float]
    needs: Literal["features", "probs"]


#: name -> (fn, needs); every score is higher-is-better.
SCORES: dict[str, ScoreInfo] = {
    "knn": ScoreInfo(knn_score, "features"),
    "logme": ScoreInfo(logme_score, "features"),
    "leep": ScoreInfo(leep_score, "probs"),
    "nce": ScoreInfo(nce_score, "probs"),
    "hscore": ScoreInfo(hscore, "features"),
    "gbc": ScoreInfo(gbc_score, "features"),
    "linear": ScoreInfo(linear_probe_score, "features"),
}

__all__ = [
    "SCORES",
    "ScoreInfo",
    "gbc_score",
    "hscore",
    "knn_score",
    "ledoit_wolf_shrinkage",
    "leep_score",
    "linear_probe_score",
    "logme_score",
    "nce_score",
]
