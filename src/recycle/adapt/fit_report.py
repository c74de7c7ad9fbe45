"""``report_`` of a fitted Recycler: what was selected, chosen and fitted, and the warnings.

Examples
--------
>>> import numpy as np
>>> from sklearn.datasets import load_digits
>>> from recycle.adapt import Recycler
>>> X, y = load_digits(return_X_y=True)
>>> rec = Recycler(None, strategy="independent", strategy_params={"*": {"max_epochs": 2}})
>>> report = rec.fit(X[:100], y[:100]).report_  # fit_report(rec, ...) of the fitted model
>>> report["strategy"], report["n_train"], report["guard"]
('independent', 100, None)
"""

from __future__ import annotations

import contextlib
from typing import Any

import numpy as np

from recycle.adapt.auto import Choice
from recycle.adapt.source_records import source_records


def _plain(v: Any) -> Any:
    return v.item() if isinstance(v, np.generic) else v


def fit_report(
    rec: Any, sel: Any, name: str, sources: list[Any], choice: Choice | None,
    notes: list[str], zoo: Any, X: Any,
) -> dict[str, Any]:  # fmt: skip
    """The ``report_`` dict of ``rec`` (a Recycler whose ``strategy_`` is fitted on ``X``):
    strategy ``name`` on ``sources``, auto's ``choice`` (its CV rows and guard; None without
    auto), the ``notes`` as warnings."""
    est = rec.strategy_
    cv_rows, guard = (choice.cv, choice.guard) if choice else ([], None)
    # the no-source strategies say which model they fitted: a kind, or "blend"
    extra = {"no_source_model": str(est.chosen_)} if hasattr(est, "chosen_") else {}
    for attr in ("mixing_weights_", "source_weights_"):
        with contextlib.suppress(AttributeError):
            extra[attr.rstrip("_")] = np.asarray(getattr(est, attr)).round(4).tolist()
    return {
        "strategy": name,
        "strategy_param": rec.strategy,
        "m": len(sources),
        "m_param": rec.m,
        "score": rec.selection_score,
        "seed": rec.seed,
        "zoo": getattr(zoo, "location", None) if zoo is not None else None,
        "sources": source_records(sel, sources, zoo),
        "ranking": [] if sel is None else [r.to_dict() for r in sel.ranking[:20]],
        "m_selected": None if sel is None else sel.m,
        "cv": {r.key: r.to_dict() for r in cv_rows},
        "guard": None if guard is None else guard.to_dict(),
        "trainable_params": int(est.trainable_params_),
        "classes": [_plain(c) for c in rec.classes_.tolist()],
        "n_train": len(X),
        "input_shape": [] if isinstance(X, list) else [int(d) for d in np.shape(X)[1:]],
        "warnings": notes,
        **extra,
    }
