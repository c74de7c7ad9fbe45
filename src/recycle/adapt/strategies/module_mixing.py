"""``module_mixing`` (Wang & Henao): convex mixing of source adapters inside one network.

All sources share one frozen base (a :mod:`recycle.adapt.family`). For the target, every adapter
site mixes the ``m`` frozen source adapters with one new trainable adapter, the pooled features
are mixed with the sources' features, and a new head classifies them
(:class:`recycle.adapt.adapters.AdapterNet`). Trained: the new adapters, the head and the mixing
logits. Optional regulariser: ``sigma * mean_n dCor(f_n, f_t)`` on L2-normalised minibatch
features. Early stopping uses a stratified validation split of the target data.

``lambda_new="auto"`` (default) sets the initial weight of the new path from ``LAMBDA_GRID`` by
comparing the leave-one-out 1-NN accuracy of the base features with that of the best source's
features on the target training data (no extra training); ``"grid"`` instead runs a short
training per candidate and keeps the best on the validation split (3x slower, and noisy when the
validation split has one image per class).

Examples
--------
>>> import numpy as np
>>> from recycle.adapt.family import FamilyBase, FamilyConfig, FamilySource
>>> base = FamilyBase(FamilyConfig(channels=(4, 8)))
>>> src = FamilySource.fresh(base, ["a", "b"], name="demo.src")
>>> X = np.random.default_rng(0).integers(0, 255, (20, 28, 28), dtype=np.uint8)
>>> y = np.arange(20) % 2
>>> mm = ModuleMixing([src], lambda_new=0.5, max_epochs=2).fit(X, y)
>>> mm.predict(X[:4]).shape, mm.mixing_weights_.shape
((4,), (3, 2))
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

import torch

from recycle.adapt.adapters import AdapterStrategy, loo_1nn_accuracy
from recycle.adapt.family.source import inference_batch
from recycle.adapt.registry import register_strategy
from recycle.errors import ConfigError

LAMBDA_GRID = (0.2, 0.5, 0.8)  # candidate initial weights of the new path for lambda_new="auto"
DC_SIGMA = 0.05  # the paper's weight of the distance-correlation regulariser
KNN_MARGIN = 0.05  # 1-NN accuracy gap (source vs base) that moves lambda_new off the middle


@register_strategy
class ModuleMixing(AdapterStrategy):
    """Module mixing of ``m`` family sources (the paper's white-box method).

    Parameters
    ----------
    sources : list of FamilySource
        Selected sources sharing one base (best first).
    seed : int
    lambda_new : float in (0, 1), "auto" or "grid"
        Initial weight of the new path at every site and in the feature mix; "auto" picks it
        from ``LAMBDA_GRID`` by 1-NN accuracy of base vs source features, "grid" by validation
        accuracy of short runs.
    sigma : float
        Weight of the distance-correlation regulariser (0 disables it; the paper uses 0.05).
    max_epochs, lr, batch_size, patience : training settings (Adam, early stopping).
    val_fraction : float
        Share of each class held out for early stopping (at least one example).
    head_init : {"probe", "random"}
        "probe" starts the new head from a logistic regression on the initial (mixed) features
        of the training split, then fine-tunes everything (LP-FT); "random" is PyTorch's init.
    new_adapter : bool
        Add the new trainable adapter at every site (the paper's method). False is the
        ablation "without the new adapter": sites mix the frozen source adapters only, and the
        trained parameters are the mixing weights and the head.
    """

    name: ClassVar[str] = "module_mixing"

    def __init__(
        self,
        sources: list[Any] | None = None,
        seed: int = 0,
        lambda_new: float | Literal["auto", "grid"] = "auto",
        sigma: float = 0.0,
        max_epochs: int = 30,
        lr: float = 3e-3,
        batch_size: int = 32,
        patience: int = 8,
        val_fraction: float = 0.1,
        head_init: Literal["probe", "random"] = "probe",
        new_adapter: bool = True,
    ) -> None:
        self.sources = sources
        self.head_init = head_init
        self.new_adapter = new_adapter
        self.seed = seed
        self.lambda_new = lambda_new
        self.sigma = sigma
        self.max_epochs = max_epochs
        self.lr = lr
        self.batch_size = batch_size
        self.patience = patience
        self.val_fraction = val_fraction

    def _sigma(self) -> float:
        return float(self.sigma)

    def _new_adapter(self) -> bool:
        return bool(self.new_adapter)

    def _initial_lambda(self, xt: torch.Tensor, yt: torch.Tensor, S: torch.Tensor) -> float:
        lam = self.lambda_new
        if lam not in ("auto", "grid") and (isinstance(lam, str) or not 0.0 < float(lam) < 1.0):
            raise ConfigError(
                f"The 'lambda_new' parameter must be a float in (0, 1), 'auto' or 'grid'. "
                f"Got {lam!r} instead."
            )
        if not S.shape[1]:
            return 0.5 if lam in ("auto", "grid") else float(lam)
        if lam == "grid":
            short = max(3, self.max_epochs // 4)
            for cand in LAMBDA_GRID:
                self.lambda_scores_[str(cand)] = self._train(xt, yt, S, cand, short)[1]
            return max(
                LAMBDA_GRID, key=lambda c: (self.lambda_scores_[str(c)] or 0.0, -abs(c - 0.5))
            )
        if lam == "auto":
            return self._lambda_from_knn(xt, yt, S)
        return float(lam)

    def _lambda_from_knn(self, xt: torch.Tensor, yt: torch.Tensor, S: torch.Tensor) -> float:
        """Initial lambda_new from leave-one-out 1-NN accuracy: base features vs best source."""
        y = yt.numpy()
        base = self._base()
        step = inference_batch(base)
        with torch.no_grad():
            f_base = torch.cat([base(xt[i : i + step]) for i in range(0, len(xt), step)])
        scores = {"base": loo_1nn_accuracy(f_base, y)}
        for k in range(S.shape[1]):
            scores[f"s{k}"] = loo_1nn_accuracy(S[:, k], y)
        self.lambda_scores_ = dict(scores)
        gap = max(v for k, v in scores.items() if k != "base") - scores["base"]
        if gap > KNN_MARGIN:
            return LAMBDA_GRID[0]  # a source already separates the classes: lean on sources
        if gap < -KNN_MARGIN:
            return LAMBDA_GRID[-1]  # the sources are worse than the bare base: lean on new path
        return LAMBDA_GRID[1]
