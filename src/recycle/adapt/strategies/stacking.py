"""``stacking``: a logistic regression on the sources' out-of-fold probabilities.

One standardised logistic regression per source; a second-level logistic regression on the
log of their concatenated out-of-fold probabilities (:func:`recycle.adapt._linear.oof_proba`).

Examples
--------
>>> import numpy as np
>>> rng = np.random.default_rng(0)
>>> X = rng.normal(size=(60, 4)); y = (X[:, 0] > 0).astype(int)
>>> class Cols:
...     source_id, modality, access, feature_dim = "cols", "tabular", "black-box", 4
...     def embed(self, X):
...         return np.asarray(X, dtype=np.float32)
>>> Stacking([Cols()]).fit(X, y).score(X, y) > 0.9
True
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from recycle.adapt._linear import (
    LOGREG_C,
    fit_logreg,
    fit_per_source,
    logreg_proba,
    n_linear_params,
    pack,
    per_source_proba,
    unpack,
)
from recycle.adapt.base import Strategy
from recycle.adapt.registry import register_strategy
from recycle.sources.base import SourceModel

#: Probabilities are clipped here before the log of the second-level features.
LOG_FLOOR = 1e-6


def _meta(proba: list[np.ndarray]) -> np.ndarray:
    return np.log(np.clip(np.concatenate(proba, axis=1), LOG_FLOOR, 1.0))


@register_strategy
class Stacking(Strategy):
    """Logistic regression on concatenated out-of-fold per-source probabilities.

    Parameters
    ----------
    sources : list of SourceModel
    seed : int, default 0
    C : float, default 1.0
        Inverse L2 strength of the per-source and second-level logistic regressions.
    """

    name: ClassVar[str] = "stacking"
    relative_cost: ClassVar[float] = 5.0

    def __init__(
        self, sources: list[SourceModel] | None = None, seed: int = 0, C: float = LOGREG_C
    ) -> None:
        self.sources = sources
        self.seed = seed
        self.C = C

    def _fit(self, X: Any, y: np.ndarray, feats: list[np.ndarray]) -> None:
        n_classes = len(self.classes_)
        self.arrays_, oof = fit_per_source(feats, y, n_classes, self.C, self.seed, True)
        self.arrays_.update(pack("meta", fit_logreg(_meta(oof), y, n_classes, self.C, self.seed)))
        self.trainable_params_ = n_linear_params(self.arrays_)

    def _proba(self, X: Any, feats: list[np.ndarray]) -> np.ndarray:
        meta = _meta(per_source_proba(self.arrays_, feats))
        return logreg_proba(unpack("meta", self.arrays_), meta)
