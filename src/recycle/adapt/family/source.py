"""White-box family sources (base and per-task adapters) and their safetensors serialization.

A family is stored as one *base* entry (:class:`FamilyBaseSource`, architecture ``family.base``)
and one entry per source task (:class:`FamilySource`, architecture ``family.adapters``) holding
only the adapter + head weights and referencing the base through ``config["parents"]``.

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

from recycle.adapt.family.config import AdapterConfig, FamilyConfig
from recycle.adapt.family.model import FamilyBase, FamilyNet, base_fingerprint, to_tensor
from recycle.errors import IncompatibleError

BATCH = 512  # images per inference batch
WEIGHTS = "weights.safetensors"


def _batched(fn: Any, x: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return torch.cat([fn(x[i : i + BATCH]) for i in range(0, len(x), BATCH)] or [x[:0]])


class FamilyBaseSource:
    """The shared base as a white-box source (``embed`` = base features, no adapters)."""

    modality = "image"
    access = "white-box"

    def __init__(self, base: FamilyBase, name: str = "family.base") -> None:
        self.base = base.eval()
        self.source_id = name
        self.feature_dim = base.config.feature_dim
        self.fingerprint = base_fingerprint(base)

    def to_artifact(self) -> tuple[dict[str, Any], dict[str, bytes]]:
        """``(config, files)`` for the zoo (see :func:`serialize_family`)."""
        return serialize_family(self)

    def embed(self, X: Any) -> np.ndarray:
        """Base features ``(n, feature_dim)`` float32."""
        return _batched(self.base, to_tensor(X, self.base.config.image_size)).numpy()

    def torch_module(self) -> nn.Module:
        """The base network (eval, CPU)."""
        return self.base


class FamilySource:
    """A source of a family: frozen base + this task's adapters + head over its classes."""

    modality = "image"
    access = "white-box"

    def __init__(
        self,
        base: FamilyBase,
        adapter_state: Mapping[str, torch.Tensor],
        head_state: Mapping[str, torch.Tensor],
        classes: Sequence[str],
        adapter_config: AdapterConfig | None = None,
        name: str = "family.source",
        base_id: str | None = None,
    ) -> None:
        self.base = base
        self.adapter_state = dict(adapter_state)
        self.head_state = dict(head_state)
        self.source_classes = list(classes)
        self.adapter_config = adapter_config or AdapterConfig()
        self.source_id = name
        self.feature_dim = base.config.feature_dim
        self.fingerprint = base_fingerprint(base)
        self.base_id = base_id or self.fingerprint
        self._net: FamilyNet | None = None
        self._head: nn.Linear | None = None

    @classmethod
    def fresh(cls, base: FamilyBase, classes: Sequence[str], name: str = "fresh") -> FamilySource:
        """An untrained source (zero adapters, random head); for tests and examples."""
        net = FamilyNet(base)
        net.add_adapter_set("task")
        head = nn.Linear(base.config.feature_dim, len(classes))
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
        return _batched(net.features, to_tensor(X, self.base.config.image_size)).numpy()

    def predict_proba(self, X: Any) -> np.ndarray:
        """Probabilities over ``source_classes``."""
        net, head = self._modules()
        logits = _batched(lambda x: head(net.features(x)), to_tensor(X, net.base.config.image_size))
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


def check_same_base(sources: Sequence[object]) -> FamilyBase:
    """Return the shared base of ``sources``; IncompatibleError if not one family."""
    bad = [getattr(s, "source_id", repr(s)) for s in sources if not is_family_source(s)]
    if bad:
        raise IncompatibleError(
            f"White-box mixing needs family sources (base + adapters); {bad} are not. "
            "Use a black-box strategy (feature_mixing, mcw, ...) for them."
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
    """Inverse of :func:`serialize_family`; ``parents`` maps the base entry id to its source."""
    raw = files[WEIGHTS]
    tensors = st_load(raw if isinstance(raw, bytes) else Path(raw).read_bytes())
    if config["architecture"] == "family.base":
        base = FamilyBase(FamilyConfig.from_dict(config["kwargs"]))
        base.load_state_dict(tensors)
        base.eval().requires_grad_(False)
        return FamilyBaseSource(base, config.get("source_id", "family.base"))
    parent_id = config["parents"][0]
    parent = (parents or {}).get(parent_id)
    if parent is None:
        raise IncompatibleError(
            f"Family source {config.get('source_id')} needs its base entry {parent_id}; "
            "load it from the zoo first (pass parents={id: base_source})."
        )
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
