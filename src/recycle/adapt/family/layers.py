"""Adapter layers of a white-box family and the wrappers that keep the frozen base layer.

- :class:`EFTAdapter`: the EFT transformation of a conv layer's output ``H``: a grouped 3x3
  conv with ``a`` channels per group plus a grouped 1x1 conv with ``b`` channels per group,
  ``delta = W_s * H + W_d * H``; both convs start at zero, so a new adapter is the identity.
- :class:`LoRAAdapter`: ``delta = (alpha / r) B A x`` on a linear layer's input, ``B = 0`` at init.
- :class:`IA3Adapter`: ``delta = out * (l - 1)``, IA3's rescaling of a linear layer's output,
  ``l = 1`` at init.
- :class:`AdaptedLayer`: holds the frozen ``base_layer`` and named adapters; its output is
  ``base_layer(x) + sum_i w_i * adapter_i(x, base_layer(x))`` over the *active* adapters, with
  weights ``w_i`` set by the owner (1.0 for a single source; softmax weights for module mixing).

Examples
--------
>>> import torch
>>> conv = torch.nn.Conv2d(4, 8, 3, padding=1)
>>> layer = AdaptedLayer(conv)
>>> layer.add_adapter("new", EFTAdapter(8, spatial_group=2, depth_group=4))
>>> layer.set_active(["new"])
>>> x = torch.randn(2, 4, 5, 5)
>>> bool(torch.equal(layer(x), conv(x)))
True
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from recycle.errors import ConfigError


def _groups(channels: int, per_group: int, what: str) -> int:
    if channels % per_group:
        raise ConfigError(
            f"{what} needs channels divisible by its group size; got {channels} channels and "
            f"{per_group} per group. Choose a group size that divides {channels}."
        )
    return channels // per_group


class EFTAdapter(nn.Module):
    """EFT adapter of a conv layer: grouped 3x3 plus grouped 1x1 conv of the layer output.

    Parameters
    ----------
    channels : int
        Output channels of the adapted conv layer (input and output of the adapter).
    spatial_group : int
        Channels per group ``a`` of the 3x3 conv.
    depth_group : int
        Channels per group ``b`` of the 1x1 conv.

    Examples
    --------
    >>> a = EFTAdapter(8, spatial_group=2, depth_group=4)
    >>> int(a(None, torch.ones(1, 8, 3, 3)).abs().sum())
    0
    """

    def __init__(self, channels: int, spatial_group: int = 2, depth_group: int = 8) -> None:
        super().__init__()
        a = min(spatial_group, channels)
        b = min(depth_group, channels)
        self.spatial = nn.Conv2d(
            channels, channels, 3, padding=1, groups=_groups(channels, a, "EFT 3x3"), bias=False
        )
        self.depth = nn.Conv2d(channels, channels, 1, groups=_groups(channels, b, "EFT 1x1"))
        # Zero init: a fresh adapter adds nothing, so it starts as the identity on the base.
        nn.init.zeros_(self.spatial.weight)
        nn.init.zeros_(self.depth.weight)
        nn.init.zeros_(self.depth.bias)  # type: ignore[arg-type]

    def forward(self, x: torch.Tensor | None, out: torch.Tensor) -> torch.Tensor:
        """Return the additive update for base output ``out`` (``x`` is unused)."""
        return self.spatial(out) + self.depth(out)


class LoRAAdapter(nn.Module):
    """LoRA adapter of a linear layer: ``(alpha / r) * B(A(x))`` with ``B`` zero at init.

    Examples
    --------
    >>> a = LoRAAdapter(6, 3, rank=2)
    >>> a(torch.ones(1, 6), torch.zeros(1, 3)).abs().sum().item()
    0.0
    """

    def __init__(self, in_features: int, out_features: int, rank: int = 4, alpha: float = 4.0):
        super().__init__()
        self.lora_A = nn.Linear(in_features, rank, bias=False)
        self.lora_B = nn.Linear(rank, out_features, bias=False)
        self.scale = float(alpha) / float(rank)
        nn.init.kaiming_uniform_(self.lora_A.weight, a=5**0.5)
        nn.init.zeros_(self.lora_B.weight)

    def forward(self, x: torch.Tensor, out: torch.Tensor | None) -> torch.Tensor:
        """Return the additive update for input ``x`` (``out`` is unused)."""
        return self.lora_B(self.lora_A(x)) * self.scale


class IA3Adapter(nn.Module):
    """IA3 adapter of a linear layer: rescales its output, ``out * l``, as the additive update
    ``out * (l - 1)`` (``l`` one at init: adds nothing), stored as peft's ``ia3_l`` of shape
    ``[out_features, 1]``.

    Examples
    --------
    >>> a = IA3Adapter(3)
    >>> a(None, torch.ones(1, 3)).abs().sum().item()
    0.0
    """

    def __init__(self, out_features: int) -> None:
        super().__init__()
        self.ia3_l = nn.Parameter(torch.ones(out_features, 1))

    def forward(self, x: torch.Tensor | None, out: torch.Tensor) -> torch.Tensor:
        """Return the additive update for base output ``out`` (``x`` is unused)."""
        return out * (self.ia3_l.flatten() - 1.0)


class AdaptedLayer(nn.Module):
    """A frozen ``base_layer`` plus named additive adapters, mixed by owner-set weights.

    Parameters
    ----------
    base_layer : nn.Module
        The conv or linear layer of the base network; its parameters are frozen here.
    """

    def __init__(self, base_layer: nn.Module) -> None:
        super().__init__()
        self.base_layer = base_layer
        for p in self.base_layer.parameters():
            p.requires_grad_(False)
        self.adapters = nn.ModuleDict()
        self._active: list[str] = []
        self._weights: torch.Tensor | Sequence[float] | None = None

    def add_adapter(self, name: str, adapter: nn.Module) -> None:
        """Attach ``adapter`` under ``name`` (inactive until :meth:`set_active`)."""
        self.adapters[name] = adapter

    def set_active(
        self, names: Sequence[str], weights: torch.Tensor | Sequence[float] | None = None
    ) -> None:
        """Use adapters ``names`` with ``weights`` (default 1.0 each) in the next forwards."""
        missing = [n for n in names if n not in self.adapters]
        if missing:
            raise ConfigError(
                f"Unknown adapter(s) {missing}; this layer has {list(self.adapters)}. "
                "Add them with add_adapter first."
            )
        if weights is not None and len(weights) != len(names):
            raise ConfigError(f"Got {len(weights)} weights for {len(names)} active adapters.")
        self._active = list(names)
        self._weights = weights

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Return ``base_layer(x)`` plus the weighted updates of the active adapters."""
        out = self.base_layer(x)
        total = out
        for i, name in enumerate(self._active):
            delta = self.adapters[name](x, out)
            w = 1.0 if self._weights is None else self._weights[i]
            total = total + w * delta
        return total


def make_adapter(
    layer: nn.Module, spatial_group: int, depth_group: int, rank: int, alpha: float
) -> nn.Module:
    """Return a fresh adapter for ``layer``: EFT for ``nn.Conv2d``, LoRA for ``nn.Linear``.

    Examples
    --------
    >>> type(make_adapter(nn.Linear(4, 2), 2, 8, 2, 2.0)).__name__
    'LoRAAdapter'
    """
    if isinstance(layer, nn.Conv2d):
        return EFTAdapter(layer.out_channels, spatial_group, depth_group)
    if isinstance(layer, nn.Linear):
        return LoRAAdapter(layer.in_features, layer.out_features, rank, alpha)
    raise ConfigError(f"No adapter for layer type {type(layer).__name__}; use Conv2d or Linear.")
