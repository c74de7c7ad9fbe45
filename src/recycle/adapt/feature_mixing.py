"""Black-box feature mixing (Wang & Henao 2025, black-box phase 2).

Sources are only ``embed()`` calls. Each source's features are reduced to the feature size ``k``
of a small target network (FastICA as in the paper, or PCA), fitted on the target's train
features. The reduced features and the target network's own ``k``-d features are each
layer-normalised (no affine, so their scales match) and mixed convexly,
``f(x) = lambda_new f_t(x) + sum_n lambda_n f_n(x)`` with ``lambda = softmax(logits)``; a new
linear head classifies ``f(x)``. Trained end to end: the small network, the mixing logits and
the head, with early stopping on a stratified 10% validation split.

Examples
--------
>>> import numpy as np
>>> from sklearn.datasets import load_digits
>>> X, y = load_digits(return_X_y=True)
>>> class Pixels:  # a stand-in black-box source: the raw pixels
...     source_id, modality, access, feature_dim = "pixels", "tabular", "black-box", 64
...     def embed(self, X):
...         return np.asarray(X, dtype=np.float32)
>>> fm = FeatureMixing([Pixels()], max_epochs=5).fit(X[:200], y[:200])
>>> round(float(fm.mixing_weights_.sum()), 6)
1.0
"""

from __future__ import annotations

import warnings
from typing import Any, ClassVar

import numpy as np
import torch
from sklearn.decomposition import PCA, FastICA
from sklearn.exceptions import ConvergenceWarning
from torch import nn

from recycle.adapt.nets import (
    OwnInput,
    TrainConfig,
    count_trainable,
    load_module_tensors,
    module_tensors,
    own_network,
    predict_logits,
    train_classifier,
)
from recycle.adapt.strategies import Strategy
from recycle.errors import ConfigError
from recycle.progress import ProgressCallback
from recycle.sources.base import SourceModel

REDUCERS = ("ica", "pca")
ICA_MAX_ITER = 400  # FastICA iterations (it converges in far fewer on our sizes)


def fit_reducer(F: np.ndarray, k: int, method: str, seed: int) -> dict[str, np.ndarray]:
    """Fit a linear reduction of ``F`` to ``k`` unit-variance components: ``(F - mean) @ P.T``.

    Fewer than ``k`` components are fitted when ``F`` has fewer rows or columns; the missing
    rows of ``P`` are zero (those outputs are constant 0).
    """
    n, d = F.shape
    r = max(1, min(k, d, n - 1))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        warnings.simplefilter("ignore", UserWarning)
        if method == "ica":
            red: Any = FastICA(
                n_components=r, whiten="unit-variance", random_state=seed, max_iter=ICA_MAX_ITER
            ).fit(F.astype(np.float64))
            P, mean = red.components_, red.mean_
        else:
            red = PCA(n_components=r, whiten=True, random_state=seed).fit(F.astype(np.float64))
            P = red.components_ / np.sqrt(np.maximum(red.explained_variance_, 1e-12))[:, None]
            mean = red.mean_
    comps = np.zeros((k, d), dtype=np.float32)
    comps[:r] = np.nan_to_num(P)
    return {"mean": mean.astype(np.float32), "components": comps}


def apply_reducer(red: dict[str, np.ndarray], F: np.ndarray) -> np.ndarray:
    """``(F - mean) @ components.T`` as float32."""
    return ((F - red["mean"]) @ red["components"].T).astype(np.float32)


class MixNet(nn.Module):
    """Own network + convex mix of its features with fixed source features + a new head."""

    def __init__(
        self, own: nn.Module, k: int, n_sources: int, n_classes: int, lambda_new: float
    ) -> None:
        super().__init__()
        self.own = own
        self.norm = nn.LayerNorm(k, elementwise_affine=False)
        init = [lambda_new] + [(1.0 - lambda_new) / n_sources] * n_sources if n_sources else [1.0]
        self.mix_logits = nn.Parameter(torch.log(torch.tensor(init, dtype=torch.float32)))
        self.mix_logits.requires_grad_(n_sources > 0)
        self.head = nn.Linear(k, n_classes)

    def weights(self) -> torch.Tensor:
        """Convex mixing weights: own network first, then one per source."""
        return torch.softmax(self.mix_logits, dim=0)

    def features(self, x_own: torch.Tensor, z_src: torch.Tensor) -> torch.Tensor:
        paths = [self.norm(self.own(x_own))]
        paths += [self.norm(z_src[:, i]) for i in range(z_src.shape[1])]
        return (self.weights()[None, :, None] * torch.stack(paths, dim=1)).sum(dim=1)

    def forward(self, x_own: torch.Tensor, z_src: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x_own, z_src))


class FeatureMixing(Strategy):
    """Black-box feature mixing of ``m`` sources with a small target network.

    Parameters
    ----------
    sources : list of SourceModel
        The selected sources (only their ``embed`` is used).
    seed : int, default 0
    reducer : {"ica", "pca"}, default "ica"
        How source features are reduced to the target network's feature size.
    lambda_new : float or None, default None
        Initial weight of the target network's own path; None gives every path the same weight
        ``1 / (m + 1)``.
    max_epochs, patience, lr, batch_size : training settings (early stopping on 10% validation).
    progress : callable, optional
        ``progress(task, epoch, max_epochs)``.

    Attributes
    ----------
    mixing_weights_ : ndarray of shape (m + 1,)
        Learned convex weights (own network first); they sum to 1.
    trainable_params_ : int
    """

    name: ClassVar[str] = "feature_mixing"
    relative_cost: ClassVar[float] = 50.0

    def __init__(
        self,
        sources: list[SourceModel] | None = None,
        seed: int = 0,
        reducer: str = "ica",
        lambda_new: float | None = None,
        max_epochs: int = 100,
        patience: int = 10,
        lr: float = 1e-3,
        batch_size: int = 32,
        progress: ProgressCallback | None = None,
    ) -> None:
        self.sources = sources
        self.seed = seed
        self.reducer = reducer
        self.lambda_new = lambda_new
        self.max_epochs = max_epochs
        self.patience = patience
        self.lr = lr
        self.batch_size = batch_size
        self.progress = progress

    def _check_params(self, n_sources: int) -> float:
        if self.reducer not in REDUCERS:
            raise ConfigError(
                f"The 'reducer' parameter of {type(self).__name__} must be one of "
                f"{', '.join(REDUCERS)}. Got {self.reducer!r} instead."
            )
        lam = self.lambda_new
        if lam is None:
            return 1.0 / (n_sources + 1)
        if not 0.0 < float(lam) < 1.0 and n_sources:
            raise ConfigError(
                f"The 'lambda_new' parameter of {type(self).__name__} must be a float in (0, 1) "
                f"or None. Got {lam!r} instead."
            )
        return float(lam)

    def _reduce(self, feats: list[np.ndarray], n: int, k: int) -> np.ndarray:
        if not feats:
            return np.zeros((n, 0, k), dtype=np.float32)
        return np.stack(
            [apply_reducer(r, F) for r, F in zip(self.reducers_, feats, strict=True)], 1
        )

    def _build(self, d_in: int, n_sources: int, lam: float) -> MixNet:
        own, k = own_network(self.own_input_.kind, d_in)
        return MixNet(own, k, n_sources, len(self.classes_), lam)

    def _fit(self, X: Any, y: np.ndarray, feats: list[np.ndarray]) -> None:
        lam = self._check_params(len(feats))
        torch.manual_seed(self.seed)
        self.own_input_ = OwnInput.fit(X)
        x_own = self.own_input_.transform(X)
        self.model_ = self._build(self.own_input_.d_in, len(feats), lam)
        k = self.model_.head.in_features
        self.reducers_ = [fit_reducer(F, k, self.reducer, self.seed) for F in feats]
        cfg = TrainConfig(
            max_epochs=self.max_epochs, patience=self.patience, lr=self.lr,
            batch_size=self.batch_size,
        )  # fmt: skip
        self.train_log_ = train_classifier(
            self.model_, [x_own, self._reduce(feats, len(y), k)], y, cfg, self.seed,
            self.progress, task=f"train {self.name}",
        )  # fmt: skip
        self.trainable_params_ = count_trainable(self.model_)

    @property
    def mixing_weights_(self) -> np.ndarray:
        """Convex weights of the own network (first) and each source; they sum to 1."""
        return self.model_.weights().detach().numpy().astype(np.float64)

    def _proba(self, X: Any, feats: list[np.ndarray]) -> np.ndarray:
        k = self.model_.head.in_features
        logits = predict_logits(
            self.model_, [self.own_input_.transform(X), self._reduce(feats, len(X), k)]
        )
        z = logits - logits.max(axis=1, keepdims=True)
        e = np.exp(z.astype(np.float64))
        return e / e.sum(axis=1, keepdims=True)

    def _state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        own_cfg, own_t = self.own_input_.to_state()
        tensors = {f"own.{k}": v for k, v in own_t.items()}
        for i, red in enumerate(self.reducers_):
            tensors.update({f"reducer{i}.{k}": v for k, v in red.items()})
        tensors.update(module_tensors(self.model_))
        return {"own": own_cfg, "n_sources": len(self.reducers_)}, tensors

    def _load_state(self, config: dict[str, Any], tensors: dict[str, np.ndarray]) -> None:
        own_t = {k[4:]: v for k, v in tensors.items() if k.startswith("own.")}
        self.own_input_ = OwnInput.from_state(config["own"], own_t)
        n_src = int(config["n_sources"])
        self.reducers_ = [
            {"mean": tensors[f"reducer{i}.mean"], "components": tensors[f"reducer{i}.components"]}
            for i in range(n_src)
        ]
        self.model_ = self._build(self.own_input_.d_in, n_src, 0.5)
        load_module_tensors(self.model_, tensors)
        self.model_.eval()
