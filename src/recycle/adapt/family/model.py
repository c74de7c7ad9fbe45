"""The base network of a family and :class:`FamilyNet`: the frozen base plus per-site adapters.

Adapter *sites* are the base's conv layers (``conv0``, ``conv1``, ...; EFT adapters) and its
feature layer (``fc``; a LoRA adapter). ``FamilyNet`` wraps each site in an
:class:`~recycle.adapt.family.layers.AdaptedLayer` that keeps the frozen ``base_layer``; BN layers
stay in eval mode (frozen statistics) whatever ``train()`` is called with.

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

import numpy as np
import torch
from torch import nn

from recycle.adapt.family.config import AdapterConfig, FamilyConfig
from recycle.adapt.family.layers import AdaptedLayer, make_adapter
from recycle.errors import DataError

PIXEL_MEAN = 0.25  # approx. mean intensity of MNIST/Fashion/Animal pixels in [0, 1]
PIXEL_STD = 0.35  # approx. their standard deviation


class FamilyBase(nn.Module):
    """The shared base: conv3x3-BN-ReLU blocks (2x2 max-pool between), GAP, linear + ReLU.

    Examples
    --------
    >>> FamilyBase(FamilyConfig(channels=(8,)))(torch.zeros(1, 1, 28, 28)).shape
    torch.Size([1, 128])
    """

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


def base_fingerprint(base: nn.Module) -> str:
    """Return a sha256 over the base's parameters and buffers (identifies a shared base).

    Examples
    --------
    >>> torch.manual_seed(0) and None
    >>> len(base_fingerprint(FamilyBase(FamilyConfig(channels=(4,)))))
    16
    """
    h = hashlib.sha256()
    for name, t in sorted(base.state_dict().items()):
        h.update(name.encode())
        h.update(t.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()[:16]


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


class FamilyNet(nn.Module):
    """A copy of the frozen base with every site wrapped to carry named adapter sets.

    Parameters
    ----------
    base : FamilyBase
        The trained base; it is deep-copied and frozen (the caller's module is untouched).
    adapter_config : AdapterConfig, optional
        Shape of the adapters created by :meth:`add_adapter_set`.
    """

    def __init__(self, base: FamilyBase, adapter_config: AdapterConfig | None = None) -> None:
        super().__init__()
        self.base = copy.deepcopy(base)
        self.base.requires_grad_(False)
        self.adapter_config = adapter_config or AdapterConfig()
        self.base.convs = nn.ModuleList(AdaptedLayer(c) for c in self.base.convs)
        self.base.fc = AdaptedLayer(self.base.fc)  # type: ignore[assignment]
        self.sites = [f"conv{i}" for i in range(len(self.base.convs))] + ["fc"]
        self.set_names: list[str] = []
        self.train(False)

    def site_layers(self) -> list[AdaptedLayer]:
        """Return the wrapped layers in site order."""
        return [*self.base.convs, self.base.fc]  # type: ignore[list-item]

    def add_adapter_set(
        self, name: str, state: Mapping[str, torch.Tensor] | None = None, trainable: bool = True
    ) -> None:
        """Add one adapter per site under ``name``; load ``state`` (site-prefixed) if given."""
        cfg = self.adapter_config
        for layer in self.site_layers():
            adapter = make_adapter(
                layer.base_layer, cfg.spatial_group, cfg.depth_group, cfg.lora_rank, cfg.lora_alpha
            )
            layer.add_adapter(name, adapter)
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
        return self.base(x)

    def train(self, mode: bool = True) -> FamilyNet:
        """Set train mode for adapters only; BN statistics of the base stay frozen (eval)."""
        super().train(mode)
        for bn in self.base.bns:
            bn.eval()
        return self


def adapter_param_count(net: FamilyNet, name: str) -> int:
    """Number of parameters of adapter set ``name`` (one task's adapters, without head)."""
    return sum(p.numel() for p in net.adapter_set(name).parameters())
