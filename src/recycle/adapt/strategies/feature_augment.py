"""``feature_augment``: the target's own features plus the sources' out-of-fold outputs.

The target's raw features (pixels at 28x28, hashed words, or the columns; the small network's
input encoding, :class:`recycle.adapt.smallnet.OwnInput`) with each source's out-of-fold
target-class probabilities appended, then a standardised logistic regression (learnware's
FeatureAugmentReuser idea; sources' own label spaces differ from the target's, so their
"outputs" are read out through a per-source linear head).

Examples
--------
>>> import numpy as np
>>> rng = np.random.default_rng(0)
>>> X = rng.normal(size=(60, 4)); y = (X[:, 0] > 0).astype(int)
>>> class Cols:
...     source_id, modality, access, feature_dim = "cols", "tabular", "black-box", 4
...     def embed(self, X):
...         return np.asarray(X, dtype=np.float32)
>>> FeatureAugment([Cols()]).fit(X, y).score(X, y) > 0.9
True
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from recycle.adapt._linear import (
    LOGREG_C,
    apply_scaler,
    fit_logreg,
    fit_per_source,
    fit_scaler,
    logreg_proba,
    n_linear_params,
    pack,
    per_source_proba,
    unpack,
)
from recycle.adapt.base import Strategy
from recycle.adapt.registry import register_strategy
from recycle.adapt.smallnet import OwnInput
from recycle.sources.base import SourceModel


@register_strategy
class FeatureAugment(Strategy):
    """Target's raw features plus the sources' out-of-fold outputs, then a linear model.

    Parameters
    ----------
    sources : list of SourceModel
    seed : int, default 0
    C : float, default 1.0
        Inverse L2 strength of the logistic regressions.
    """

    name: ClassVar[str] = "feature_augment"
    relative_cost: ClassVar[float] = 5.0

    def __init__(
        self, sources: list[SourceModel] | None = None, seed: int = 0, C: float = LOGREG_C
    ) -> None:
        self.sources = sources
        self.seed = seed
        self.C = C

    def _raw(self, X: Any) -> np.ndarray:
        return self.own_input_.transform(X).reshape(len(X), -1).astype(np.float64)

    def _fit(self, X: Any, y: np.ndarray, feats: list[np.ndarray]) -> None:
        n_classes = len(self.classes_)
        self.own_input_ = OwnInput.fit(X)
        self.arrays_, oof = fit_per_source(feats, y, n_classes, self.C, self.seed, True)
        D = np.concatenate([self._raw(X), *oof], axis=1)
        scaler = fit_scaler(D)
        head = fit_logreg(apply_scaler(scaler, D), y, n_classes, self.C, self.seed)
        self.arrays_.update({**pack("aug.scaler", scaler), **pack("aug.head", head)})
        self.trainable_params_ = n_linear_params(self.arrays_)

    def _proba(self, X: Any, feats: list[np.ndarray]) -> np.ndarray:
        D = np.concatenate([self._raw(X), *per_source_proba(self.arrays_, feats)], axis=1)
        D = apply_scaler(unpack("aug.scaler", self.arrays_), D)
        return logreg_proba(unpack("aug.head", self.arrays_), D)

    def _state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        cfg, t = self.own_input_.to_state()
        return {"own": cfg}, {**self.arrays_, **pack("own", t)}

    def _load_state(self, config: dict[str, Any], tensors: dict[str, np.ndarray]) -> None:
        self.arrays_ = {k: np.asarray(v) for k, v in tensors.items() if not k.startswith("own.")}
        self.own_input_ = OwnInput.from_state(config["own"], unpack("own", tensors))
