"""Turn a source into safe files for the zoo, and back. Nothing here ever unpickles.

``serialize(source) -> (config, files)``: ``config`` is JSON-able, ``files`` maps file names to
bytes. ``config["format"]`` is one of:

- ``"safetensors"`` (a :class:`TorchSource` whose module came from ``build_architecture``):
  ``weights.safetensors`` with ``module.*`` and ``head.*`` tensors, plus architecture name/kwargs,
  preprocess id, feature_dim and source_classes;
- ``"onnx"`` (:class:`OnnxSource`): ``model.onnx`` plus preprocess id, output and pooling;
- ``"skops"`` (:class:`SklearnSource`): ``model.skops`` (loaded with an explicit allow-list);
- ``"builtin"``: ``{"name": ...}`` and no files (sources from :func:`recycle.sources.builtin`);
- ``"remote"``: :class:`~recycle.sources.remote.RemoteSource`'s URL and model id, no files.

``deserialize(config, files, parents=None)`` rebuilds it; safetensors headers are checked
against the architecture (names, shapes, dtypes) before any tensor is loaded.

Examples
--------
>>> from recycle.sources import builtin
>>> serialize(builtin("digitcnn.mnist"))
({'format': 'builtin', 'name': 'digitcnn.mnist', 'source_id': 'digitcnn.mnist', 'parents': []}, {})
"""

from __future__ import annotations

import importlib
import json
import struct
from collections.abc import Mapping
from pathlib import Path
from typing import Any, cast

import torch
from torch import nn

from recycle.errors import ConfigError, UnsafeContentError, ValidationError
from recycle.sources.arch import ARCH_ATTR, build_architecture
from recycle.sources.base import SourceModel
from recycle.sources.builtins import builtin, builtin_names
from recycle.sources.onnx_source import OnnxSource
from recycle.sources.sklearn_source import SklearnSource, load_skops
from recycle.sources.torch_source import TorchSource

WEIGHTS = "weights.safetensors"
ONNX_FILE = "model.onnx"
SKOPS_FILE = "model.skops"
#: safetensors dtype names of the torch dtypes we store.
_DTYPES = {
    torch.float32: "F32", torch.float16: "F16", torch.bfloat16: "BF16", torch.float64: "F64",
    torch.int64: "I64", torch.int32: "I32", torch.uint8: "U8", torch.bool: "BOOL",
}  # fmt: skip
#: Largest safetensors header we read (the format caps it at 100 MB).
MAX_HEADER_BYTES = 100_000_000


def _builtin_name(source: SourceModel) -> str | None:
    name = getattr(source, "builtin_name", None)
    return name if isinstance(name, str) and name.split("@")[0] in builtin_names() else None


def serialize(source: SourceModel) -> tuple[dict[str, Any], dict[str, bytes]]:
    """Return ``(config, files)`` that :func:`deserialize` turns back into ``source``.

    Raises
    ------
    ConfigError
        The source kind cannot be stored (e.g. a torch module not built by
        ``build_architecture``; register its architecture first).

    Examples
    --------
    >>> from recycle.sources.arch import build_architecture
    >>> net = build_architecture("mlp", in_features=3, hidden=[], out_features=2)
    >>> config, files = serialize(TorchSource(net, "tabular:identity", 2, source_id="m.t"))
    >>> config["format"], sorted(files)
    ('safetensors', ['weights.safetensors'])
    """
    to_artifact = getattr(source, "to_artifact", None)
    if callable(to_artifact):  # kinds of higher layers (white-box families) store themselves
        return cast(tuple[dict[str, Any], dict[str, bytes]], to_artifact())
    name = _builtin_name(source)
    if name is not None:
        return {"format": "builtin", "name": name, "source_id": name, "parents": []}, {}
    base = {"source_id": source.source_id, "feature_dim": int(source.feature_dim), "parents": []}
    if isinstance(source, TorchSource):
        arch = getattr(source.module, ARCH_ATTR, None)
        if arch is None:
            raise ConfigError(
                f"Cannot store TorchSource {source.source_id!r}: its module was not built by "
                "build_architecture; register the architecture and build the module with it."
            )
        head = source.head
        if head is not None and not isinstance(head, nn.Linear):
            raise ConfigError("Only an nn.Linear head can be stored; got " + type(head).__name__)
        tensors = {f"module.{k}": v for k, v in source.module.state_dict().items()}
        if head is not None:
            tensors.update({f"head.{k}": v for k, v in head.state_dict().items()})
        from safetensors.torch import save

        data = save({k: v.detach().contiguous().clone() for k, v in tensors.items()})
        config = {**base, "format": "safetensors", "architecture": arch["name"],
                  "arch_kwargs": arch["kwargs"], "preprocess": source.preprocess_id,
                  "modality": source.modality, "source_classes": source.source_classes,
                  "head": None if head is None else {"in_features": head.in_features,
                                                     "out_features": head.out_features,
                                                     "bias": head.bias is not None},
                  "batch_size": source.batch_size, "access": source.access}  # fmt: skip
        return config, {WEIGHTS: data}
    if isinstance(source, OnnxSource):
        config = {**base, "format": "onnx", "preprocess": source.preprocess_id,
                  "modality": source.modality, "output": source.output,
                  "pooling": source.pooling, "batch_size": source.batch_size}  # fmt: skip
        return config, {ONNX_FILE: source.model_bytes()}
    if isinstance(source, SklearnSource):
        import skops.io

        config = {**base, "format": "skops", "preprocess": source.preprocess_id,
                  "modality": source.modality, "method": source.method,
                  "source_classes": source.source_classes,
                  "batch_size": source.batch_size}  # fmt: skip
        return config, {SKOPS_FILE: skops.io.dumps(source.estimator)}
    if type(source).__name__ == "RemoteSource" and hasattr(source, "to_config"):
        return {**base, **source.to_config()}, {}
    raise ConfigError(
        f"Cannot serialize a {type(source).__name__}; use TorchSource (safetensors), OnnxSource "
        "or SklearnSource."
    )


def read_safetensors_header(path: Path) -> dict[str, Any]:
    """Parse and sanity-check a safetensors header (names, dtypes, shapes, offsets).

    Raises
    ------
    UnsafeContentError
        Malformed header, or offsets that do not match the shapes and the file size.
    """
    size = path.stat().st_size
    with path.open("rb") as fh:
        prefix = fh.read(8)
        if len(prefix) != 8:
            raise UnsafeContentError(f"{path.name} is not a safetensors file (too short).")
        (n,) = struct.unpack("<Q", prefix)
        if n > min(MAX_HEADER_BYTES, size - 8):
            raise UnsafeContentError(f"{path.name}: safetensors header length {n} is impossible.")
        try:
            header = json.loads(fh.read(n))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise UnsafeContentError(f"{path.name}: safetensors header is not JSON.") from exc
    if not isinstance(header, dict):
        raise UnsafeContentError(f"{path.name}: safetensors header is not an object.")
    header.pop("__metadata__", None)
    itemsize = {"F32": 4, "F16": 2, "BF16": 2, "F64": 8, "I64": 8, "I32": 4, "U8": 1, "BOOL": 1}
    body = size - 8 - n
    for key, info in header.items():
        try:
            start, end = (int(v) for v in info["data_offsets"])
            numel = 1
            for d in info["shape"]:
                numel *= int(d)
            nbytes = numel * itemsize[info["dtype"]]
        except (KeyError, TypeError, ValueError) as exc:
            raise UnsafeContentError(f"{path.name}: bad header entry for {key!r}.") from exc
        if end - start != nbytes or not 0 <= start <= end <= body:
            raise UnsafeContentError(
                f"{path.name}: tensor {key!r} claims shape {info['shape']} but its byte range "
                f"[{start}, {end}) does not match; the file is corrupt or forged."
            )
    return header


def _check_against(header: Mapping[str, Any], expected: Mapping[str, torch.Tensor]) -> None:
    """Raise :class:`ValidationError` unless ``header`` has exactly ``expected``'s tensors."""
    missing = sorted(set(expected) - set(header))
    extra = sorted(set(header) - set(expected))
    if missing or extra:
        raise ValidationError(
            f"Weights do not fit the architecture: missing {missing[:5]}, unexpected {extra[:5]}."
        )
    for key, ref in expected.items():
        shape, dtype = list(header[key]["shape"]), header[key]["dtype"]
        if shape != list(ref.shape) or dtype != _DTYPES.get(ref.dtype):
            raise ValidationError(
                f"Tensor {key!r} is {dtype}{shape}; the architecture needs "
                f"{_DTYPES.get(ref.dtype)}{list(ref.shape)}."
            )


def _file(files: Mapping[str, Path], name: str) -> Path:
    if name not in files:
        raise ValidationError(f"Missing file {name!r}; got {sorted(files)}.")
    return Path(files[name])


#: Source formats defined by higher layers (a recycled model is built by ``recycle.adapt``).
#: Named as "module:function" and imported on first use, so this layer never imports them.
LAYERED_FORMATS: dict[str, str] = {
    "recycled": "recycle.adapt.recycled_entry:load_recycled_source",
    "family": "recycle.adapt.family.source:deserialize_family",
    "lightgbm": "recycle.sources.lightgbm_source:from_artifact",
}


def deserialize(
    config: Mapping[str, Any],
    files: Mapping[str, Path],
    parents: Mapping[str, SourceModel] | None = None,
) -> SourceModel:
    """Rebuild a source from :func:`serialize`'s config and files stored on disk.

    Parameters
    ----------
    config : dict
        The JSON config.
    files : dict of str to Path
        Where each stored file lies.
    parents : dict, optional
        Already loaded parent sources (unused by the kinds defined here).

    Raises
    ------
    ConfigError
        Unknown format.
    UnsafeContentError, ValidationError
        Files that are malformed, forged or do not fit the declared architecture.

    Examples
    --------
    >>> deserialize({"format": "builtin", "name": "digitcnn.usps"}, {}).feature_dim
    128
    """
    fmt = config.get("format")
    if fmt in LAYERED_FORMATS:
        module_name, _, func = LAYERED_FORMATS[str(fmt)].partition(":")
        loader = getattr(importlib.import_module(module_name), func)
        return cast(SourceModel, loader(dict(config), dict(files), dict(parents or {})))
    if fmt == "builtin":
        name, _, size = str(config.get("name", "")).partition("@")
        return builtin(name, int(size)) if size else builtin(name)
    if fmt == "safetensors":
        return _load_torch(config, _file(files, WEIGHTS))
    if fmt == "onnx":
        return OnnxSource(
            _file(files, ONNX_FILE), config["preprocess"], source_id=config["source_id"],
            output=config.get("output"), pooling=config.get("pooling", "mean"),
            feature_dim=config.get("feature_dim"), batch_size=config.get("batch_size", 64),
        )  # fmt: skip
    if fmt == "skops":
        estimator = load_skops(_file(files, SKOPS_FILE).read_bytes())
        return SklearnSource(
            estimator, source_id=config["source_id"], preprocess_id=config["preprocess"],
            method=config.get("method", "auto"), feature_dim=config.get("feature_dim"),
            source_classes=config.get("source_classes") or None,
            batch_size=config.get("batch_size", 4096),
        )  # fmt: skip
    if fmt == "remote":
        from recycle.sources.remote import RemoteSource

        return cast(SourceModel, RemoteSource.from_config(dict(config)))
    raise ConfigError(
        f"Unknown source format {fmt!r}; valid: safetensors, onnx, skops, builtin, remote, "
        f"{', '.join(LAYERED_FORMATS)}."
    )


def _load_torch(config: Mapping[str, Any], path: Path) -> TorchSource:
    from safetensors.torch import load_file

    header = read_safetensors_header(path)
    module = build_architecture(config["architecture"], **dict(config.get("arch_kwargs") or {}))
    expected = {f"module.{k}": v for k, v in module.state_dict().items()}
    head_cfg = config.get("head")
    head = None
    if head_cfg:
        head = nn.Linear(int(head_cfg["in_features"]), int(head_cfg["out_features"]),
                         bias=bool(head_cfg.get("bias", True)))  # fmt: skip
        expected.update({f"head.{k}": v for k, v in head.state_dict().items()})
    _check_against(header, expected)
    tensors = load_file(str(path), device="cpu")
    module.load_state_dict({k[7:]: v for k, v in tensors.items() if k.startswith("module.")})
    if head is not None:
        head.load_state_dict({k[5:]: v for k, v in tensors.items() if k.startswith("head.")})
        head.eval()
    return TorchSource(
        module, config["preprocess"], int(config["feature_dim"]),
        source_id=config["source_id"], head=head,
        source_classes=config.get("source_classes") or None,
        batch_size=int(config.get("batch_size", 64)), access=config.get("access", "white-box"),
    )  # fmt: skip
