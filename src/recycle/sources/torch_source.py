"""White-box sources: a torch module that maps preprocessed tensors to features.

Examples
--------
>>> import numpy as np
>>> from recycle.sources.arch import build_architecture
>>> net = build_architecture("mlp", in_features=4, hidden=[8], out_features=6)
>>> src = TorchSource(net, "tabular:identity", feature_dim=6, source_id="mlp.doc")
>>> src.embed(np.ones((3, 4), dtype=np.float32)).shape
(3, 6)
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from recycle.errors import ConfigError, DataError, IncompatibleError, SourceFailedError
from recycle.progress import ProgressCallback, track
from recycle.sources import preprocess as pp
from recycle.sources.base import Access, Modality

#: Default number of inputs per forward pass.
DEFAULT_BATCH_SIZE = 64


def batches(X: Any, batch_size: int) -> Iterator[Any]:
    """Yield consecutive slices of ``X`` (array or list) of at most ``batch_size`` items."""
    for start in range(0, len(X), batch_size):
        yield X[start : start + batch_size]


def n_batches(n: int, batch_size: int) -> int:
    """Number of batches :func:`batches` yields for ``n`` items."""
    return (n + batch_size - 1) // batch_size


class TorchSource:
    """A source backed by an ``nn.Module`` (white-box).

    Parameters
    ----------
    module : torch.nn.Module
        Maps a preprocessed batch (a tensor, or keyword tensors for text) to ``(n, d)``
        features. Put it in eval mode; it is run under ``torch.inference_mode()`` with the
        caller's ``torch.get_num_threads()`` (the global thread count is never changed here).
    preprocess_id : str
        Id of the preprocessing (:func:`recycle.sources.preprocess.get`).
    feature_dim : int
        Width ``d`` of the features.
    source_id : str, default "torch.model"
        Stable identifier (feature-cache key).
    head : torch.nn.Linear, optional
        Maps features to logits over ``source_classes``; enables :meth:`predict_proba`.
    source_classes : list of str, optional
        Names of the head's classes (required with ``head``).
    batch_size : int, default 64
    access : {"white-box", "black-box"}, default "white-box"

    Examples
    --------
    >>> import numpy as np
    >>> from torch import nn
    >>> src = TorchSource(nn.Identity(), "tabular:identity", feature_dim=2,
    ...                   head=nn.Linear(2, 3), source_classes=["a", "b", "c"])
    >>> src.predict_proba(np.zeros((1, 2), dtype=np.float32)).sum().round(3)
    np.float32(1.0)
    """

    def __init__(
        self,
        module: nn.Module,
        preprocess_id: str,
        feature_dim: int,
        *,
        source_id: str = "torch.model",
        head: nn.Module | None = None,
        source_classes: Sequence[str] | None = None,
        batch_size: int = DEFAULT_BATCH_SIZE,
        access: Access = "white-box",
    ) -> None:
        if not isinstance(module, nn.Module):
            raise ConfigError(f"TorchSource needs an nn.Module; got {type(module).__name__}.")
        if int(feature_dim) < 1 or int(batch_size) < 1:
            raise ConfigError(
                f"feature_dim and batch_size must be >= 1; got {feature_dim}, {batch_size}."
            )
        if (head is None) != (not source_classes):
            raise ConfigError("Give both head and source_classes, or neither.")
        self.module = module.eval()
        self.preprocess = pp.get(preprocess_id)
        self.preprocess_id = self.preprocess.id
        self.modality: Modality = self.preprocess.modality
        self.feature_dim = int(feature_dim)
        self.source_id = source_id
        self.head = head.eval() if head is not None else None
        self.source_classes: list[str] = [str(c) for c in (source_classes or [])]
        self.batch_size = int(batch_size)
        self.access: Access = access

    def __repr__(self) -> str:
        return (
            f"TorchSource({self.source_id!r}, preprocess={self.preprocess_id!r}, "
            f"feature_dim={self.feature_dim}, classes={len(self.source_classes)})"
        )

    def torch_module(self) -> nn.Module:
        """Return the feature module (eval mode, CPU)."""
        return self.module

    def _forward(self, batch: Any) -> torch.Tensor:
        inputs = self.preprocess(batch)
        with torch.inference_mode():
            out = self.module(**inputs) if isinstance(inputs, dict) else self.module(inputs)
        if out.ndim != 2 or out.shape[1] != self.feature_dim:
            raise SourceFailedError(
                f"Source {self.source_id!r} returned features of shape {tuple(out.shape)}; "
                f"expected (n, {self.feature_dim}). Fix feature_dim or the module."
            )
        return out

    def embed(self, X: Any, progress: ProgressCallback | None = None) -> np.ndarray:
        """Return ``(n, feature_dim)`` float32 features of ``X``.

        Examples
        --------
        >>> from torch import nn
        >>> TorchSource(nn.Identity(), "tabular:identity", 2).embed(np.ones((1, 2))).tolist()
        [[1.0, 1.0]]
        """
        X = self.preprocess.check(X)
        total = n_batches(len(X), self.batch_size)
        parts = [
            self._forward(b).to(torch.float32).numpy()
            for b in track(batches(X, self.batch_size), f"embed {self.source_id}", progress, total)
        ]
        if not parts:
            return np.zeros((0, self.feature_dim), dtype=np.float32)
        return np.ascontiguousarray(np.concatenate(parts), dtype=np.float32)

    def predict_proba(self, X: Any, progress: ProgressCallback | None = None) -> np.ndarray:
        """Return ``(n, len(source_classes))`` probabilities over the source's own classes."""
        if self.head is None:
            raise IncompatibleError(
                f"Source {self.source_id!r} has no head; use embed() or pick a source with "
                "source_classes."
            )
        F = torch.from_numpy(self.embed(X, progress))
        with torch.inference_mode():
            proba = torch.softmax(self.head(F), dim=1)
        return proba.numpy().astype(np.float32, copy=False)


def check_features(F: np.ndarray, n: int, d: int, source_id: str) -> np.ndarray:
    """Raise :class:`DataError` unless ``F`` is a finite ``(n, d)`` array; return it as float32."""
    F = np.asarray(F, dtype=np.float32)
    if F.shape != (n, d):
        raise DataError(f"Source {source_id!r} gave features {F.shape}; expected {(n, d)}.")
    return F
