"""White-box family sources (base and per-task adapters) and their safetensors serialization.

A family is stored as one *base* entry (:class:`FamilyBaseSource`) and one entry per source task
(:class:`FamilySource`) holding only the adapter + head weights and referencing the base through
``config["parents"]``. Two kinds of base share this code: the CNN of ``stream28`` (architectures
``family.base`` / ``family.adapters``, EFT + LoRA adapters in one safetensors file) and the
pre-trained MiniLM text encoder (``family.text_base`` / ``family.lora``: peft LoRA adapters, see
:mod:`recycle.adapt.family.text_store`).

Examples
--------
>>> import torch
>>> base = FamilyBase(FamilyConfig(channels=(4, 8)))
>>> src = FamilySource.fresh(base, ["a", "b"], name="demo")
>>> cfg, files = serialize_family(src)
>>> cfg["architecture"], sorted(files)
('family.adapters', ['weights.safetensors'])
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import load as st_load
from safetensors.torch import save as st_save
from torch import nn

from recycle.adapt.family import text_store
from recycle.adapt.family.config import AdapterConfig, FamilyConfig
from recycle.adapt.family.ia3_config import IA3Spec
from recycle.adapt.family.lora_config import LoraSpec
from recycle.adapt.family.model import (
    FamilyBase,
    FamilyNet,
    base_fingerprint,
    default_adapter_config,
)
from recycle.adapt.family.text import TextBase
from recycle.errors import IncompatibleError, ValidationError

BATCH = 512  # images per inference batch
TEXT_BATCH = 64  # texts per inference batch (MiniLM's activations grow with text length)
WEIGHTS = "weights.safetensors"


def inference_batch(base: Any) -> int:
    """Rows per inference batch on ``base`` (texts cost far more memory per row than images)."""
    return TEXT_BATCH if base.modality == "text" else BATCH


def batched(base: Any, fn: Any, X: Any) -> torch.Tensor:
    """``fn`` (a module taking encoded inputs) over ``X`` in inference batches, no grad."""
    size = inference_batch(base)
    outs = []
    with torch.no_grad():
        for i in range(0, len(X), size):
            outs.append(fn(base.encode(X[i : i + size])))
    return torch.cat(outs) if outs else torch.zeros(0, base.feature_dim)


class FamilyBaseSource:
    """The shared base as a white-box source (``embed`` = base features, no adapters)."""

    access = "white-box"

    def __init__(self, base: FamilyBase | TextBase, name: str = "family.base") -> None:
        self.base = base.eval()
        self.modality = base.modality
        self.source_id = name
        self.feature_dim = base.feature_dim
        self.fingerprint = base_fingerprint(base)

    def to_artifact(self) -> tuple[dict[str, Any], dict[str, bytes]]:
        """``(config, files)`` for the zoo (see :func:`serialize_family`)."""
        return serialize_family(self)

    def embed(self, X: Any) -> np.ndarray:
        """Base features ``(n, feature_dim)`` float32."""
        return batched(self.base, self.base, X).numpy()

    def torch_module(self) -> nn.Module:
        """The base network (eval, CPU)."""
        return self.base


class FamilySource:
    """A source of a family: frozen base + this task's adapters + head over its classes."""

    access = "white-box"

    def __init__(
        self,
        base: FamilyBase | TextBase,
        adapter_state: Mapping[str, torch.Tensor],
        head_state: Mapping[str, torch.Tensor],
        classes: Sequence[str],
        adapter_config: AdapterConfig | LoraSpec | IA3Spec | None = None,
        name: str = "family.source",
        base_id: str | None = None,
    ) -> None:
        self.base = base
        self.modality = base.modality
        self.adapter_state = dict(adapter_state)
        self.head_state = dict(head_state)
        self.source_classes = list(classes)
        self.adapter_config = adapter_config or default_adapter_config(base)
        self.source_id = name
        self.feature_dim = base.feature_dim
        self.fingerprint = base_fingerprint(base)
        self.base_id = base_id or self.fingerprint
        self._net: FamilyNet | None = None
        self._head: nn.Linear | None = None

    @classmethod
    def fresh(
        cls, base: FamilyBase | TextBase, classes: Sequence[str], name: str = "fresh"
    ) -> FamilySource:
        """An untrained source (zero adapters, random head); for tests and examples."""
        net = FamilyNet(base, default_adapter_config(base))
        net.add_adapter_set("task")
        head = nn.Linear(base.feature_dim, len(classes))
        state = net.adapter_set("task").state_dict()
        return cls(base, state, head.state_dict(), classes, net.adapter_config, name)

    def _modules(self) -> tuple[FamilyNet, nn.Linear]:
        if self._net is None or self._head is None:
            net = FamilyNet(self.base, self.adapter_config)
            net.add_adapter_set("task", self.adapter_state, trainable=False)
            net.activate(["task"])
            head = nn.Linear(self.feature_dim, len(self.source_classes))
            head.load_state_dict(self.head_state)
            head.requires_grad_(False)
            self._net, self._head = net.eval(), head
        return self._net, self._head

    def to_artifact(self) -> tuple[dict[str, Any], dict[str, bytes]]:
        """``(config, files)`` for the zoo (see :func:`serialize_family`)."""
        return serialize_family(self)

    def embed(self, X: Any) -> np.ndarray:
        """Pooled features with this source's adapters, ``(n, feature_dim)`` float32."""
        net, _ = self._modules()
        return batched(self.base, net.features, X).numpy()

    def predict_proba(self, X: Any) -> np.ndarray:
        """Probabilities over ``source_classes``."""
        net, head = self._modules()
        logits = batched(self.base, lambda x: head(net.features(x)), X)
        return torch.softmax(logits, 1).numpy()

    def torch_module(self) -> nn.Module:
        """``nn.Sequential(features, head)`` view: the adapted network (eval, CPU)."""
        net, head = self._modules()
        return nn.ModuleDict({"net": net, "head": head})

    def adapter_param_count(self) -> int:
        """Parameters of this task's adapters (head excluded)."""
        return sum(t.numel() for t in self.adapter_state.values())


def is_family_source(source: object) -> bool:
    """Whether ``source`` is a family source (has a base, adapter weights and a head)."""
    return all(hasattr(source, a) for a in ("base", "adapter_state", "head_state", "fingerprint"))


def family_sources(ranked: Sequence[Any], m: int) -> list[Any]:
    """The ``m`` best-ranked adapter sources of ``ranked`` (a family's base entry is skipped:
    white-box strategies take the base from the adapters); ``ranked[:m]`` if there are none,
    so that :func:`check_same_base` names what is wrong."""
    family = [s for s in ranked if is_family_source(s)]
    return family[:m] if family else list(ranked[:m])


def check_same_base(sources: Sequence[object]) -> FamilyBase:
    """Return the shared base of ``sources``; IncompatibleError if not one family."""
    bad = [getattr(s, "source_id", repr(s)) for s in sources if not is_family_source(s)]
    if bad:
        raise IncompatibleError(
            f"White-box mixing needs family sources (base + adapters); {bad} are not. "
            "Use a black-box strategy (feature_mixing, mcw, ...) for them."
        )
    kinds = sorted({type(s.adapter_config).__name__ for s in sources})  # type: ignore[attr-defined]
    if len(kinds) > 1:
        raise IncompatibleError(
            f"White-box mixing needs one adapter kind; the sources mix {kinds}. Select sources "
            "of one kind (LoRA or IA3) or use a black-box strategy."
        )
    prints = {s.fingerprint for s in sources}  # type: ignore[attr-defined]
    if len(prints) > 1:
        raise IncompatibleError(
            f"White-box sources must share one base; got {len(prints)} different bases. "
            "Select sources of one family or use a black-box strategy."
        )
    return sources[0].base  # type: ignore[attr-defined,no-any-return]


#: The zoo format name of family entries (safetensors weights + this JSON config);
#: ``recycle.sources.deserialize`` dispatches it to :func:`deserialize_family`.
FORMAT = "family"


def serialize_family(
    source: FamilySource | FamilyBaseSource,
) -> tuple[dict[str, Any], dict[str, bytes]]:
    """Return ``(config, files)`` for a family base or source (safetensors + JSON config)."""
    if isinstance(source.base, TextBase):
        return _serialize_text(source)
    if isinstance(source, FamilyBaseSource):
        tensors = {k: v.contiguous() for k, v in source.base.state_dict().items()}
        config: dict[str, Any] = {
            "format": FORMAT,
            "architecture": "family.base",
            "kwargs": source.base.config.to_dict(),
            "source_id": source.source_id,
            "fingerprint": source.fingerprint,
            "parents": [],
        }
        return config, {WEIGHTS: st_save(tensors)}
    tensors = {f"adapters.{k}": v.contiguous() for k, v in source.adapter_state.items()}
    tensors.update({f"head.{k}": v.contiguous() for k, v in source.head_state.items()})
    config = {
        "format": FORMAT,
        "architecture": "family.adapters",
        "kwargs": source.adapter_config.to_dict(),
        "source_id": source.source_id,
        "source_classes": source.source_classes,
        "fingerprint": source.fingerprint,
        "parents": [source.base_id],
    }
    return config, {WEIGHTS: st_save(tensors)}


def deserialize_family(
    config: Mapping[str, Any],
    files: Mapping[str, Path | bytes],
    parents: Mapping[str, Any] | None = None,
) -> FamilySource | FamilyBaseSource:
    """Inverse of :func:`serialize_family`; ``parents`` maps the base entry id to its source.

    Text entries are checked file by file (:mod:`~recycle.adapt.family.text_store`);
    :class:`~recycle.errors.ValidationError` names what does not fit.
    """
    if config.get("architecture") == text_store.BASE_ARCH:
        text_base = text_store.load_base(config, files)
        return FamilyBaseSource(text_base, config.get("source_id", "family.text_base"))
    if config.get("architecture") == text_store.LORA_ARCH:
        return _load_lora(config, files, parents)
    if config.get("architecture") not in ("family.base", "family.adapters"):
        raise ValidationError(
            f"Unknown family architecture {config.get('architecture')!r}; valid: family.base, "
            f"family.adapters, {text_store.BASE_ARCH}, {text_store.LORA_ARCH}."
        )
    raw = files[WEIGHTS]
    tensors = st_load(raw if isinstance(raw, bytes) else Path(raw).read_bytes())
    if config["architecture"] == "family.base":
        base = FamilyBase(FamilyConfig.from_dict(config["kwargs"]))
        base.load_state_dict(tensors)
        base.eval().requires_grad_(False)
        return FamilyBaseSource(base, config.get("source_id", "family.base"))
    parent_id, parent = _parent(config, parents)
    adapters = {k[len("adapters.") :]: v for k, v in tensors.items() if k.startswith("adapters.")}
    head = {k[len("head.") :]: v for k, v in tensors.items() if k.startswith("head.")}
    return FamilySource(
        parent.base,
        adapters,
        head,
        config["source_classes"],
        AdapterConfig.from_dict(config["kwargs"]),
        config.get("source_id", "family.source"),
        base_id=parent_id,
    )


def _parent(
    config: Mapping[str, Any], parents: Mapping[str, Any] | None
) -> tuple[str, FamilyBaseSource]:
    parent_id = config["parents"][0]
    parent = (parents or {}).get(parent_id)
    if parent is None:
        raise IncompatibleError(
            f"Family source {config.get('source_id')} needs its base entry {parent_id}; "
            "load it from the zoo first (pass parents={id: base_source})."
        )
    return parent_id, parent


def _serialize_text(
    source: FamilySource | FamilyBaseSource,
) -> tuple[dict[str, Any], dict[str, bytes]]:
    if isinstance(source, FamilyBaseSource):
        return text_store.base_files(source.base, source.source_id, source.fingerprint)  # type: ignore[arg-type]
    part, files = text_store.adapter_files(
        source.adapter_state,
        source.head_state,
        source.adapter_config,  # type: ignore[arg-type]
    )
    config = {
        "format": FORMAT,
        "architecture": text_store.LORA_ARCH,
        **part,
        "source_id": source.source_id,
        "source_classes": source.source_classes,
        "fingerprint": source.fingerprint,
        "parents": [source.base_id],
    }
    return config, files


def _load_lora(
    config: Mapping[str, Any], files: Mapping[str, Path | bytes], parents: Mapping[str, Any] | None
) -> FamilySource:
    parent_id, parent = _parent(config, parents)
    if not isinstance(parent.base, TextBase):
        raise IncompatibleError(f"LoRA source {config.get('source_id')} needs a text base.")
    classes = config.get("source_classes")
    if not isinstance(classes, list) or len(classes) < 2:
        raise ValidationError("A LoRA source entry needs 'source_classes' (2 or more).")
    spec, adapter, head = text_store.load_adapter(config, files, parent.base, len(classes))
    return FamilySource(
        parent.base, adapter, head, [str(c) for c in classes], spec,
        str(config.get("source_id", "family.lora")), base_id=parent_id,
    )  # fmt: skip


def whitebox_problem(sources: list[Any]) -> str | None:
    """Why white-box strategies cannot use ``sources`` (None when they can).

    >>> from recycle.sources import builtin
    >>> whitebox_problem([builtin("digitcnn.usps")])[:52]
    'White-box mixing needs family sources (base + adapte'
    """
    try:
        check_same_base(sources)
    except IncompatibleError as exc:
        return str(exc)
    return None
