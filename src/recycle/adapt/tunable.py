"""Pre-trained backbones cut into units for fine-tuning, and their augmentations.

A :class:`Tunable` is what the ``finetune`` strategy trains: a module mapping prepared inputs to
``(n, d)`` features, its parameters grouped into ``units`` from the input (``units[0]``) to the
output (``units[-1]``) so that a schedule can unfreeze the top ones one at a time, the function
that prepares raw inputs, and the augmentation applied to a training batch.

- :func:`image_tunable`: EfficientNet-Lite0 (ImageNet, the builtin ``effnet_lite0.imagenet``,
  a private copy: the builtin is never modified). Units: the stem, its seven stages of MBConv
  blocks (by output width 16, 24, 40, 80, 112, 192, 320) and the 1x1 head convolution.
  Inputs are prepared by the builtin's preprocessing (RGB, EfficientNet-Lite normalisation,
  small images upsampled to 128 px). Augmentation: :func:`augment_images`.
- :func:`text_tunable`: all-MiniLM-L6-v2 (:func:`recycle.adapt.family.text.minilm_base`, mean
  pooling). Units: the embeddings and the six transformer layers. Augmentation:
  :func:`drop_tokens`.

The classification head on top is a :class:`ScaledHead`, started from :func:`linear_probe`.

Batch-norm statistics stay frozen while training (:meth:`Tunable.train`): the batches of a
few-shot target are too small to estimate them.

Examples
--------
>>> t = text_tunable(token_dropout=0.1)
>>> len(t.units), t.feature_dim
(7, 384)
>>> t.model(t.prepare(["a fine film", "dull"])).shape
torch.Size([2, 384])
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, cast

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from recycle.adapt._linear import apply_scaler, fit_logreg, fit_scaler
from recycle.sources.torch_source import TorchSource

#: The image backbone, a builtin source (ASSETS.md).
IMAGE_BACKBONE = "effnet_lite0.imagenet"
#: Largest rotation of :func:`augment_images`, in degrees ("small rotations").
MAX_ROTATION_DEG = 10.0
#: Largest shift of the random crop, as a fraction of the image side (a 4-px pad-and-crop at 32 px).
MAX_SHIFT = 0.125
#: Smallest crop side as a fraction of the image (random crops zoom in by at most 1/0.9).
MIN_CROP = 0.9

Augment = Callable[[torch.Tensor, torch.Generator], torch.Tensor]


@dataclass
class Tunable:
    """A backbone for fine-tuning (see the module docstring).

    Attributes
    ----------
    modality : {"image", "text"}
    model : torch.nn.Module
        Prepared inputs -> features ``(n, feature_dim)``.
    units : list of torch.nn.Module
        Parameter groups from the input to the output (modules of ``model``, not copies).
    feature_dim : int
    prepare : callable
        Raw inputs (images or texts) -> the tensor ``model`` takes.
    augment : callable
        ``augment(batch, generator)`` -> an augmented batch of the same shape and row order.
    """

    modality: str
    model: nn.Module
    units: list[nn.Module]
    feature_dim: int
    prepare: Callable[[Any], torch.Tensor]
    augment: Augment

    def freeze_all_but(self, top: int) -> None:
        """Let only the ``top`` units nearest the output learn (``top=0``: none)."""
        self.model.requires_grad_(False)
        for unit in self.units[len(self.units) - top :] if top else []:
            unit.requires_grad_(True)

    def train(self, mode: bool) -> None:
        """Train/eval mode for dropout; batch-norm layers always stay in eval mode."""
        self.model.train(mode)
        for module in self.model.modules():
            if isinstance(module, nn.modules.batchnorm._BatchNorm):
                module.eval()


def _image_units(net: Any) -> list[nn.Module]:
    """EfficientNet-Lite's stem, stages (blocks grouped by output width) and head conv."""
    stages: list[list[nn.Module]] = []
    width = None
    for block in net._blocks:
        if block._block_args.output_filters != width:
            stages.append([])
            width = block._block_args.output_filters
        stages[-1].append(block)
    stem = nn.ModuleList([net._conv_stem, net._bn0])
    head = nn.ModuleList([net._conv_head, net._bn1])
    return [stem, *(nn.ModuleList(s) for s in stages), head]


def image_tunable(image_size: int | None = None) -> Tunable:
    """A private copy of EfficientNet-Lite0 (``image_size``: one fixed input side, else the
    builtin's policy) as a :class:`Tunable`."""
    from recycle.sources import builtin

    src = cast(TorchSource, builtin(IMAGE_BACKBONE, image_size=image_size))
    model = copy.deepcopy(src.module)
    pre = src.preprocess

    def prepare(X: Any) -> torch.Tensor:
        return cast(torch.Tensor, pre(pre.check(X)))  # an image preprocessing: one tensor

    units = _image_units(model.net)
    return Tunable("image", model, units, int(src.feature_dim), prepare, augment_images)


def text_tunable(token_dropout: float = 0.0) -> Tunable:
    """all-MiniLM-L6-v2 (a fresh copy from the offline package) as a :class:`Tunable`."""
    from recycle.adapt.family.text import minilm_base

    base = minilm_base()
    units = [base.bert.embeddings, *base.bert.encoder.layer]

    def augment(x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
        return drop_tokens(x, gen, token_dropout)

    return Tunable("text", base, list(units), base.feature_dim, base.encode, augment)


def augment_images(x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """Random horizontal flips, crops (zoom up to 1/0.9 and shifts up to 1/8 of the side) and
    rotations up to 10 degrees of a batch ``(n, c, h, w)``, one affine resampling per image
    (edges repeated); row ``i`` of the result is image ``i`` transformed.

    Examples
    --------
    >>> x = torch.arange(2 * 3 * 8 * 8, dtype=torch.float32).reshape(2, 3, 8, 8)
    >>> out = augment_images(x, torch.Generator().manual_seed(0))
    >>> out.shape, bool((out != x).any())
    (torch.Size([2, 3, 8, 8]), True)
    """
    n = x.shape[0]

    def uniform(low: float, high: float) -> torch.Tensor:
        return low + (high - low) * torch.rand(n, generator=gen)

    angle = uniform(-MAX_ROTATION_DEG, MAX_ROTATION_DEG) * math.pi / 180.0
    scale = uniform(MIN_CROP, 1.0)
    flip = torch.where(torch.rand(n, generator=gen) < 0.5, -1.0, 1.0)
    shift = [uniform(-2 * MAX_SHIFT, 2 * MAX_SHIFT) for _ in range(2)]  # grid units: side = 2
    cos, sin = torch.cos(angle) * scale, torch.sin(angle) * scale
    theta = torch.stack(
        [torch.stack([cos * flip, -sin, shift[0]], 1), torch.stack([sin * flip, cos, shift[1]], 1)],
        1,
    ).to(x.dtype)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, padding_mode="border", align_corners=False)


def drop_tokens(x: torch.Tensor, gen: torch.Generator, p: float) -> torch.Tensor:
    """Token dropout on encoded texts ``(n, 2, L)`` (ids, attention mask): each token except
    the first and last of a text ([CLS], [SEP]) is removed with probability ``p``; the kept
    tokens are moved left so every mask stays a prefix of ones.

    Examples
    --------
    >>> x = torch.tensor([[[101, 7, 8, 9, 102], [1, 1, 1, 1, 1]]])
    >>> out = drop_tokens(x, torch.Generator().manual_seed(0), 0.5)
    >>> out[0, 0, 0].item(), out[0, 0, int(out[0, 1].sum()) - 1].item()
    (101, 102)
    """
    if p <= 0:
        return x
    out = torch.zeros_like(x)
    for i in range(x.shape[0]):
        length = int(x[i, 1].sum())
        keep = torch.ones(length, dtype=torch.bool)
        if length > 2:
            keep[1:-1] = torch.rand(length - 2, generator=gen) >= p
        ids = x[i, 0, :length][keep]
        out[i, 0, : len(ids)] = ids
        out[i, 1, : len(ids)] = 1
    return out


class ScaledHead(nn.Module):
    """The classification head: features centred and divided by one fixed scale, then a linear
    layer (the trainable part).

    One scale for every feature (the mean of their standard deviations), not one per feature:
    MiniLM has near-constant features, and dividing those by their near-zero deviation made the
    slightest drift of the unfrozen backbone explode the logits (hold-out loss 141 after one
    epoch on Rotten Tomatoes at 16 per class; 0.9 with one scale).
    """

    mean: torch.Tensor
    std: torch.Tensor

    def __init__(self, dim: int, n_classes: int) -> None:
        super().__init__()
        self.register_buffer("mean", torch.zeros(dim))
        self.register_buffer("std", torch.ones(dim))
        self.linear = nn.Linear(dim, n_classes)

    def forward(self, f: torch.Tensor) -> torch.Tensor:
        return self.linear((f - self.mean) / self.std)  # type: ignore[no-any-return]


def linear_probe(F: torch.Tensor, y: np.ndarray, n_classes: int, seed: int) -> ScaledHead:
    """Stage 0: a logistic regression on centred, scaled frozen features, as a
    :class:`ScaledHead` (the head fine-tuning starts from: LP-FT, Kumar et al. 2022)."""
    scaler = fit_scaler(F.numpy().astype(np.float64))
    scaler["std"] = np.full_like(scaler["std"], scaler["std"].mean())
    lr = fit_logreg(apply_scaler(scaler, F.numpy().astype(np.float64)), y, n_classes, seed=seed)
    head = ScaledHead(F.shape[1], n_classes)
    with torch.no_grad():
        head.mean.copy_(torch.as_tensor(scaler["mean"]))
        head.std.copy_(torch.as_tensor(scaler["std"]))
        head.linear.weight.copy_(torch.as_tensor(lr["W"]))
        head.linear.bias.copy_(torch.as_tensor(lr["b"]))
    return head


def n_params(modules: list[nn.Module]) -> int:
    """Parameters of ``modules`` (each counted once).

    >>> n_params([nn.Linear(3, 2), nn.Linear(2, 1)])
    11
    """
    seen = {id(p): p.numel() for m in modules for p in m.parameters()}
    return int(np.sum(list(seen.values()), dtype=np.int64)) if seen else 0
