"""Distillation: a multi-source recycled model taught into one small student.

The teacher (any fitted :class:`~recycle.adapt.Recycler`, typically several sources, one
forward pass each) labels rows it was not given labels for: the user's unlabelled rows and
augmented copies of the labelled ones (small shifts and rotations for images, feature noise for
tabular rows; see :mod:`recycle.deploy.corrupt`). The student is the target's own small network
(``strategy="independent"``: a LeNet-5-like CNN for images, an MLP for tabular rows; no
source, one forward pass) trained on the true labels of the labelled rows plus the teacher's
labels (its most probable class) of the others. It is a normal recycled model: ``predict``,
``save``, ``export`` and ``recycle report`` work on it, and its report names the teacher's
sources under ``distilled_from`` (their licences still bind the student).

Examples
--------
>>> import numpy as np
>>> from sklearn.datasets import load_digits
>>> from sklearn.decomposition import PCA
>>> from recycle.adapt import Recycler
>>> from recycle.sources import SklearnSource
>>> X, y = load_digits(return_X_y=True)
>>> X = X.astype(np.float32)
>>> teacher = Recycler([SklearnSource(PCA(20).fit(X), source_id="pca.doc")], m=1,
...                    strategy="linear_probe").fit(X[:100], y[:100])
>>> student = distill(teacher, X[:60], y[:60], X_unlabelled=X[100:200], augment_copies=1,
...                   max_epochs=3)
>>> info = student.report_["distilled_from"]
>>> student.report_["strategy"], info["n_augmented"], info["n_unlabelled"]
('independent', 60, 100)
"""

from __future__ import annotations

from typing import Any

import numpy as np

from recycle.deploy.corrupt import corruptions
from recycle.errors import DataError

#: Augmented copies made of each labelled row (images and tabular rows; none for text).
AUGMENT_COPIES = 4
#: The corruptions used as augmentations, by modality (mild ones that keep the class).
AUGMENTATIONS = {"image": ("shift", "rotation"), "tabular": ("feature_noise",), "text": ()}


def _concat(parts: list[Any]) -> Any:
    parts = [p for p in parts if p is not None and len(p)]
    if parts and isinstance(parts[0], list):
        return [row for p in parts for row in p]
    return np.concatenate(parts)


def augmented(X: Any, copies: int = AUGMENT_COPIES, seed: int = 0) -> Any:
    """``copies`` augmented copies of ``X`` (empty for text), cycling through the modality's
    augmentations.

    Examples
    --------
    >>> augmented(np.zeros((3, 8, 8), dtype=np.uint8), copies=2).shape
    (6, 8, 8)
    """
    from recycle.data import infer_modality

    modality = infer_modality(X)
    names = AUGMENTATIONS[modality]
    if not names or copies < 1:
        return X[:0] if isinstance(X, np.ndarray) else []
    rng = np.random.default_rng(seed)
    table = corruptions(modality)
    return _concat([table[names[k % len(names)]](X, rng) for k in range(copies)])


def distill(
    teacher: Any,
    X: Any = None,
    y: Any = None,
    *,
    X_unlabelled: Any = None,
    augment_copies: int = AUGMENT_COPIES,
    seed: int = 0,
    max_epochs: int = 100,
) -> Any:
    """Teach ``teacher`` (a fitted Recycler) into one small student Recycler.

    Parameters
    ----------
    teacher : Recycler
    X, y : labelled rows (optional when ``X_unlabelled`` is given); their labels are kept.
    X_unlabelled : rows without labels, labelled by the teacher.
    augment_copies : int, default 4
        Augmented copies of ``X`` labelled by the teacher.
    seed : int, default 0
    max_epochs : int, default 100
        Epoch cap of the student's training (early stopping usually ends sooner).

    Returns
    -------
    Recycler
        Fitted, ``strategy="independent"``; ``report_["distilled_from"]`` describes the teacher
        and the rows used.
    """
    from recycle.adapt import Recycler
    from recycle.deploy.onnx_export import source_records

    if (X is None or not len(X)) and (X_unlabelled is None or not len(X_unlabelled)):
        raise DataError(
            "Distillation needs rows: pass labelled rows (X, y) and/or unlabelled rows "
            "(X_unlabelled / --unlabelled DATA)."
        )
    if X is not None and y is not None and len(X) != len(y):
        raise DataError(f"X has {len(X)} rows but y has {len(y)} labels; pass one per row.")
    classes = teacher.classes_
    extra = [] if X is None else [augmented(X, augment_copies, seed)]
    extra.append(X_unlabelled)
    X_extra = _concat(extra)
    taught = classes[teacher.predict_proba(X_extra).argmax(axis=1)] if len(X_extra) else []
    has_labels = X is not None and y is not None and len(X)
    X_all = _concat([X, X_extra]) if has_labels else X_extra
    y_all = np.concatenate([np.asarray(y), taught]) if has_labels else np.asarray(taught)
    params = {"independent": {"max_epochs": max_epochs}}
    student = Recycler(None, strategy="independent", seed=seed, strategy_params=params)
    student.fit(X_all, y_all)
    student.report_["distilled_from"] = {
        "strategy": teacher.report_.get("strategy"),
        "sources": source_records(teacher),
        "trainable_params": teacher.report_.get("trainable_params"),
        "n_labelled": len(X) if has_labels else 0,
        "n_augmented": int(len(X_extra) - (0 if X_unlabelled is None else len(X_unlabelled))),
        "n_unlabelled": 0 if X_unlabelled is None else len(X_unlabelled),
    }
    return student
