"""The IA3 adapters of a text family: peft IA3 configs, checked like the LoRA ones.

IA3 (Liu et al., 2022, "Few-Shot Parameter-Efficient Fine-Tuning is Better and Cheaper than
In-Context Learning") learns one vector per adapted projection that rescales its output:
``query(x) * l_q``, ``value(x) * l_v`` on MiniLM's attention, 384 weights each (4,608 per task,
8x fewer than rank-4 LoRA). Stored as peft stores it: ``adapter_config.json`` keys and tensors
``base_model.model.<module>.ia3_l`` of shape ``[384, 1]``. :meth:`IA3Spec.from_peft` runs the
same checker as :class:`~recycle.adapt.family.lora_config.LoraSpec`
(:func:`~recycle.adapt.family.lora_config.check_peft`) with IA3's allow-list. A family holds one
kind: white-box strategies refuse sources that mix LoRA and IA3 adapters
(:func:`~recycle.adapt.family.source.check_same_base`).

Examples
--------
>>> spec = IA3Spec()
>>> IA3Spec.from_peft(spec.to_peft()) == spec
True
>>> IA3Spec.from_peft({**spec.to_peft(), "feedforward_modules": ["value"]})
Traceback (most recent call last):
...
recycle.errors.ValidationError: The peft adapter config has feedforward_modules=['value']; ...
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from torch import nn

from recycle.adapt.family.layers import IA3Adapter
from recycle.adapt.family.lora_config import TARGET_MODULES, check_peft
from recycle.errors import ConfigError

#: Keys of peft's IA3Config whose only values recycle reproduces exactly (the projections are
#: attention outputs, not feed-forward inputs: no feedforward_modules).
ALLOWED_VALUES: dict[str, tuple[Any, ...]] = {
    "peft_type": ("IA3",),
    "task_type": ("FEATURE_EXTRACTION", None),
    "feedforward_modules": ([], None),
    "fan_in_fan_out": (False,),
    "modules_to_save": (None,),
    "init_ia3_weights": (True,),
}
#: Keys of peft's IA3Config that may take any value of these types.
ALLOWED_TYPES: dict[str, tuple[type, ...]] = {
    "target_modules": (list,),
    "inference_mode": (bool,),
    "base_model_name_or_path": (str, type(None)),
}


@dataclass(frozen=True)
class IA3Spec:
    """IA3 adapters (a learned output scale) on MiniLM's attention query and value."""

    def make(self, layer: nn.Module) -> nn.Module:
        """A fresh IA3 adapter for a linear ``layer`` (scale one: adds nothing yet)."""
        if not isinstance(layer, nn.Linear):
            raise ConfigError(f"IA3 adapts linear layers; got {type(layer).__name__}.")
        return IA3Adapter(layer.out_features)

    def tensor_shapes(self, dim: int) -> dict[str, tuple[int, ...]]:
        """The tensors of one adapted ``dim x dim`` projection, by peft's suffix."""
        return {"ia3_l": (dim, 1)}

    def to_dict(self) -> dict[str, Any]:
        """The peft form (:meth:`to_peft`); kept for the family's config interface."""
        return self.to_peft()

    def to_peft(self) -> dict[str, Any]:
        """The ``adapter_config.json`` peft writes for this adapter (``IA3Config(**d)`` works)."""
        return {
            "peft_type": "IA3",
            "task_type": "FEATURE_EXTRACTION",
            "target_modules": list(TARGET_MODULES),
            "feedforward_modules": [],
            "fan_in_fan_out": False,
            "modules_to_save": None,
            "init_ia3_weights": True,
            "inference_mode": True,
            "base_model_name_or_path": None,
        }

    @classmethod
    def from_peft(cls, config: Any) -> IA3Spec:
        """Check a stored peft IA3 config (:func:`check_peft`); ValidationError if it fails."""
        check_peft(config, ALLOWED_VALUES, ALLOWED_TYPES, "IA3Spec")
        return cls()
