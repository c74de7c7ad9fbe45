"""``averaging``: the mean of per-source logistic-regression probabilities.

One standardised logistic regression per source (learnware's AveragingReuser idea), averaged.

Examples
--------
>>> import numpy as np
>>> rng = np.random.default_rng(0)
>>> X = rng.normal(size=(60, 4)); y = (X[:, 0] > 0).astype(int)
>>> class Cols:
...     source_id, modality, access, feature_dim = "cols", "tabular", "black-box", 4
...     def embed(self, X):
...         return np.asarray(X, dtype=np.float32)
>>> Averaging([Cols()]).fit(X, y).score(X, y) > 0.9
True
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from recycle.adapt._linear import LOGREG_C, fit_per_source, n_linear_params, per_source_proba
from recycle.adapt.base import Strategy
from recycle.adapt.registry import register_strategy
from recycle.sources.base import SourceModel


@register_strategy
class Averaging(Strategy):
    """Mean of the per-source logistic-regression probabilities.

    Parameters
    ----------
    sources : list of SourceModel
    seed : int, default 0
    C : float, default 1.0
        Inverse L2 strength of each source's logistic regression.
    """

    name: ClassVar[str] = "averaging"

    def __init__(
        self, sources: list[SourceModel] | None = None, seed: int = 0, C: float = LOGREG_C
    ) -> None:
        self.sources = sources
        self.seed = seed
        self.C = C

    def _fit(self, X: Any, y: np.ndarray, feats: list[np.ndarray]) -> None:
        self.arrays_, _ = fit_per_source(feats, y, len(self.classes_), self.C, self.seed, False)
        self.trainable_params_ = n_linear_params(self.arrays_)

    def _proba(self, X: Any, feats: list[np.ndarray]) -> np.ndarray:
        return np.mean(per_source_proba(self.arrays_, feats), axis=0)
