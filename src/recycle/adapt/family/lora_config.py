"""The LoRA adapters of a text family, stored as peft adapters and checked against an allow-list.

A source of a text family is a peft LoRA adapter (``adapter_config.json`` keys, tensors named
``base_model.model.<module>.lora_A.weight`` / ``lora_B.weight`` as peft saves them) plus a
classification head. :class:`LoraSpec` is the part of peft's ``LoraConfig`` that recycle
supports; :meth:`LoraSpec.from_peft` reads a stored config and refuses any key outside
:data:`ALLOWED_KEYS` and any value recycle cannot reproduce exactly (DoRA, rsLoRA, biases,
dropout at inference, other target modules), with one line naming the key and the fix. Nothing
is unpickled: configs are JSON, weights safetensors.

Examples
--------
>>> spec = LoraSpec(r=4, lora_alpha=8.0)
>>> LoraSpec.from_peft(spec.to_peft()) == spec
True
>>> LoraSpec.from_peft({**spec.to_peft(), "exec": "rm -rf /"})
Traceback (most recent call last):
...
recycle.errors.ValidationError: The peft adapter config has unknown key(s) ['exec']; ...
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from torch import nn

from recycle.adapt.family.layers import LoRAAdapter
from recycle.errors import ConfigError, ValidationError

#: Modules of MiniLM (BERT) a text family adapts: the attention query and value projections.
TARGET_MODULES = ("query", "value")
MAX_RANK = 256  # a LoRA rank above this is no longer a small adapter

#: Keys of peft's LoraConfig whose only values recycle reproduces exactly.
ALLOWED_VALUES: dict[str, tuple[Any, ...]] = {
    "peft_type": ("LORA",),
    "task_type": ("FEATURE_EXTRACTION", None),
    "bias": ("none",),
    "fan_in_fan_out": (False,),
    "use_rslora": (False,),
    "use_dora": (False,),
    "modules_to_save": (None,),
    "init_lora_weights": (True,),
}
#: Keys of peft's LoraConfig that may take any value of these types.
ALLOWED_TYPES: dict[str, tuple[type, ...]] = {
    "r": (int,),
    "lora_alpha": (int, float),
    "lora_dropout": (int, float),  # a training setting: no dropout at inference, as in peft
    "target_modules": (list,),
    "inference_mode": (bool,),
    "base_model_name_or_path": (str, type(None)),
}
#: Every key a stored adapter config may carry.
ALLOWED_KEYS = sorted({*ALLOWED_VALUES, *ALLOWED_TYPES})


@dataclass(frozen=True)
class LoraSpec:
    """LoRA adapters ``(lora_alpha / r) B A`` on MiniLM's attention query and value.

    Parameters
    ----------
    r : int
        Rank of each update.
    lora_alpha : float
        Scale numerator (the update is scaled by ``lora_alpha / r``).
    lora_dropout : float
        Dropout on the adapter input while training a source (none at inference).
    """

    r: int = 4  # small: 6 blocks x 2 projections x 2 x 384 x 4 = 36,864 weights per task
    lora_alpha: float = 8.0  # scale 2, a common choice for r = 4
    lora_dropout: float = 0.0

    def __post_init__(self) -> None:
        if isinstance(self.r, bool) or not isinstance(self.r, int) or not 1 <= self.r <= MAX_RANK:
            raise ConfigError(f"LoRA rank r must be an int in [1, {MAX_RANK}]. Got {self.r!r}.")
        if not float(self.lora_alpha) > 0:
            raise ConfigError(f"lora_alpha must be > 0. Got {self.lora_alpha!r}.")
        if not 0.0 <= float(self.lora_dropout) < 1.0:
            raise ConfigError(f"lora_dropout must be in [0, 1). Got {self.lora_dropout!r}.")

    def make(self, layer: nn.Module) -> nn.Module:
        """A fresh LoRA adapter for a linear ``layer`` (``B`` zero: adds nothing yet)."""
        if not isinstance(layer, nn.Linear):
            raise ConfigError(f"LoRA adapts linear layers; got {type(layer).__name__}.")
        return LoRAAdapter(layer.in_features, layer.out_features, self.r, float(self.lora_alpha))

    def to_dict(self) -> dict[str, Any]:
        """The peft form (:meth:`to_peft`); kept for the family's config interface."""
        return self.to_peft()

    def to_peft(self) -> dict[str, Any]:
        """The ``adapter_config.json`` peft writes for this adapter (``LoraConfig(**d)`` works)."""
        return {
            "peft_type": "LORA",
            "task_type": "FEATURE_EXTRACTION",
            "r": self.r,
            "lora_alpha": float(self.lora_alpha),
            "lora_dropout": float(self.lora_dropout),
            "target_modules": list(TARGET_MODULES),
            "bias": "none",
            "fan_in_fan_out": False,
            "use_rslora": False,
            "use_dora": False,
            "modules_to_save": None,
            "init_lora_weights": True,
            "inference_mode": True,
            "base_model_name_or_path": None,
        }

    def tensor_shapes(self, dim: int) -> dict[str, tuple[int, ...]]:
        """The tensors of one adapted ``dim x dim`` projection, by peft's suffix."""
        return {"lora_A.weight": (self.r, dim), "lora_B.weight": (dim, self.r)}

    @classmethod
    def from_peft(cls, config: Any) -> LoraSpec:
        """Check a stored peft config against :data:`ALLOWED_KEYS`; ValidationError if it fails."""
        check_peft(config, ALLOWED_VALUES, ALLOWED_TYPES, "LoraSpec")
        if "r" not in config or "lora_alpha" not in config:
            raise ValidationError("The peft adapter config needs 'r' and 'lora_alpha'.")
        try:
            return cls(
                int(config["r"]),
                float(config["lora_alpha"]),
                float(config.get("lora_dropout", 0.0)),
            )
        except ConfigError as exc:
            raise ValidationError(f"The peft adapter config is invalid: {exc}") from None


def check_peft(
    config: Any,
    values: dict[str, tuple[Any, ...]],
    types: dict[str, tuple[type, ...]],
    spec: str,
) -> None:
    """The checker of every stored peft config of a text family (LoRA, IA3): a JSON object
    whose keys are all in ``values`` (keys with fixed values) or ``types`` (keys of any value of
    these types) and whose ``target_modules`` are exactly :data:`TARGET_MODULES`; else a
    ValidationError naming the key and the fix (``spec``: the class whose ``to_peft`` writes a
    valid config).

    >>> check_peft({"peft_type": "IA3"}, ALLOWED_VALUES, ALLOWED_TYPES, "LoraSpec")
    Traceback (most recent call last):
    ...
    recycle.errors.ValidationError: The peft adapter config has peft_type='IA3'; ...
    """
    if not isinstance(config, dict):
        raise ValidationError(
            f"The peft adapter config must be a JSON object; got {type(config).__name__}."
        )
    allowed = sorted({*values, *types})
    unknown = sorted(set(config) - set(allowed))
    if unknown:
        raise ValidationError(
            f"The peft adapter config has unknown key(s) {unknown}; allowed: "
            f"{allowed}. Save the adapter with {spec}.to_peft()."
        )
    for key, value in config.items():
        if not _allowed(key, value, values, types):
            accepted = values.get(key) or [t.__name__ for t in types[key]]
            raise ValidationError(
                f"The peft adapter config has {key}={value!r}; recycle accepts {accepted}. "
                "Re-save the adapter with those settings."
            )
    targets = sorted(config.get("target_modules") or [])
    if targets != sorted(TARGET_MODULES):
        raise ValidationError(
            f"The peft adapter targets {targets}; a text family adapts exactly "
            f"{list(TARGET_MODULES)}; train it with target_modules={list(TARGET_MODULES)}."
        )


def _allowed(
    key: str, value: Any, values: dict[str, tuple[Any, ...]], types: dict[str, tuple[type, ...]]
) -> bool:
    """Whether ``value`` is one recycle accepts for ``key`` (bools are not ints here)."""
    if key in values:
        return any(type(value) is type(v) and value == v for v in values[key])
    kinds = types[key]
    return isinstance(value, kinds) and (bool in kinds or not isinstance(value, bool))
