"""``linear_probe``: a logistic regression on the sources' concatenated features.

Each source's features are L2-normalised, the concatenation is standardised, and a multinomial
logistic regression is fitted (the paper's multi-source SVM, as a probabilistic model). The
fitted model is plain arrays, so saving and loading is exact.

Examples
--------
>>> import numpy as np
>>> from sklearn.datasets import load_digits
>>> X, y = load_digits(return_X_y=True)
>>> class Pixels:
...     source_id, modality, access, feature_dim = "pixels", "tabular", "black-box", 64
...     def embed(self, X):
...         return np.asarray(X, dtype=np.float32)
>>> lp = LinearProbe([Pixels()]).fit(X[:300], y[:300])
>>> lp.score(X[300:600], y[300:600]) > 0.8
True
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from recycle.adapt._linear import (
    LOGREG_C,
    fit_scaled_head,
    l2_normalize,
    n_linear_params,
    scaled_head_proba,
)
from recycle.adapt.base import Strategy
from recycle.adapt.registry import register_strategy
from recycle.sources.base import SourceModel


@register_strategy
class LinearProbe(Strategy):
    """Logistic regression on the concatenated L2-normalised features of the sources.

    Parameters
    ----------
    sources : list of SourceModel
    seed : int, default 0
    C : float, default 1.0
        Inverse L2 strength of the logistic regression (on standardised features).
    """

    name: ClassVar[str] = "linear_probe"

    def __init__(
        self, sources: list[SourceModel] | None = None, seed: int = 0, C: float = LOGREG_C
    ) -> None:
        self.sources = sources
        self.seed = seed
        self.C = C

    def _design(self, feats: list[np.ndarray]) -> np.ndarray:
        return np.concatenate([l2_normalize(F.astype(np.float64)) for F in feats], axis=1)

    def _fit(self, X: Any, y: np.ndarray, feats: list[np.ndarray]) -> None:
        D = self._design(feats)
        self.arrays_ = fit_scaled_head(D, y, len(self.classes_), self.C, self.seed)
        self.trainable_params_ = n_linear_params(self.arrays_)

    def _proba(self, X: Any, feats: list[np.ndarray]) -> np.ndarray:
        return scaled_head_proba(self.arrays_, self._design(feats))
