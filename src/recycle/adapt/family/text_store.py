"""Files of a text family: the MiniLM base once, each source as a peft LoRA adapter + a head.

- base entry (architecture ``family.text_base``): ``weights.safetensors`` (the encoder),
  ``tokenizer.json``, and in the JSON config the BERT config (checked key by key against
  :data:`~recycle.adapt.family.text.BERT_KEYS`) and ``max_length``;
- source entry (architecture ``family.lora``): ``adapter_model.safetensors`` holding the LoRA
  tensors under peft's own names (``base_model.model.encoder.layer.0.attention.self.query.
  lora_A.weight``, ...; IA3: ``...query.ia3_l``), ``head.safetensors`` (``weight``, ``bias``),
  and in the JSON config the peft ``LoraConfig`` or ``IA3Config`` (checked by
  :meth:`~recycle.adapt.family.lora_config.LoraSpec.from_peft` or
  :meth:`~recycle.adapt.family.ia3_config.IA3Spec.from_peft`, one checker).

Every tensor file is read with safetensors (no pickle) and must hold exactly the tensors, shapes
and dtypes the config implies, else :class:`~recycle.errors.ValidationError` names the first
difference. These functions return parts; :mod:`recycle.adapt.family.source` builds the sources.

Examples
--------
>>> peft_key("layer3_value.lora_B.weight")
'base_model.model.encoder.layer.3.attention.self.value.lora_B.weight'
>>> site_key(peft_key("layer3_value.lora_B.weight"))
'layer3_value.lora_B.weight'
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load as st_load
from safetensors.torch import save as st_save

from recycle.adapt.family.ia3_config import IA3Spec
from recycle.adapt.family.lora_config import LoraSpec
from recycle.adapt.family.text import MAX_LENGTH, TextBase, build_text_base
from recycle.errors import ValidationError

BASE_ARCH = "family.text_base"
LORA_ARCH = "family.lora"
WEIGHTS = "weights.safetensors"
TOKENIZER = "tokenizer.json"
ADAPTER = "adapter_model.safetensors"  # peft's file name
HEAD = "head.safetensors"
_SITE = re.compile(r"^layer(\d+)_(query|value)\.(lora_[AB]\.weight|ia3_l)$")
_PEFT = re.compile(
    r"^base_model\.model\.encoder\.layer\.(\d+)\.attention\.self\.(query|value)\."
    r"(lora_[AB]\.weight|ia3_l)$"
)
#: The adapter kinds of a text family by peft_type (one per family).
SPECS: dict[str, type[LoraSpec] | type[IA3Spec]] = {"LORA": LoraSpec, "IA3": IA3Spec}


def peft_key(key: str) -> str:
    """peft's tensor name for an adapter-set key ``layer{i}_{t}.lora_{A|B}.weight``."""
    m = _SITE.match(key)
    if m is None:
        raise ValidationError(f"Not a text-family adapter tensor name: {key!r}.")
    i, t, rest = m.groups()
    return f"base_model.model.encoder.layer.{i}.attention.self.{t}.{rest}"


def site_key(key: str) -> str:
    """Inverse of :func:`peft_key`; ValidationError for any other name."""
    m = _PEFT.match(key)
    if m is None:
        raise ValidationError(
            f"The adapter file holds tensor {key!r}, which is not a LoRA weight of MiniLM's "
            "query/value projections (nor an IA3 scale); save the adapter with recycle or "
            "peft's LoRA or IA3 on those."
        )
    i, t, rest = m.groups()
    return f"layer{i}_{t}.{rest}"


def _read(raw: Path | bytes, name: str) -> dict[str, torch.Tensor]:
    data = raw if isinstance(raw, bytes) else Path(raw).read_bytes()
    try:
        return st_load(data)
    except Exception as exc:  # safetensors raises its own error types for malformed files
        raise ValidationError(f"{name} is not a valid safetensors file ({exc}).") from None


def _check(got: Mapping[str, torch.Tensor], expected: Mapping[str, torch.Size], name: str) -> None:
    missing, extra = sorted(set(expected) - set(got)), sorted(set(got) - set(expected))
    if missing or extra:
        raise ValidationError(
            f"{name} does not fit: missing {missing[:3]}, unexpected {extra[:3]}."
        )
    for key, shape in expected.items():
        t = got[key]
        if t.shape != shape or t.dtype != torch.float32:
            dtype = str(t.dtype).removeprefix("torch.")
            raise ValidationError(
                f"{name}: tensor {key!r} is {dtype}{list(t.shape)}; expected float32{list(shape)}."
            )


def base_files(
    base: TextBase, source_id: str, fingerprint: str
) -> tuple[dict[str, Any], dict[str, bytes]]:
    """``(config, files)`` of a text base entry."""
    tensors = {k: v.contiguous() for k, v in base.bert.state_dict().items()}
    config = {
        "format": "family",
        "architecture": BASE_ARCH,
        "kwargs": {"bert_config": base.bert_config(), "max_length": base.max_length},
        "source_id": source_id,
        "fingerprint": fingerprint,
        "parents": [],
    }
    files = {WEIGHTS: st_save(tensors), TOKENIZER: base.tokenizer_json.encode()}
    return config, files


def load_base(config: Mapping[str, Any], files: Mapping[str, Path | bytes]) -> TextBase:
    """The frozen :class:`TextBase` of a base entry (config and files checked)."""
    kwargs = config.get("kwargs") or {}
    unknown = sorted(set(kwargs) - {"bert_config", "max_length"})
    if unknown:
        raise ValidationError(f"The text base config has unknown key(s) {unknown}.")
    max_length = kwargs.get("max_length", MAX_LENGTH)
    if isinstance(max_length, bool) or not isinstance(max_length, int) or max_length < 1:
        raise ValidationError(f"max_length must be an int >= 1; got {max_length!r}.")
    for name in (WEIGHTS, TOKENIZER):
        if name not in files:
            raise ValidationError(f"The text base entry lacks {name!r}; got {sorted(files)}.")
    raw = files[TOKENIZER]
    tokenizer = (raw if isinstance(raw, bytes) else Path(raw).read_bytes()).decode()
    tensors = _read(files[WEIGHTS], WEIGHTS)
    try:
        return build_text_base(
            dict(kwargs.get("bert_config") or {}), tensors, tokenizer, max_length
        )
    except RuntimeError as exc:  # load_state_dict: missing / unexpected / mis-shaped tensors
        raise ValidationError(f"{WEIGHTS} does not fit the text base config: {exc}") from None


def adapter_files(
    adapter_state: Mapping[str, torch.Tensor],
    head_state: Mapping[str, torch.Tensor],
    spec: LoraSpec | IA3Spec,
) -> tuple[dict[str, Any], dict[str, bytes]]:
    """``(config part, files)`` of a LoRA (or IA3) source: peft-named adapter tensors, head."""
    adapter = {peft_key(k): v.contiguous() for k, v in adapter_state.items()}
    head = {k: v.contiguous() for k, v in head_state.items()}
    return {"peft_config": spec.to_peft()}, {ADAPTER: st_save(adapter), HEAD: st_save(head)}


def expected_adapter(base: TextBase, spec: LoraSpec | IA3Spec) -> dict[str, torch.Size]:
    """Names and shapes of one LoRA (or IA3) adapter set on ``base`` (adapter-set keys)."""
    shapes = spec.tensor_shapes(base.feature_dim)
    return {
        f"{site}.{suffix}": torch.Size(shape)
        for site, _ in base.adapter_sites()
        for suffix, shape in shapes.items()
    }


def peft_spec(config: Any) -> LoraSpec | IA3Spec:
    """The checked adapter spec of a stored peft config, by its ``peft_type`` (:data:`SPECS`).

    >>> type(peft_spec(IA3Spec().to_peft())).__name__
    'IA3Spec'
    """
    kind = config.get("peft_type") if isinstance(config, dict) else None
    if kind not in SPECS:
        raise ValidationError(
            f"The peft adapter config has peft_type={kind!r}; a text family accepts "
            f"{sorted(SPECS)}."
        )
    return SPECS[kind].from_peft(config)


def load_adapter(
    config: Mapping[str, Any], files: Mapping[str, Path | bytes], base: TextBase, n_classes: int
) -> tuple[LoraSpec | IA3Spec, dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    """The checked ``(spec, adapter_state, head_state)`` of a LoRA or IA3 entry on ``base``."""
    spec = peft_spec(config.get("peft_config"))
    for name in (ADAPTER, HEAD):
        if name not in files:
            raise ValidationError(f"The LoRA entry lacks {name!r}; got {sorted(files)}.")
    adapter = {site_key(k): v for k, v in _read(files[ADAPTER], ADAPTER).items()}
    _check(adapter, expected_adapter(base, spec), ADAPTER)
    head = _read(files[HEAD], HEAD)
    d = base.feature_dim
    _check(head, {"weight": torch.Size([n_classes, d]), "bias": torch.Size([n_classes])}, HEAD)
    return spec, adapter, head
