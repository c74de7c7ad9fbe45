"""Scores of sources with a head: LEEP and NCE, from the source's probabilities on the target.

Re-exported by :mod:`recycle.select.scores` (registered there in ``SCORES`` with
``needs="probs"``).
"""

from __future__ import annotations

import numpy as np

from recycle.errors import DataError
from recycle.select._common import check_labels


def _check_probs(P: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    P = np.asarray(P, dtype=np.float64)
    if P.ndim != 2:
        raise DataError(f"P must be (n, source classes) probabilities; got shape {P.shape}.")
    labels = check_labels(y, P.shape[0], "P")
    if not np.all(np.isfinite(P)) or (P < 0).any():
        raise DataError("P must hold finite, non-negative probabilities; check the source head.")
    rows = P.sum(axis=1, keepdims=True)
    P = np.where(rows > 0, P / np.where(rows > 0, rows, 1.0), 1.0 / P.shape[1])
    return P, labels


def leep_score(P: np.ndarray, y: np.ndarray) -> float:
    """LEEP: log expected empirical prediction of the source head on the target labels.

    Nguyen, Hassner, Seeger & Archambeau, "LEEP: A New Measure to Evaluate Transferability of
    Learned Representations", ICML 2020. With the empirical joint
    ``P(y, z) = 1/n sum_i P_i(z) [y_i = y]`` and conditional ``P(y | z)``,
    ``LEEP = 1/n sum_i log sum_z P(y_i | z) P_i(z)`` (<= 0).

    Examples
    --------
    >>> y = np.array([0, 0, 1, 1])
    >>> P = np.array([[0.9, 0.1], [0.8, 0.2], [0.1, 0.9], [0.2, 0.8]])
    >>> bool(leep_score(P, y) > leep_score(np.full((4, 2), 0.5), y))
    True
    """
    P, y = _check_probs(P, y)
    n = P.shape[0]
    C = int(y.max()) + 1
    joint = np.eye(C)[y].T @ P / n  # C x Z
    marg = joint.sum(axis=0, keepdims=True)
    cond = np.divide(joint, marg, out=np.zeros_like(joint), where=marg > 0)
    eep = (P * cond[y]).sum(axis=1)
    return float(np.mean(np.log(np.clip(eep, 1e-300, None))))


def nce_score(P: np.ndarray, y: np.ndarray) -> float:
    """NCE: negative conditional entropy ``-H(Y | Z)`` with Z the source's argmax label.

    Tran, Nguyen & Hassner, "Transferability and Hardness of Supervised Classification Tasks",
    ICCV 2019. Higher (closer to 0) is better.

    Examples
    --------
    >>> y = np.array([0, 0, 1, 1])
    >>> P = np.array([[0.9, 0.1], [0.8, 0.2], [0.1, 0.9], [0.2, 0.8]])
    >>> nce_score(P, y)
    0.0
    """
    P, y = _check_probs(P, y)
    z = P.argmax(axis=1)
    C, Z = int(y.max()) + 1, P.shape[1]
    joint = np.zeros((C, Z))
    np.add.at(joint, (y, z), 1.0)
    joint /= joint.sum()
    pz = joint.sum(axis=0, keepdims=True)
    cond = np.divide(joint, pz, out=np.zeros_like(joint), where=pz > 0)
    logs = np.log(np.where(cond > 0, cond, 1.0))
    return float((joint * logs).sum()) + 0.0
