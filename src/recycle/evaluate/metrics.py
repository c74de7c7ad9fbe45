"""Classification metrics: accuracy, macro-F1 and expected calibration error (ECE).

Pure numpy functions of true labels and predictions (or probabilities).

Examples
--------
>>> import numpy as np
>>> accuracy([0, 1, 1, 2], [0, 1, 2, 2])
0.75
>>> round(macro_f1([0, 1, 1, 2], [0, 1, 2, 2]), 4)
0.7778
>>> P = np.array([[0.9, 0.1], [0.8, 0.2], [0.3, 0.7], [0.4, 0.6]])
>>> round(expected_calibration_error([0, 1, 1, 1], P), 4)
0.4
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from recycle.errors import DataError

#: Equal-width confidence bins of the ECE (the usual choice, Guo et al. 2017).
ECE_BINS = 15


def _labels(y_true: Any, y_pred: Any) -> tuple[np.ndarray, np.ndarray]:
    t, p = np.asarray(y_true).reshape(-1), np.asarray(y_pred).reshape(-1)
    if t.shape != p.shape or t.size == 0:
        raise DataError(
            f"y_true has {t.size} labels and y_pred {p.size}; pass one prediction per label."
        )
    return t, p


def accuracy(y_true: Any, y_pred: Any) -> float:
    """Fraction of exact matches.

    Examples
    --------
    >>> accuracy(["a", "b"], ["a", "a"])
    0.5
    """
    t, p = _labels(y_true, y_pred)
    return float(np.mean(t == p))


def macro_f1(y_true: Any, y_pred: Any, labels: Sequence[Any] | None = None) -> float:
    """Unweighted mean of per-class F1 over ``labels`` (default: the classes present in
    ``y_true``, so classes absent from a test set do not count as zeros).

    Examples
    --------
    >>> macro_f1([0, 0, 1], [0, 1, 1])
    0.6666666666666666
    """
    t, p = _labels(y_true, y_pred)
    classes = np.unique(t) if labels is None else np.asarray(list(labels))
    f1 = []
    for c in classes:
        tp = np.sum((t == c) & (p == c))
        fp = np.sum((t != c) & (p == c))
        fn = np.sum((t == c) & (p != c))
        denom = 2 * tp + fp + fn
        f1.append(0.0 if denom == 0 else 2 * tp / denom)
    return float(np.mean(f1))


def expected_calibration_error(y_true: Any, proba: Any, n_bins: int = ECE_BINS) -> float:
    """Expected calibration error of class probabilities.

    Rows are binned by their confidence (largest probability) into ``n_bins`` equal-width bins
    on [0, 1]; ECE is the size-weighted mean over bins of |accuracy - mean confidence|, where
    accuracy is whether the most probable class equals the true one. 0 is perfectly
    calibrated; it says nothing about accuracy itself.

    Parameters
    ----------
    y_true : array-like of int
        True class indices (columns of ``proba``).
    proba : array-like of shape (n, n_classes)
        Predicted probabilities (rows sum to 1).
    n_bins : int, default 15

    Returns
    -------
    float

    Examples
    --------
    >>> import numpy as np
    >>> expected_calibration_error([0, 1], np.array([[1.0, 0.0], [0.0, 1.0]]))
    0.0
    """
    P = np.asarray(proba, dtype=float)
    t = np.asarray(y_true).reshape(-1)
    if P.ndim != 2 or P.shape[0] != t.size or t.size == 0:
        raise DataError(
            f"proba has shape {P.shape} for {t.size} labels; pass (n, n_classes) probabilities."
        )
    bins = reliability_bins(t, P, n_bins)
    return float(sum(b["n"] / t.size * abs(b["accuracy"] - b["confidence"]) for b in bins))


def reliability_bins(y_true: Any, proba: Any, n_bins: int = ECE_BINS) -> list[dict[str, Any]]:
    """The non-empty confidence bins of a reliability diagram (what ECE averages over).

    Returns
    -------
    list of dict
        Per non-empty bin: ``lo``, ``hi`` (edges), ``n`` (rows), ``accuracy`` and
        ``confidence`` (mean largest probability).

    Examples
    --------
    >>> import numpy as np
    >>> reliability_bins([0, 1], np.array([[0.9, 0.1], [0.8, 0.2]]), n_bins=5)
    [{'lo': 0.6, 'hi': 0.8, 'n': 1, 'accuracy': 0.0, 'confidence': 0.8}, \
{'lo': 0.8, 'hi': 1.0, 'n': 1, 'accuracy': 1.0, 'confidence': 0.9}]
    """
    P = np.asarray(proba, dtype=float)
    t = np.asarray(y_true).reshape(-1)
    conf = P.max(axis=1)
    correct = P.argmax(axis=1) == t
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    which = np.clip(np.digitize(conf, edges[1:-1], right=True), 0, n_bins - 1)
    out = []
    for b in range(n_bins):
        mask = which == b
        if mask.any():
            out.append({
                "lo": round(float(edges[b]), 6),
                "hi": round(float(edges[b + 1]), 6),
                "n": int(mask.sum()),
                "accuracy": float(correct[mask].mean()),
                "confidence": float(conf[mask].mean()),
            })  # fmt: skip
    return out
