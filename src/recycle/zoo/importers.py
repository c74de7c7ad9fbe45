"""Turning files a provider has (safetensors + architecture JSON, ONNX, skops, LightGBM's
text model, a data file) into what :meth:`recycle.zoo.Zoo.register_files` takes. Nothing here
unpickles or runs a model.

Examples
--------
>>> serialized_from_file("model.pth", None)  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
recycle.errors.UnsafeContentError: Model file 'model.pth' has format '.pth'...
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from recycle.errors import ConfigError, DataError, UnsafeContentError
from recycle.zoo.card import ModelCard

#: Keys an architecture JSON (``--arch``) may set in a safetensors config.
ARCH_KEYS = (
    "architecture", "arch_kwargs", "preprocess", "feature_dim", "source_classes", "head",
    "batch_size", "access", "parents",
)  # fmt: skip
#: Keys an ``--arch`` JSON may set for ONNX models.
ONNX_KEYS = ("preprocess", "output", "pooling", "feature_dim", "batch_size", "parents")
PICKLE_SUFFIXES = (".pth", ".pt", ".pkl", ".pickle", ".bin", ".ckpt", ".joblib")
SPEC_M = 100  # reduced points of a spec built by `zoo add --spec-data`


def _read_json(path: str | Path, what: str) -> dict[str, Any]:
    try:
        data = json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise ConfigError(f"{what} file {str(path)!r} does not exist.") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{what} file {str(path)!r} is not valid JSON: {exc}.") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{what} file {str(path)!r} must hold a JSON object.")
    return data


def read_card(path: str | Path) -> ModelCard:
    """Load a card JSON file (:class:`~recycle.errors.CardError` if invalid)."""
    from recycle.errors import CardError

    try:
        text = Path(path).read_text()
    except FileNotFoundError:
        raise CardError(f"Card file {str(path)!r} does not exist.") from None
    return ModelCard.from_json(text)


def _pick(arch: dict[str, Any], keys: tuple[str, ...], what: str) -> dict[str, Any]:
    unknown = sorted(set(arch) - set(keys))
    if unknown:
        raise ConfigError(f"--arch for {what} has unknown keys {unknown}; valid: {list(keys)}.")
    return dict(arch)


def serialized_from_file(
    path: str | Path, card: ModelCard | None, arch_path: str | Path | None = None
) -> tuple[dict[str, Any], dict[str, bytes]]:
    """``(config, files)`` for a model file: ``.safetensors`` (+ ``--arch``), ``.onnx``, ``.skops``,
    or a LightGBM classifier's text model (``.txt``, ``Booster.save_model``; checked here against
    the card's classes and ``input.columns``, never unpickled).

    Parameters
    ----------
    path : str or Path
        The model file.
    card : ModelCard
        Supplies the preprocessing id, feature dim and source classes where the file does not.
    arch_path : str or Path, optional
        Architecture JSON (required for safetensors: ``{"architecture": "mlp", "arch_kwargs":
        {...}, "preprocess": "tabular:identity"}``; optional for ONNX: output, pooling).
    """
    p = Path(path)
    suffix = p.suffix.lower()
    if suffix in PICKLE_SUFFIXES:
        raise UnsafeContentError(
            f"Model file {p.name!r} has format {suffix!r}, which is (or may be) a pickle and could "
            "run code when loaded; convert it to .safetensors (+ --arch), .onnx or .skops."
        )
    if suffix not in (".safetensors", ".onnx", ".skops", ".txt"):
        raise ConfigError(
            f"Unsupported model file {p.name!r}; give .safetensors (with --arch), .onnx, .skops, "
            "a LightGBM text model (.txt) or builtin:NAME."
        )
    if not p.is_file():
        raise ConfigError(f"Model file {str(p)!r} does not exist.")
    if card is None:
        raise ConfigError(f"Adding {p.name!r} needs --card CARD.json (only builtins have one).")
    arch = _read_json(arch_path, "Architecture") if arch_path else {}
    data = p.read_bytes()
    base: dict[str, Any] = {
        "source_id": card.name,
        "feature_dim": card.output.feature_dim,
        "preprocess": card.input.preprocess,
        "parents": [],
    }
    if suffix == ".safetensors":
        if "architecture" not in arch:
            raise ConfigError(
                'A .safetensors model needs --arch ARCH.json with {"architecture": NAME, '
                '"arch_kwargs": {...}} (names: recycle.sources.arch.architecture_names()).'
            )
        config = {**base, "format": "safetensors", "modality": card.modality,
                  "source_classes": card.output.source_classes, "access": card.access,
                  "head": None, **_pick(arch, ARCH_KEYS, "safetensors")}  # fmt: skip
        files = {"weights.safetensors": data}
    elif suffix == ".txt":
        config, files = _lightgbm(p.name, data, card, base)
    elif suffix == ".onnx":
        config = {**base, "format": "onnx", "pooling": "mean", **_pick(arch, ONNX_KEYS, "ONNX")}
        files = {"model.onnx": data}
    else:
        config = {**base, "format": "skops", "method": "auto",
                  "source_classes": card.output.source_classes}  # fmt: skip
        config["preprocess"] = config["preprocess"] or "tabular:identity"
        files = {"model.skops": data}
    if not config.get("preprocess"):
        raise ConfigError(
            f"{p.name}: say how inputs are preprocessed: set input.preprocess in the card "
            "(e.g. 'tabular:identity', 'image:effnet', 'text:minilm') or 'preprocess' in --arch."
        )
    return config, files


def _lightgbm(
    name: str, data: bytes, card: ModelCard, base: dict[str, Any]
) -> tuple[dict[str, Any], dict[str, bytes]]:
    """A LightGBM text model's ``(config, files)``, once the text fits the card."""
    from recycle.sources.lightgbm_source import MODEL_FILE, check_model_text

    if card.modality != "tabular" or not card.input.columns:
        raise ConfigError(
            f"{name}: a LightGBM model is a tabular source; its card needs modality 'tabular' "
            "and input.columns (the model's columns, in its order)."
        )
    classes = list(card.output.source_classes)
    check_model_text(data, len(classes), len(card.input.columns))
    config = {**base, "format": "lightgbm", "modality": "tabular", "source_classes": classes,
              "n_features": len(card.input.columns), "feature_dim": len(classes)}  # fmt: skip
    config["preprocess"] = config["preprocess"] or "tabular:identity"
    return config, {MODEL_FILE: data}


def spec_from_data(path: str | Path, modality: str, seed: int = 0) -> Any:
    """Build the spec of a provider's data file (``.npz`` with an ``X`` array), in the default
    space of ``modality`` (:func:`recycle.spec.space_for`). The rows never leave this machine.
    """
    import numpy as np

    from recycle.spec import build_spec, embed_for_space, space_for

    p = Path(path)
    if p.suffix.lower() != ".npz":
        raise DataError(f"--spec-data must be an .npz file with an array 'X'; got {p.name!r}.")
    try:
        with np.load(p, allow_pickle=False) as npz:
            names = list(npz.files)
            X = npz["X"] if "X" in names else None
    except FileNotFoundError:
        raise DataError(f"--spec-data file {str(p)!r} does not exist.") from None
    except ValueError as exc:  # object arrays would need pickle
        raise DataError(
            f"{p.name} cannot be read without pickle ({exc}); save plain arrays."
        ) from None
    if X is None:
        raise DataError(f"{p.name} has arrays {names}; --spec-data needs one named 'X'.")
    space = space_for(modality, X)
    Z = embed_for_space(space, X)
    return build_spec(Z, m=max(1, min(SPEC_M, len(Z) // 2)), space=space, seed=seed)
