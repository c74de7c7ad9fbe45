"""Every adaptation strategy, one module each; importing this package registers them all.

Black-box (sources are only ``embed`` calls): ``feature_mixing``, ``mcw``, ``linear_probe``,
``stacking``, ``averaging``, ``feature_augment``, and the no-source ``independent``. White-box
(family sources sharing one frozen base): ``module_mixing``, ``independent_adapters``,
``finetune_source``, ``lorahub``. :data:`STRATEGIES` maps each name to its class; parameters
are checked by :mod:`recycle.adapt.registry`.

Examples
--------
>>> strategy_names()[:3]
['averaging', 'feature_augment', 'feature_mixing']
>>> get_strategy("mcw").__name__
'MCW'
"""

from recycle.adapt.base import Strategy
from recycle.adapt.registry import STRATEGIES, get_strategy, strategy_names
from recycle.adapt.strategies.averaging import Averaging
from recycle.adapt.strategies.feature_augment import FeatureAugment
from recycle.adapt.strategies.feature_mixing import FeatureMixing
from recycle.adapt.strategies.finetune_source import FinetuneSource
from recycle.adapt.strategies.independent import Independent
from recycle.adapt.strategies.independent_adapters import IndependentAdapters
from recycle.adapt.strategies.linear_probe import LinearProbe
from recycle.adapt.strategies.lorahub import LoraHub
from recycle.adapt.strategies.mcw import MCW
from recycle.adapt.strategies.module_mixing import ModuleMixing
from recycle.adapt.strategies.stacking import Stacking

__all__ = [
    "MCW",
    "STRATEGIES",
    "Averaging",
    "FeatureAugment",
    "FeatureMixing",
    "FinetuneSource",
    "Independent",
    "IndependentAdapters",
    "LinearProbe",
    "LoraHub",
    "ModuleMixing",
    "Stacking",
    "Strategy",
    "get_strategy",
    "strategy_names",
]
