"""Torch modules that recompute a fitted recycled model from the raw input, for ONNX export.

Every part takes the raw float32 array that an ``.npz`` ``X`` gives ``recycle predict``
(images ``[N, H, W]`` or ``[N, H, W, C]``, tabular ``[N, d]``), so preprocessing is inside the
exported graph. :func:`source_module` maps that input to one source's features;
:func:`head_module` maps the input plus every source's features to class probabilities, the
way the fitted strategy does in numpy or torch.

Pixel scale inside the graph: the library accepts uint8 images (0..255) and float images in
[0, 1]; the graph sees both as float32, so it reads an input whose maximum is at most 1 as
[0, 1] pixels (uint8 images whose every pixel is 0 or 1 are the one case that reads differently).

Examples
--------
>>> import torch
>>> tab = source_input_module("tabular:identity", [3])
>>> tab(torch.ones(2, 3)).shape
torch.Size([2, 3])
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from recycle.errors import IncompatibleError
from recycle.sources import preprocess as pp

#: The white-box strategies whose fitted ``model_`` is an adapter network on a family base.
ADAPTER_STRATEGIES = ("module_mixing", "independent_adapters", "finetune_source")
#: The black-box strategies whose fitted ``model_`` is a small own network mixed with sources.
MIXNET_STRATEGIES = ("feature_mixing", "independent")


def _const(a: Any) -> torch.Tensor:
    return torch.as_tensor(np.asarray(a), dtype=torch.float32)


def pixels_01(x: torch.Tensor) -> torch.Tensor:
    """Raw pixels to [0, 1]: inputs whose maximum exceeds 1 are read as 0..255."""
    return torch.where(x.amax() > 1.0, x / 255.0, x)


def image_channels(x: torch.Tensor, channels: int) -> torch.Tensor:
    """``[N, H, W]`` or ``[N, H, W, C]`` to ``[N, channels, H, W]`` (gray repeats, RGB to luma)."""
    t = x[:, None] if x.ndim == 3 else x.permute(0, 3, 1, 2)
    if channels == 3 and t.shape[1] == 1:
        t = t.expand(-1, 3, -1, -1)
    elif channels == 1 and t.shape[1] == 3:
        t = (t * _const(pp.LUMA).view(1, 3, 1, 1)).sum(dim=1, keepdim=True)
    return t


def _resize_matrix(n_in: int, n_out: int) -> torch.Tensor:
    """``(n_out, n_in)``: what :func:`recycle.sources.preprocess.resize` does along one axis
    (bilinear, antialiased when shrinking), read off its response to unit impulses."""
    impulses = torch.eye(n_in).reshape(n_in, 1, n_in, 1).expand(-1, -1, -1, 2)
    out = nn.functional.interpolate(
        impulses, size=(n_out, 2), mode="bilinear", align_corners=False, antialias=n_out < n_in
    )
    return out[:, 0, :, 0].T.contiguous()


def resize(t: torch.Tensor, size: int, center_crop: bool = False) -> torch.Tensor:
    """:func:`recycle.sources.preprocess.resize` for a fixed input size, as two matrix
    products (ONNX has no antialiased resize before opset 18's, which torch cannot export)."""
    if center_crop and t.shape[-2] != t.shape[-1]:  # crop only: the square is left as is
        t = pp.resize(t, min(t.shape[-2:]), center_crop=True)
    h, w = int(t.shape[-2]), int(t.shape[-1])
    if (h, w) == (size, size):
        return t
    if min(h, w) <= size:  # pp.resize antialiases only when both sides shrink
        return pp.resize(t, size)
    rows, cols = _resize_matrix(h, size), _resize_matrix(w, size)
    return torch.einsum("oh,nchw,pw->ncop", rows, t, cols)


class _Preprocess(nn.Module):
    """One preprocessing id of :mod:`recycle.sources.preprocess`, in torch ops only."""

    def __init__(self, pid: str, input_shape: Sequence[int]) -> None:
        super().__init__()
        self.base, self.params = pp.parse_id(pid)
        self.input_shape = [int(d) for d in input_shape]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.base == "tabular:identity":
            return x
        pixels = pixels_01(x) * 255.0
        if self.base == "image:effnet":
            t = image_channels(pixels, 3)
            small = min(self.input_shape[:2]) <= pp.SMALL_IMAGE_SIDE
            size = self.params.get("size") or (
                self.params.get("small", pp.EFFNET_SMALL_SIZE)
                if small
                else self.params.get("large", pp.EFFNET_LARGE_SIZE)
            )
            return (resize(t, int(size), center_crop=True) - 127.0) / 128.0
        variant = self.base.removeprefix("image:digit-")
        size, channels, mean, std = pp.DIGIT_STATS[variant]
        t = resize(image_channels(pixels, channels), size) / 255.0
        return (t - _const(mean).view(1, -1, 1, 1)) / _const(std).view(1, -1, 1, 1)


#: Preprocessing ids (base part) that :func:`source_input_module` can put inside a graph.
EXPORTABLE_PREPROCESSING = (
    "tabular:identity",
    "image:effnet",
    "image:digit-mnist",
    "image:digit-usps",
    "image:digit-svhn",
)


def source_input_module(pid: str, input_shape: Sequence[int]) -> nn.Module:
    """The preprocessing ``pid`` as a torch module; IncompatibleError if it has no graph form."""
    base, _ = pp.parse_id(pid)
    if base not in EXPORTABLE_PREPROCESSING:
        raise IncompatibleError(
            f"preprocessing {pid!r} runs outside a graph (e.g. a text tokenizer); exportable: "
            f"{', '.join(EXPORTABLE_PREPROCESSING)}"
        )
    return _Preprocess(pid, input_shape)


class FamilyInput(nn.Module):
    """:func:`recycle.adapt.family.model.to_tensor` in torch ops: normalised ``[N, 1, S, S]``."""

    def __init__(self, image_size: int) -> None:
        super().__init__()
        self.image_size = int(image_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        from recycle.adapt.family.model import PIXEL_MEAN, PIXEL_STD

        side = self.image_size
        if x.ndim == 2 and x.shape[1] == side * side:
            x = x.reshape(-1, side, side)
        if x.ndim == 4 and x.shape[-1] == 3:
            x = x.mean(dim=-1)
        t = pixels_01(x)[:, None]
        if t.shape[-1] != side or t.shape[-2] != side:
            t = nn.functional.interpolate(t, size=(side, side), mode="bilinear")
        return (t - PIXEL_MEAN) / PIXEL_STD


class _SourceFeatures(nn.Module):
    def __init__(self, prepare: nn.Module, body: Any) -> None:
        super().__init__()
        self.prepare = prepare
        self.body = body

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(self.prepare(x))


def source_module(source: Any, input_shape: Sequence[int]) -> nn.Module | None:
    """Raw input -> ``(N, feature_dim)`` features of ``source`` as a torch module.

    Returns None for a scikit-learn or LightGBM source (exported through skl2onnx or
    onnxmltools instead) and raises
    :class:`IncompatibleError` for a source with no graph form (remote, text, ONNX).
    """
    if hasattr(source, "adapter_state") and hasattr(source, "base"):  # a family source
        net = source.torch_module()["net"]
        return _SourceFeatures(FamilyInput(source.base.config.image_size), net.features)
    if hasattr(source, "estimator") and hasattr(source, "preprocess_id"):
        if source.preprocess_id != "tabular:identity":
            raise IncompatibleError(
                f"scikit-learn source {source.source_id!r} reads preprocessing "
                f"{source.preprocess_id!r}; only 'tabular:identity' is exportable"
            )
        return None
    if hasattr(source, "booster"):  # a LightGBM source: exported through onnxmltools
        return None
    module = getattr(source, "module", None)
    if isinstance(module, nn.Module) and hasattr(source, "preprocess_id"):
        return _SourceFeatures(source_input_module(source.preprocess_id, input_shape), module)
    kind = type(source).__name__
    raise IncompatibleError(f"source {source.source_id!r} ({kind}) has no exportable graph")


def _l2(F: torch.Tensor) -> torch.Tensor:
    return F / torch.clamp(torch.linalg.vector_norm(F, dim=1, keepdim=True), min=1e-12)


class _Arrays(nn.Module):
    """The strategy's numpy arrays as float32 constants, looked up by their flat key."""

    def __init__(self, arrays: dict[str, np.ndarray]) -> None:
        super().__init__()
        self.keys = list(arrays)
        for i, key in enumerate(self.keys):
            self.register_buffer(f"a{i}", _const(arrays[key]))

    def __getitem__(self, key: str) -> torch.Tensor:
        return getattr(self, f"a{self.keys.index(key)}")  # type: ignore[no-any-return]


def _logreg(a: _Arrays, prefix: str, D: torch.Tensor) -> torch.Tensor:
    return torch.softmax(D @ a[f"{prefix}.W"].T + a[f"{prefix}.b"], dim=1)


def _standard(a: _Arrays, prefix: str, D: torch.Tensor) -> torch.Tensor:
    return (D - a[f"{prefix}.mean"]) / a[f"{prefix}.std"]


def per_source_probabilities(a: _Arrays, feats: Sequence[torch.Tensor]) -> list[torch.Tensor]:
    """Each source's own head on its features: L2-normalised, standardised (``src{i}.scaler``),
    logistic regression (``src{i}.head``), as ``recycle.adapt._linear.fit_per_source`` fitted
    them; averaging, stacking and feature_augment read these."""
    return [
        _logreg(a, f"src{i}.head", _standard(a, f"src{i}.scaler", _l2(F)))
        for i, F in enumerate(feats)
    ]


class LinearHead(nn.Module):
    """linear_probe, averaging, stacking and mcw: the strategy's numpy formulas in torch."""

    def __init__(self, name: str, arrays: dict[str, np.ndarray]) -> None:
        super().__init__()
        self.name = name
        self.arrays = _Arrays(arrays)

    def forward(self, x: torch.Tensor, *feats: torch.Tensor) -> torch.Tensor:
        a = self.arrays
        if self.name == "linear_probe":
            D = torch.cat([_l2(F) for F in feats], dim=1)
            return _logreg(a, "head", _standard(a, "scaler", D))
        if self.name == "averaging":
            return torch.stack(per_source_probabilities(a, feats)).mean(dim=0)
        if self.name == "stacking":
            probs = torch.cat(per_source_probabilities(a, feats), dim=1)
            meta = torch.log(torch.clamp(probs, 1e-6, 1.0))
            return _logreg(a, "meta", meta)
        from recycle.adapt.strategies.mcw import PROBA_FLOOR

        total = sum(
            a["weights"][i] * (((F - a[f"src{i}.mean"]) @ a[f"src{i}.W"]) @ a[f"src{i}.M"].T)
            for i, F in enumerate(feats)
        )
        p = a["src0.prior"] * torch.clamp(torch.as_tensor(1.0 + total), min=PROBA_FLOOR)
        return p / p.sum(dim=1, keepdim=True)


class OwnInputModule(nn.Module):
    """:class:`recycle.adapt.smallnet.OwnInput` (images and tabular) in torch ops."""

    mean: torch.Tensor  # buffers, registered in __init__
    std: torch.Tensor

    def __init__(self, own: Any) -> None:
        super().__init__()
        if own.modality == "text":
            raise IncompatibleError(
                "the target network reads hashed words, which run outside a graph"
            )
        self.kind = own.kind
        self.register_buffer("mean", _const(own.mean))
        self.register_buffer("std", _const(own.std))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        from recycle.adapt.smallnet import IMAGE_SIZE

        if self.kind != "lenet":
            return (x.reshape(x.shape[0], -1) - self.mean) / self.std
        if x.ndim == 4:
            x = x.mean(dim=3)
        t = torch.where(x.amax() > 1.5, x / 255.0, x)[:, None]
        if t.shape[-2:] != (IMAGE_SIZE, IMAGE_SIZE):
            t = nn.functional.interpolate(
                t, size=(IMAGE_SIZE, IMAGE_SIZE), mode="bilinear", align_corners=False
            )
        return (t - self.mean[0]) / self.std[0]


class FeatureAugmentHead(nn.Module):
    """feature_augment: the target's own (standardised) input beside each source's per-source
    probabilities, standardised, then the logistic regression."""

    def __init__(self, strategy: Any) -> None:
        super().__init__()
        self.own = OwnInputModule(strategy.own_input_)
        self.arrays = _Arrays(strategy.arrays_)  # the per-source heads' and its own, once

    def forward(self, x: torch.Tensor, *feats: torch.Tensor) -> torch.Tensor:
        raw = self.own(x).reshape(x.shape[0], -1)
        D = torch.cat([raw, *per_source_probabilities(self.arrays, feats)], dim=1)
        return _logreg(self.arrays, "aug.head", _standard(self.arrays, "aug.scaler", D))


class MixNetHead(nn.Module):
    """feature_mixing and independent: own network on the input + reduced source features."""

    def __init__(self, strategy: Any) -> None:
        super().__init__()
        network = strategy.network_  # adapt.smallnet.SmallNetwork
        self.own = OwnInputModule(network.own_input)
        self.model = network.model.eval()
        self.reducers = nn.ModuleList(_Arrays(r) for r in getattr(strategy, "reducers_", []))
        self.k = network.model.head.in_features

    def forward(self, x: torch.Tensor, *feats: torch.Tensor) -> torch.Tensor:
        if feats:
            pairs = zip(self.reducers, feats, strict=True)
            z = torch.stack([(F - r["mean"]) @ r["components"].T for r, F in pairs], dim=1)  # type: ignore[index]
        else:
            z = x.new_zeros((x.shape[0], 0, self.k))
        return torch.softmax(self.model(self.own(x), z), dim=1)


class AdapterHead(nn.Module):
    """module_mixing and the white-box baselines: the adapter network on the family input."""

    def __init__(self, strategy: Any) -> None:
        super().__init__()
        model = strategy.model_.eval()
        self.prepare = FamilyInput(model.net.base.config.image_size)
        self.model = model
        self.mix = bool(strategy.mixes_sources)

    def forward(self, x: torch.Tensor, *feats: torch.Tensor) -> torch.Tensor:
        xt = self.prepare(x)
        S = torch.stack(feats, dim=1) if (self.mix and feats) else xt.new_zeros(xt.shape[0], 0, 1)
        return torch.softmax(self.model(xt, S)[0], dim=1)


class FeaturesOnly(nn.Module):
    """A head that reads only the sources' features (text: the graph has no ``input``)."""

    def __init__(self, head: nn.Module) -> None:
        super().__init__()
        self.head = head

    def forward(self, *feats: torch.Tensor) -> torch.Tensor:
        return self.head(feats[0], *feats)  # type: ignore[no-any-return]


def head_module(strategy: Any) -> nn.Module:
    """``(x, *features) -> probabilities`` of a fitted strategy; IncompatibleError if unknown."""
    name = strategy.name
    if name in ("linear_probe", "averaging", "stacking", "mcw"):
        return LinearHead(name, strategy.arrays_)
    if name == "feature_augment":
        return FeatureAugmentHead(strategy)
    if name in MIXNET_STRATEGIES:
        return MixNetHead(strategy)
    if name in ADAPTER_STRATEGIES:
        return AdapterHead(strategy)
    raise IncompatibleError(
        f"strategy {name!r} has no graph form yet; exportable: linear_probe, averaging, "
        f"stacking, mcw, feature_augment, {', '.join(MIXNET_STRATEGIES + ADAPTER_STRATEGIES)}"
    )
