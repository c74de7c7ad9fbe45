"""White-box families: one frozen base network plus per-task EFT / LoRA / IA3 adapters.

Examples
--------
>>> base = FamilyBase(FamilyConfig(channels=(4, 8)))
>>> FamilyNet(base).sites
['conv0', 'conv1', 'fc']
"""

from recycle.adapt.family.config import AdapterConfig, FamilyConfig
from recycle.adapt.family.ia3_config import IA3Spec
from recycle.adapt.family.layers import AdaptedLayer, EFTAdapter, IA3Adapter, LoRAAdapter
from recycle.adapt.family.lora_config import LoraSpec
from recycle.adapt.family.model import FamilyBase, FamilyNet, base_fingerprint, to_tensor
from recycle.adapt.family.source import (
    FamilyBaseSource,
    FamilySource,
    check_same_base,
    deserialize_family,
    is_family_source,
    serialize_family,
)
from recycle.adapt.family.train import pretrain_base, train_source
from recycle.adapt.training import fit_loop

__all__ = [
    "AdaptedLayer",
    "AdapterConfig",
    "EFTAdapter",
    "FamilyBase",
    "FamilyBaseSource",
    "FamilyConfig",
    "FamilyNet",
    "FamilySource",
    "IA3Adapter",
    "IA3Spec",
    "LoRAAdapter",
    "LoraSpec",
    "base_fingerprint",
    "check_same_base",
    "deserialize_family",
    "fit_loop",
    "is_family_source",
    "pretrain_base",
    "serialize_family",
    "to_tensor",
    "train_source",
]
