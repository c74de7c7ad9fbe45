"""``independent``: the small target network alone, trained from scratch; no source.

The no-source reference of auto's negative-transfer guard: a LeNet-5-like CNN for images, an
MLP for tabular data and hashed text (:class:`recycle.adapt.smallnet.SmallNetwork` with no
source path), trained like feature mixing's network.

Examples
--------
>>> import numpy as np
>>> from sklearn.datasets import load_digits
>>> X, y = load_digits(return_X_y=True)
>>> Independent(max_epochs=20).fit(X[:300], y[:300]).score(X[300:600], y[300:600]) > 0.8
True
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import torch

from recycle.adapt.base import Strategy
from recycle.adapt.registry import register_strategy
from recycle.adapt.smallnet import OwnInput, SmallNetwork, TrainSettings, count_trainable
from recycle.progress import ProgressCallback
from recycle.sources.base import SourceModel


@register_strategy
class Independent(Strategy):
    """The small target network (LeNet-5-like CNN / MLP) trained from scratch; no source.

    Parameters
    ----------
    sources : list of SourceModel, optional
        Ignored (the strategy reads no source).
    seed : int, default 0
    max_epochs, patience, lr, batch_size : training settings (early stopping on 10% validation).
    progress : callable, optional
        ``progress(task, epoch, max_epochs)``.
    """

    name: ClassVar[str] = "independent"
    uses_sources: ClassVar[bool] = False
    relative_cost: ClassVar[float] = 40.0

    def __init__(
        self,
        sources: list[SourceModel] | None = None,
        seed: int = 0,
        max_epochs: int = 100,
        patience: int = 10,
        lr: float = 1e-3,
        batch_size: int = 32,
        progress: ProgressCallback | None = None,
    ) -> None:
        self.sources = sources
        self.seed = seed
        self.max_epochs = max_epochs
        self.patience = patience
        self.lr = lr
        self.batch_size = batch_size
        self.progress = progress

    def _fit(self, X: Any, y: np.ndarray, feats: list[np.ndarray]) -> None:
        torch.manual_seed(self.seed)
        self.network_ = SmallNetwork.build(OwnInput.fit(X), 0, len(self.classes_), 1.0)
        settings = TrainSettings(self.max_epochs, self.patience, self.lr, self.batch_size)
        self.train_log_ = self.network_.fit(
            X, None, y, settings, self.seed, self.progress, task=f"train {self.name}"
        )
        self.trainable_params_ = count_trainable(self.network_.model)

    def _proba(self, X: Any, feats: list[np.ndarray]) -> np.ndarray:
        return self.network_.proba(X, None)

    def _state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        config, tensors = self.network_.to_state()
        return {**config, "n_sources": 0}, tensors

    def _load_state(self, config: dict[str, Any], tensors: dict[str, np.ndarray]) -> None:
        self.network_ = SmallNetwork.from_state(config, tensors, 0, len(self.classes_))
