"""Black-box feature mixing (Wang & Henao 2025, black-box phase 2).

Sources are only ``embed()`` calls. Each source's features are reduced to the feature size ``k``
of a small target network (FastICA as in the paper, or PCA), fitted on the target's train
features. The reduced features and the target network's own ``k``-d features are each
layer-normalised (no affine, so their scales match) and mixed convexly,
``f(x) = lambda_new f_t(x) + sum_n lambda_n f_n(x)`` with ``lambda = softmax(logits)``; a new
linear head classifies ``f(x)``. Trained end to end: the small network, the mixing logits and
the head, with early stopping on a stratified 10% validation split: the small network, its
mixing and its training are :class:`recycle.adapt.smallnet.SmallNetwork`, shared with the
``independent`` baseline (which mixes in no source).

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
from typing import Any, ClassVar, Literal

import numpy as np
import torch
from sklearn.decomposition import PCA, FastICA
from sklearn.exceptions import ConvergenceWarning

from recycle.adapt.base import Strategy
from recycle.adapt.registry import register_strategy
from recycle.adapt.smallnet import OwnInput, SmallNetwork, TrainSettings, count_trainable
from recycle.errors import ConfigError
from recycle.progress import ProgressCallback
from recycle.sources.base import SourceModel

REDUCERS = ("ica", "pca")
ICA_MAX_ITER = 400  # FastICA iterations (it converges in far fewer on our sizes)
#: A direction of the centred source features whose standard deviation is below this fraction
#: of the features' largest magnitude is float32 rounding, not signal: whitening it to unit
#: variance would blow rounding up by ~1e7 (or divide by zero), so it is not a component.
RANK_RTOL = 1e-5


def numerical_rank(F: np.ndarray) -> int:
    """How many directions of the centred ``F`` vary by more than :data:`RANK_RTOL` of its
    scale: 1 for a two-class source's probabilities (the columns sum to 1), 0 for constant
    outputs.

    >>> p = np.linspace(0.1, 0.9, 20)
    >>> numerical_rank(np.c_[p, 1 - p]), numerical_rank(np.full((20, 2), 0.5))
    (1, 0)
    """
    F = np.asarray(F, dtype=np.float64)
    scale = float(np.abs(F).max(initial=0.0))
    if scale == 0.0 or len(F) < 2:
        return 0
    sd = np.linalg.svd(F - F.mean(axis=0), compute_uv=False) / np.sqrt(len(F))
    return int(np.sum(sd > RANK_RTOL * scale))


def fit_reducer(F: np.ndarray, k: int, method: str, seed: int) -> dict[str, np.ndarray]:
    """Fit a linear reduction of ``F`` to ``k`` unit-variance components: ``(F - mean) @ P.T``.

    At most :func:`numerical_rank` components are fitted (fewer than ``k`` when ``F`` has fewer
    rows, columns or independent directions: two-class probabilities have one); the missing
    rows of ``P`` are zero (those outputs are constant 0), and constant features give none.
    """
    n, d = F.shape
    r = min(k, d, n - 1, numerical_rank(F))
    if r < 1:
        zeros = np.zeros((k, d), dtype=np.float32)
        return {"mean": F.mean(axis=0).astype(np.float32), "components": zeros}
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


@register_strategy
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
        reducer: Literal["ica", "pca"] = "ica",
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

    def _fit(self, X: Any, y: np.ndarray, feats: list[np.ndarray]) -> None:
        lam = self._check_params(len(feats))
        torch.manual_seed(self.seed)
        self.network_ = SmallNetwork.build(OwnInput.fit(X), len(feats), len(self.classes_), lam)
        k = self.network_.k
        self.reducers_ = [fit_reducer(F, k, self.reducer, self.seed) for F in feats]
        settings = TrainSettings(self.max_epochs, self.patience, self.lr, self.batch_size)
        self.train_log_ = self.network_.fit(
            X, self._reduce(feats, len(y), k), y, settings, self.seed, self.progress,
            task=f"train {self.name}",
        )  # fmt: skip
        self.trainable_params_ = count_trainable(self.network_.model)

    @property
    def mixing_weights_(self) -> np.ndarray:
        """Convex weights of the own network (first) and each source; they sum to 1."""
        return self.network_.model.weights().detach().numpy().astype(np.float64)

    def _proba(self, X: Any, feats: list[np.ndarray]) -> np.ndarray:
        return self.network_.proba(X, self._reduce(feats, len(X), self.network_.k))

    def _state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        config, tensors = self.network_.to_state()
        for i, red in enumerate(self.reducers_):
            tensors.update({f"reducer{i}.{k}": v for k, v in red.items()})
        return {**config, "n_sources": len(self.reducers_)}, tensors

    def _load_state(self, config: dict[str, Any], tensors: dict[str, np.ndarray]) -> None:
        n_src = int(config["n_sources"])
        self.reducers_ = [
            {"mean": tensors[f"reducer{i}.mean"], "components": tensors[f"reducer{i}.components"]}
            for i in range(n_src)
        ]
        self.network_ = SmallNetwork.from_state(config, tensors, n_src, len(self.classes_))
