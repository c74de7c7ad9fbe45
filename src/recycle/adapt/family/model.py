"""The bases of a family and :class:`FamilyNet`: a frozen base plus per-site adapters.

A *base* is any torch module that says where adapters go and how raw inputs become tensors
(the :class:`Backbone` protocol): ``modality``, ``feature_dim``, ``adapter_sites()`` (site
name, module path), ``encode(X)`` and ``forward(x) -> pooled features``. Two bases exist:
:class:`FamilyBase`, the small CNN of ``stream28`` (sites: its conv layers ``conv0``,
``conv1``, ... with EFT adapters and its feature layer ``fc`` with a LoRA adapter), and
:class:`~recycle.adapt.family.text.TextBase`, the pre-trained all-MiniLM-L6-v2 (sites: the
attention query and value projections of its 6 blocks, LoRA adapters).

``FamilyNet`` wraps each site in an :class:`~recycle.adapt.family.layers.AdaptedLayer` that
keeps the frozen ``base_layer``; the whole base stays in eval mode (frozen BN statistics, no
dropout) whatever ``train()`` is called with.

Examples
--------
>>> import torch
>>> base = FamilyBase(FamilyConfig(channels=(8, 16)))
>>> net = FamilyNet(base)
>>> net.sites
['conv0', 'conv1', 'fc']
>>> net.add_adapter_set("new")
>>> net.activate(["new"])
>>> net.features(torch.zeros(2, 1, 28, 28)).shape
torch.Size([2, 128])
"""

from __future__ import annotations

import copy
import hashlib
import itertools
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

import numpy as np
import torch
from torch import nn

from recycle.adapt.family.config import AdapterConfig, FamilyConfig
from recycle.adapt.family.layers import AdaptedLayer
from recycle.adapt.family.lora_config import LoraSpec
from recycle.errors import DataError

PIXEL_MEAN = 0.25  # approx. mean intensity of MNIST/Fashion/Animal pixels in [0, 1]
PIXEL_STD = 0.35  # approx. their standard deviation


class Backbone(Protocol):
    """What a family needs from its frozen base network."""

    modality: str  # "image" or "text": the raw inputs encode() takes

    @property
    def feature_dim(self) -> int:
        """Width of the pooled features ``forward`` returns."""
        ...

    def adapter_sites(self) -> list[tuple[str, str]]:
        """``(site name, module path)`` of every adapted layer; names have no dots."""
        ...

    def encode(self, X: Any) -> torch.Tensor:
        """Raw inputs as one tensor whose first axis is the row (batches are ``x[idx]``)."""
        ...

    def __call__(self, x: torch.Tensor) -> torch.Tensor: ...


class FamilyBase(nn.Module):
    """The shared base: conv3x3-BN-ReLU blocks (2x2 max-pool between), GAP, linear + ReLU.

    Examples
    --------
    >>> FamilyBase(FamilyConfig(channels=(8,)))(torch.zeros(1, 1, 28, 28)).shape
    torch.Size([1, 128])
    """

    modality = "image"

    def __init__(self, config: FamilyConfig | None = None) -> None:
        super().__init__()
        self.config = config or FamilyConfig()
        widths = (self.config.in_channels, *self.config.channels)
        self.convs = nn.ModuleList(
            nn.Conv2d(i, o, 3, padding=1, bias=False) for i, o in itertools.pairwise(widths)
        )
        self.bns = nn.ModuleList(nn.BatchNorm2d(o) for o in widths[1:])
        self.fc = nn.Linear(widths[-1], self.config.feature_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Return pooled features ``(n, feature_dim)`` of normalised images ``(n, 1, H, W)``."""
        last = len(self.convs) - 1
        for i, (conv, bn) in enumerate(zip(self.convs, self.bns, strict=True)):
            x = torch.relu(bn(conv(x)))
            if i < last:
                x = nn.functional.max_pool2d(x, 2)
        x = x.mean(dim=(2, 3))
        return torch.relu(self.fc(x))

    @property
    def feature_dim(self) -> int:
        """Width of the pooled features (``config.feature_dim``)."""
        return self.config.feature_dim

    def adapter_sites(self) -> list[tuple[str, str]]:
        """EFT sites ``conv0``, ``conv1``, ... then the LoRA site ``fc``."""
        return [(f"conv{i}", f"convs.{i}") for i in range(len(self.convs))] + [("fc", "fc")]

    def encode(self, X: Any) -> torch.Tensor:
        """Images as normalised ``(n, 1, S, S)`` (:func:`to_tensor`)."""
        return to_tensor(X, self.config.image_size)


def _frozen(module: nn.Module) -> bool:
    return not any(p.requires_grad for p in module.parameters())


def base_fingerprint(base: nn.Module) -> str:
    """Return a sha256 over the base's parameters and buffers (identifies a shared base).

    The digest of a frozen base is kept on it (hashing MiniLM's 90 MB takes a moment).

    Examples
    --------
    >>> torch.manual_seed(0) and None
    >>> len(base_fingerprint(FamilyBase(FamilyConfig(channels=(4,)))))
    16
    """
    known = getattr(base, "_recycle_fingerprint", None)
    if known is not None and _frozen(base):
        return str(known)
    h = hashlib.sha256()
    for name, t in sorted(base.state_dict().items()):
        h.update(name.encode())
        h.update(t.detach().cpu().contiguous().numpy().tobytes())
    digest = h.hexdigest()[:16]
    if _frozen(base):
        base._recycle_fingerprint = digest  # type: ignore[assignment]
    return digest


def frozen_copy(base: nn.Module) -> nn.Module:
    """A copy of ``base`` whose layers can be wrapped without touching ``base``.

    A frozen base (no parameter requires grad) shares its tensors (and the objects it lists
    in ``shared_objects``) with the copy, so wrapping MiniLM for each source costs no memory;
    any other base is deep-copied.
    """
    if not _frozen(base):
        return copy.deepcopy(base)
    memo: dict[int, Any] = {id(t): t for t in [*base.parameters(), *base.buffers()]}
    for obj in getattr(base, "shared_objects", ()):
        memo[id(obj)] = obj
    return copy.deepcopy(base, memo)


def to_tensor(X: np.ndarray, image_size: int = 28) -> torch.Tensor:
    """Turn uint8 images ``(n, H, W)`` (or float in [0, 1]) into normalised ``(n, 1, S, S)``.

    Examples
    --------
    >>> to_tensor(np.zeros((3, 28, 28), dtype=np.uint8)).shape
    torch.Size([3, 1, 28, 28])
    """
    arr = np.asarray(X)
    if arr.ndim == 2 and arr.shape[1] == image_size * image_size:
        arr = arr.reshape(-1, image_size, image_size)
    if arr.ndim == 4 and arr.shape[-1] == 3:
        arr = arr.mean(axis=-1)
    if arr.ndim != 3:
        raise DataError(
            f"Expected grayscale images (n, H, W) or (n, {image_size * image_size}); "
            f"got shape {arr.shape}. Pass 28x28 images."
        )
    t = torch.as_tensor(arr, dtype=torch.float32)
    if arr.dtype == np.uint8:
        t = t / 255.0
    t = t.unsqueeze(1)
    if t.shape[-1] != image_size or t.shape[-2] != image_size:
        t = nn.functional.interpolate(t, size=(image_size, image_size), mode="bilinear")
    return (t - PIXEL_MEAN) / PIXEL_STD


def default_adapter_config(base: Any) -> AdapterConfig | LoraSpec:
    """The adapters a base gets when none are given: LoRA on a text base, EFT/LoRA on the CNN.

    Examples
    --------
    >>> type(default_adapter_config(FamilyBase(FamilyConfig(channels=(4,))))).__name__
    'AdapterConfig'
    """
    return LoraSpec() if base.modality == "text" else AdapterConfig()


class FamilyNet(nn.Module):
    """A copy of the frozen base with every site wrapped to carry named adapter sets.

    Parameters
    ----------
    base : Backbone
        The trained base (:class:`FamilyBase`, :class:`~recycle.adapt.family.text.TextBase`);
        it is copied (sharing frozen tensors) and frozen; the caller's module is untouched.
    adapter_config : AdapterConfig or LoraSpec, optional
        Makes the adapters of :meth:`add_adapter_set` (``adapter_config.make(layer)``).
    """

    def __init__(self, base: Any, adapter_config: Any = None) -> None:
        super().__init__()
        self.base = frozen_copy(base)
        self.base.requires_grad_(False)
        self.adapter_config = adapter_config or default_adapter_config(base)
        self._paths = dict(base.adapter_sites())
        for path in self._paths.values():
            parent_path, _, attr = path.rpartition(".")
            parent = self.base.get_submodule(parent_path) if parent_path else self.base
            setattr(parent, attr, AdaptedLayer(getattr(parent, attr)))
        self.sites = list(self._paths)
        self.set_names: list[str] = []
        self.train(False)

    def site_layers(self) -> list[AdaptedLayer]:
        """Return the wrapped layers in site order."""
        return [self.base.get_submodule(p) for p in self._paths.values()]  # type: ignore[misc]

    def add_adapter_set(
        self, name: str, state: Mapping[str, torch.Tensor] | None = None, trainable: bool = True
    ) -> None:
        """Add one adapter per site under ``name``; load ``state`` (site-prefixed) if given."""
        for layer in self.site_layers():
            layer.add_adapter(name, self.adapter_config.make(layer.base_layer))
        if state is not None:
            self.adapter_set(name).load_state_dict(dict(state))
        self.adapter_set(name).requires_grad_(trainable)
        self.set_names.append(name)

    def adapter_set(self, name: str) -> nn.ModuleDict:
        """Return the adapters of set ``name`` as a ModuleDict keyed by site."""
        return nn.ModuleDict(
            {
                s: layer.adapters[name]
                for s, layer in zip(self.sites, self.site_layers(), strict=True)
            }
        )

    def activate(
        self, names: Sequence[str], weights: Sequence[torch.Tensor | Sequence[float]] | None = None
    ) -> None:
        """Make adapter sets ``names`` active; ``weights[j]`` are site ``j``'s mixing weights."""
        for j, layer in enumerate(self.site_layers()):
            layer.set_active(names, None if weights is None else weights[j])

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Pooled features with the currently active adapters."""
        return self.base(x)  # type: ignore[no-any-return]

    def train(self, mode: bool = True) -> FamilyNet:
        """Set train mode for adapters only; the base stays in eval (frozen BN, no dropout)."""
        super().train(mode)
        self.base.eval()
        return self


def adapter_param_count(net: FamilyNet, name: str) -> int:
    """Number of parameters of adapter set ``name`` (one task's adapters, without head)."""
    return sum(p.numel() for p in net.adapter_set(name).parameters())
