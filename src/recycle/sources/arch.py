"""Architectures by name: how a stored source is rebuilt without running uploaded code.

A torch source in the zoo is stored as safetensors weights plus an architecture *name* and
JSON *kwargs*; :func:`build_architecture` turns those back into an ``nn.Module``. Every module
built here maps preprocessed tensors to features; classification heads are separate
``nn.Linear`` layers (see :class:`recycle.sources.torch_source.TorchSource`).

Registered here: ``mlp`` (tests and synthetic zoos), ``linear``, ``digitcnn.mnist``,
``digitcnn.usps``, ``digitcnn.svhn`` (the ``ccexam`` digit CNNs, re-declared so that ``ccexam``
itself is never imported) and ``effnet_lite`` (``efficientnet-lite-pytorch``'s EfficientNet with
global average pooling instead of the classifier).

Examples
--------
>>> import torch
>>> net = build_architecture("mlp", in_features=4, hidden=[8], out_features=3)
>>> net(torch.zeros(2, 4)).shape
torch.Size([2, 3])
>>> "digitcnn.mnist" in architecture_names()
True
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from recycle.errors import AssetMissingError, ConfigError, DuplicateError, ModelNotFoundError

#: Attribute set on every module built by :func:`build_architecture` (name + kwargs), so that
#: serialization knows how to rebuild it.
ARCH_ATTR = "recycle_architecture"

_REGISTRY: dict[str, Callable[..., nn.Module]] = {}


def register_architecture(name: str, factory: Callable[..., nn.Module]) -> None:
    """Register ``factory(**kwargs) -> nn.Module`` under ``name``.

    Parameters
    ----------
    name : str
        Unique architecture name (``family.variant``).
    factory : callable
        Builds the module from JSON-able keyword arguments.

    Raises
    ------
    DuplicateError
        If ``name`` is already registered.

    Examples
    --------
    >>> register_architecture("doc.identity", lambda: nn.Identity())
    >>> build_architecture("doc.identity")
    Identity()
    """
    if name in _REGISTRY:
        raise DuplicateError(f"Architecture {name!r} is already registered; pick another name.")
    _REGISTRY[name] = factory


def architecture_names() -> list[str]:
    """Return the registered architecture names, sorted.

    Examples
    --------
    >>> "mlp" in architecture_names()
    True
    """
    return sorted(_REGISTRY)


def build_architecture(name: str, **kwargs: Any) -> nn.Module:
    """Build the registered architecture ``name`` with ``kwargs`` (in eval mode, on CPU).

    The returned module remembers ``(name, kwargs)`` in its ``recycle_architecture`` attribute.

    Parameters
    ----------
    name : str
        A name from :func:`architecture_names`.
    **kwargs
        JSON-able arguments of the architecture's factory.

    Returns
    -------
    torch.nn.Module

    Raises
    ------
    ModelNotFoundError
        Unknown name.
    ConfigError
        The kwargs are not JSON-able or not accepted by the factory.

    Examples
    --------
    >>> build_architecture("linear", in_features=3, out_features=2)
    Linear(in_features=3, out_features=2, bias=True)
    """
    if name not in _REGISTRY:
        raise ModelNotFoundError(
            f"Unknown architecture {name!r}; valid names: {', '.join(architecture_names())}."
        )
    try:
        json.dumps(kwargs)
    except TypeError as exc:
        raise ConfigError(
            f"Architecture kwargs must be JSON-able; got {kwargs!r} ({exc})."
        ) from exc
    try:
        module = _REGISTRY[name](**kwargs)
    except TypeError as exc:
        raise ConfigError(f"Architecture {name!r} rejected kwargs {kwargs!r}: {exc}.") from exc
    setattr(module, ARCH_ATTR, {"name": name, "kwargs": dict(kwargs)})
    return module.eval()


class MLP(nn.Module):
    """A ReLU multilayer perceptron ``in_features -> hidden... -> out_features``."""

    def __init__(self, in_features: int, hidden: list[int], out_features: int) -> None:
        super().__init__()
        sizes = [in_features, *hidden, out_features]
        layers: list[nn.Module] = []
        for i, (a, b) in enumerate(itertools.pairwise(sizes)):
            layers.append(nn.Linear(a, b))
            if i < len(sizes) - 2:
                layers.append(nn.ReLU())
        self.layers = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x)


def _mlp(in_features: int, hidden: list[int] | None = None, out_features: int = 32) -> nn.Module:
    return MLP(int(in_features), [int(h) for h in (hidden or [])], int(out_features))


def _linear(in_features: int, out_features: int, bias: bool = True) -> nn.Module:
    return nn.Linear(int(in_features), int(out_features), bias=bias)


class DigitFeatures(nn.Module):
    """The ``ccexam`` digit CNNs without their last layer: image -> penultimate features.

    Parameter names match ``ccexam/weights/*.pth`` (``features.*``, ``classifier.*``) so the
    original state dicts load directly; the dropped last ``Linear`` becomes the source's head.

    Parameters
    ----------
    variant : {"mnist", "usps", "svhn"}
        ``mnist`` 28x28 gray, 2 convs; ``usps`` 16x16 gray with batch norm; ``svhn`` 32x32 RGB,
        6 convs with batch norm (256-d features; the others give 128-d).
    """

    def __init__(self, variant: str) -> None:
        super().__init__()
        self.variant = variant
        if variant == "mnist":
            self.input_size, self.in_channels = 28, 1
            self.features = nn.Sequential(
                nn.Conv2d(1, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            )  # fmt: skip
            self.classifier = nn.Sequential(nn.Linear(64 * 7 * 7, 128), nn.ReLU())
        elif variant == "usps":
            self.input_size, self.in_channels = 16, 1
            self.features = nn.Sequential(
                nn.Conv2d(1, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(), nn.MaxPool2d(2),
                nn.Conv2d(32, 64, 3, padding=1), nn.BatchNorm2d(64), nn.ReLU(), nn.MaxPool2d(2),
            )  # fmt: skip
            self.classifier = nn.Sequential(nn.Dropout(0.3), nn.Linear(64 * 4 * 4, 128), nn.ReLU())
        elif variant == "svhn":
            self.input_size, self.in_channels = 32, 3
            self.features = nn.Sequential(_svhn_block(3, 32), _svhn_block(32, 64),
                                          _svhn_block(64, 128))  # fmt: skip
            self.classifier = nn.Sequential(
                nn.Dropout(0.3), nn.Linear(128 * 4 * 4, 256), nn.ReLU(inplace=True)
            )
        else:
            raise ConfigError(
                f"DigitFeatures variant must be 'mnist', 'usps' or 'svhn'; got {variant!r}."
            )
        self.feature_dim = self.classifier[-2].out_features  # type: ignore[union-attr]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x).flatten(start_dim=1))


def _svhn_block(in_ch: int, out_ch: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(in_ch, out_ch, 3, padding=1), nn.BatchNorm2d(out_ch), nn.ReLU(inplace=True),
        nn.Conv2d(out_ch, out_ch, 3, padding=1), nn.BatchNorm2d(out_ch), nn.ReLU(inplace=True),
        nn.MaxPool2d(2),
    )  # fmt: skip


#: Index of the last (head) Linear in each ccexam classifier, ``classifier.<i>.*``.
DIGIT_HEAD_INDEX = {"mnist": 2, "usps": 4, "svhn": 4}


def split_digit_state(variant: str, state: dict[str, torch.Tensor]) -> tuple[dict, dict]:
    """Split a ccexam state dict into (feature module state, head ``weight``/``bias``)."""
    prefix = f"classifier.{DIGIT_HEAD_INDEX[variant]}."
    body = {k: v for k, v in state.items() if not k.startswith(prefix)}
    head = {k[len(prefix) :]: v for k, v in state.items() if k.startswith(prefix)}
    return body, head


class EffNetLiteFeatures(nn.Module):
    """EfficientNet-Lite up to global average pooling: RGB images -> 1280-d features.

    Uses dynamic "same" padding, so any input size works; the classifier ``_fc`` is removed
    (it becomes the source's head).
    """

    def __init__(self, variant: str = "lite0") -> None:
        super().__init__()
        try:
            from efficientnet_lite_pytorch import EfficientNet
        except ImportError as exc:
            raise AssetMissingError(
                "Architecture 'effnet_lite' needs efficientnet-lite-pytorch; install it with "
                "`pip install --no-deps efficientnet-lite-pytorch`."
            ) from exc
        valid = [f"lite{i}" for i in range(5)]
        if variant not in valid:
            raise ConfigError(f"effnet_lite variant must be one of {valid}; got {variant!r}.")
        self.variant = variant
        # image_size=None selects dynamic same-padding (any input size).
        self.net = EfficientNet.from_name(f"efficientnet-{variant}", image_size=None)
        del self.net._fc
        self.feature_dim = self.net._bn1.num_features

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net.extract_features(x).mean(dim=(2, 3))


register_architecture("mlp", _mlp)
register_architecture("linear", _linear)
register_architecture("digitcnn.mnist", lambda: DigitFeatures("mnist"))
register_architecture("digitcnn.usps", lambda: DigitFeatures("usps"))
register_architecture("digitcnn.svhn", lambda: DigitFeatures("svhn"))
register_architecture("effnet_lite", lambda variant="lite0": EffNetLiteFeatures(variant))
