"""Evaluation reports: the metrics of a fitted model on a labelled test set.

Examples
--------
>>> import numpy as np
>>> P = np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4]])
>>> rep = evaluation_report(["a", "b", "b"], P, classes=["a", "b"])
>>> rep["accuracy"], rep["n"], rep["confusion"]
(0.6666666666666666, 3, [[1, 0], [1, 1]])
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np

from recycle.errors import DataError
from recycle.evaluate.metrics import (
    accuracy,
    expected_calibration_error,
    macro_f1,
    reliability_bins,
)


def _key(v: Any) -> str:
    return str(v.item() if isinstance(v, np.generic) else v)


def evaluation_report(
    y_true: Sequence[Any] | np.ndarray, proba: np.ndarray, classes: Sequence[Any]
) -> dict[str, Any]:
    """Accuracy, macro-F1 and ECE of ``proba`` (columns = ``classes``) against labels ``y_true``.

    Test labels are matched to the model's classes by value (as strings, so ``3`` and ``"3"``
    agree). A test label the model does not know raises :class:`DataError`. Model classes that
    do not occur in the test set trigger a warning; macro-F1 is then computed over the classes
    present (listed under ``"absent_classes"``).

    Returns
    -------
    dict
        ``{"n", "accuracy", "macro_f1", "ece", "classes", "absent_classes", "per_class",
        "confusion", "reliability"}``: ``confusion[i][j]`` counts rows of class ``classes[i]``
        predicted as ``classes[j]``; ``reliability`` are the bins of
        :func:`~recycle.evaluate.metrics.reliability_bins`.
    """
    names = [_key(c) for c in classes]
    index = {c: i for i, c in enumerate(names)}
    truth = [_key(v) for v in np.asarray(y_true).reshape(-1).tolist()]
    unknown = sorted(set(truth) - set(index))
    if unknown:
        raise DataError(
            f"Test labels {unknown[:5]} are not classes of the model ({names[:10]}); "
            "evaluate on data with the model's classes."
        )
    t = np.array([index[v] for v in truth])
    P = np.asarray(proba, dtype=float)
    pred = P.argmax(axis=1)
    present = sorted(set(t.tolist()))
    absent = [names[i] for i in range(len(names)) if i not in present]
    if absent:
        warnings.warn(
            f"Classes {absent} do not occur in the test set; macro-F1 is over the "
            f"{len(present)} classes present.",
            UserWarning,
            stacklevel=2,
        )
    per_class = {
        names[c]: {"n": int(np.sum(t == c)), "recall": float(np.mean(pred[t == c] == c))}
        for c in present
    }
    return {
        "n": int(t.size),
        "accuracy": accuracy(t, pred),
        "macro_f1": macro_f1(t, pred, labels=present),
        "ece": expected_calibration_error(t, P),
        "classes": names,
        "absent_classes": absent,
        "per_class": per_class,
        "confusion": np.bincount(t * len(names) + pred, minlength=len(names) ** 2)
        .reshape(len(names), len(names))
        .tolist(),
        "reliability": reliability_bins(t, P),
    }
