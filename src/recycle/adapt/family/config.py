"""Configuration of a white-box family: the shared base network and its per-task adapters.

A *family* is one frozen base network plus small per-task adapters: EFT-style grouped-conv
adapters after every conv layer and LoRA-style low-rank adapters on linear layers. Every source
of a family shares the base; a source is only its adapters and its head.

Examples
--------
>>> cfg = FamilyConfig()
>>> cfg.channels
(32, 64, 128, 128)
>>> AdapterConfig(spatial_group=2, depth_group=8).spatial_group
2
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from torch import nn

from recycle.adapt.family.layers import make_adapter
from recycle.errors import ConfigError


def _positive(owner: str, name: str, value: int) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ConfigError(
            f"The '{name}' parameter of {owner} must be an int >= 1. Got {value!r} instead."
        )


@dataclass(frozen=True)
class FamilyConfig:
    """The base network of a family: a small CNN for single-channel square images.

    Parameters
    ----------
    channels : tuple of int
        Output channels of the conv layers (each conv 3x3 + BN + ReLU, 2x2 max-pool after all
        but the last).
    feature_dim : int
        Width of the linear layer after global average pooling (the pooled feature ``f(x)``).
    image_size : int
        Height and width of the input images in pixels.
    in_channels : int
        Input channels (1 for grayscale).
    """

    channels: tuple[int, ...] = (32, 64, 128, 128)  # the brief's 4-conv CNN
    feature_dim: int = 128  # penultimate width; also the width of each source's embed()
    image_size: int = 28  # stream28 images
    in_channels: int = 1  # grayscale

    def __post_init__(self) -> None:
        if not self.channels:
            raise ConfigError("FamilyConfig.channels must list at least one conv width. Got ().")
        object.__setattr__(self, "channels", tuple(int(c) for c in self.channels))
        for c in self.channels:
            _positive("FamilyConfig", "channels", c)
        _positive("FamilyConfig", "feature_dim", self.feature_dim)
        _positive("FamilyConfig", "image_size", self.image_size)
        _positive("FamilyConfig", "in_channels", self.in_channels)

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-able dict (``from_dict`` inverts it)."""
        d = asdict(self)
        d["channels"] = list(self.channels)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> FamilyConfig:
        """Build from :meth:`to_dict` output."""
        return cls(
            channels=tuple(d["channels"]),
            feature_dim=int(d["feature_dim"]),
            image_size=int(d["image_size"]),
            in_channels=int(d["in_channels"]),
        )


@dataclass(frozen=True)
class AdapterConfig:
    """Per-task adapters of a family.

    Parameters
    ----------
    spatial_group : int
        ``a``: input channels per group of the EFT grouped 3x3 conv.
    depth_group : int
        ``b``: input channels per group of the EFT grouped 1x1 conv.
    lora_rank : int
        Rank of the LoRA update of each linear layer.
    lora_alpha : float
        LoRA scale numerator (update scaled by ``lora_alpha / lora_rank``).
    """

    spatial_group: int = 2  # a in EFT
    depth_group: int = 8  # b in EFT
    lora_rank: int = 4  # r of the LoRA update on the feature layer
    lora_alpha: float = 4.0  # scale = alpha / r = 1

    def __post_init__(self) -> None:
        _positive("AdapterConfig", "spatial_group", self.spatial_group)
        _positive("AdapterConfig", "depth_group", self.depth_group)
        _positive("AdapterConfig", "lora_rank", self.lora_rank)
        if not self.lora_alpha > 0:
            raise ConfigError(
                f"The 'lora_alpha' parameter of AdapterConfig must be > 0. Got {self.lora_alpha}."
            )

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-able dict."""
        return asdict(self)

    def make(self, layer: nn.Module) -> nn.Module:
        """A fresh adapter for ``layer``: EFT for a conv layer, LoRA for a linear one."""
        return make_adapter(
            layer, self.spatial_group, self.depth_group, self.lora_rank, self.lora_alpha
        )

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> AdapterConfig:
        """Build from :meth:`to_dict` output."""
        return cls(**{k: d[k] for k in ("spatial_group", "depth_group", "lora_rank", "lora_alpha")})
