"""Small numpy building blocks shared by the linear strategies (and MCW's state packing).

A fitted logistic regression is kept as plain arrays (``W``, ``b``) so that saving and loading
needs no pickle and predictions before and after a round trip are bit-identical.

Examples
--------
>>> import numpy as np
>>> rng = np.random.default_rng(0)
>>> F = rng.normal(size=(40, 3)); y = (F[:, 0] > 0).astype(int)
>>> head = fit_logreg(F, y, n_classes=2)
>>> float((logreg_proba(head, F).argmax(1) == y).mean()) > 0.9
True
"""

from __future__ import annotations

import warnings

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression

from recycle.adapt.split import n_folds, stratified_folds

#: Inverse L2 strength of every logistic regression on standardised features (sklearn default).
LOGREG_C = 1.0
#: Iteration cap of the lbfgs solver.
LOGREG_MAX_ITER = 500
#: Folds of the out-of-fold predictions used by stacking and feature augment.
OOF_FOLDS = 5


def l2_normalize(F: np.ndarray) -> np.ndarray:
    """Rows scaled to unit L2 norm (zero rows stay zero)."""
    norm = np.linalg.norm(F, axis=1, keepdims=True)
    return F / np.maximum(norm, 1e-12)


def fit_scaler(F: np.ndarray) -> dict[str, np.ndarray]:
    """Per-column mean and standard deviation (1 where a column is constant)."""
    mean = F.mean(axis=0)
    std = F.std(axis=0)
    return {"mean": mean, "std": np.where(std > 1e-12, std, 1.0)}


def apply_scaler(scaler: dict[str, np.ndarray], F: np.ndarray) -> np.ndarray:
    """Standardise ``F`` with a scaler from :func:`fit_scaler`."""
    return (F - scaler["mean"]) / scaler["std"]


def fit_logreg(
    F: np.ndarray, y: np.ndarray, n_classes: int, C: float = LOGREG_C, seed: int = 0
) -> dict[str, np.ndarray]:
    """Multinomial logistic regression on ``F``; returns ``{"W": (C, d), "b": (C,)}``.

    Classes absent from ``y`` (possible inside a cross-validation fold) get a very negative
    bias so they are never predicted.
    """
    present = np.unique(y)
    W = np.zeros((n_classes, F.shape[1]))
    b = np.full(n_classes, -30.0)
    if len(present) == 1:
        b[present[0]] = 0.0
        return {"W": W, "b": b}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf = LogisticRegression(C=C, max_iter=LOGREG_MAX_ITER, random_state=seed).fit(F, y)
    if len(present) == 2:  # sklearn keeps one row for binary problems
        W[present[1]] = clf.coef_[0] / 2
        W[present[0]] = -clf.coef_[0] / 2
        b[present[1]] = clf.intercept_[0] / 2
        b[present[0]] = -clf.intercept_[0] / 2
    else:
        W[present] = clf.coef_
        b[present] = clf.intercept_
    return {"W": W, "b": b}


def softmax(z: np.ndarray) -> np.ndarray:
    """Row-wise softmax."""
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def logreg_proba(head: dict[str, np.ndarray], F: np.ndarray) -> np.ndarray:
    """Probabilities of a head from :func:`fit_logreg`."""
    return softmax(F @ head["W"].T + head["b"])


def oof_proba(F: np.ndarray, y: np.ndarray, n_classes: int, seed: int = 0) -> np.ndarray:
    """Out-of-fold logistic-regression probabilities (in-sample when a class has < 2 rows)."""
    if n_folds(y, OOF_FOLDS) < 2:
        return logreg_proba(fit_logreg(F, y, n_classes, seed=seed), F)
    out = np.zeros((F.shape[0], n_classes))
    for tr, te in stratified_folds(y, OOF_FOLDS, seed=seed):
        out[te] = logreg_proba(fit_logreg(F[tr], y[tr], n_classes, seed=seed), F[te])
    return out


def pack(prefix: str, arrays: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Prefix the keys of ``arrays`` (``"src0." + key``) for one flat tensor dict."""
    return {f"{prefix}.{k}": np.asarray(v) for k, v in arrays.items()}


def unpack(prefix: str, tensors: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Inverse of :func:`pack` for one prefix."""
    start = prefix + "."
    return {k[len(start) :]: v for k, v in tensors.items() if k.startswith(start)}


def n_linear_params(arrays: dict[str, np.ndarray]) -> int:
    """Trainable parameters of packed heads: the sizes of every ``*.W`` and ``*.b`` array."""
    return int(sum(v.size for k, v in arrays.items() if k.endswith((".W", ".b"))))


def fit_scaled_head(
    D: np.ndarray, y: np.ndarray, n_classes: int, C: float, seed: int
) -> dict[str, np.ndarray]:
    """A standardiser + logistic-regression head on design matrix ``D``, packed as arrays
    (``scaler.*``, ``head.*``) for :func:`scaled_head_proba`."""
    scaler = fit_scaler(D)
    head = fit_logreg(apply_scaler(scaler, D), y, n_classes, C, seed)
    return {**pack("scaler", scaler), **pack("head", head)}


def scaled_head_proba(arrays: dict[str, np.ndarray], D: np.ndarray) -> np.ndarray:
    """Class probabilities of a head fitted by :func:`fit_scaled_head`."""
    return logreg_proba(unpack("head", arrays), apply_scaler(unpack("scaler", arrays), D))


def fit_per_source(
    feats: list[np.ndarray], y: np.ndarray, n_classes: int, C: float, seed: int, oof: bool
) -> tuple[dict[str, np.ndarray], list[np.ndarray]]:
    """One standardised logistic regression per source on its L2-normalised features.

    Returns the packed arrays (``src{i}.scaler.*``, ``src{i}.head.*``) and, with ``oof``, each
    source's out-of-fold probabilities (else an empty list).
    """
    arrays: dict[str, np.ndarray] = {}
    out = []
    for i, F in enumerate(feats):
        Z = l2_normalize(F.astype(np.float64))
        scaler = fit_scaler(Z)
        Z = apply_scaler(scaler, Z)
        head = fit_logreg(Z, y, n_classes, C, seed)
        arrays.update({**pack(f"src{i}.scaler", scaler), **pack(f"src{i}.head", head)})
        if oof:
            out.append(oof_proba(Z, y, n_classes, seed))
    return arrays, out


def per_source_proba(arrays: dict[str, np.ndarray], feats: list[np.ndarray]) -> list[np.ndarray]:
    """Each source's probabilities from the heads of :func:`fit_per_source`."""
    out = []
    for i, F in enumerate(feats):
        Z = apply_scaler(unpack(f"src{i}.scaler", arrays), l2_normalize(F.astype(np.float64)))
        out.append(logreg_proba(unpack(f"src{i}.head", arrays), Z))
    return out
