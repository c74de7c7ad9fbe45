"""Every adaptation strategy, one module each; importing this package registers them all.

Black-box (sources are only ``embed`` calls): ``feature_mixing``, ``mcw``, ``linear_probe``,
``stacking``, ``averaging``, ``feature_augment``, and ``spec_weighted`` (reuse without labels,
built by :mod:`recycle.tabular.reuse`). No source (target data only): ``independent`` (a small
network), ``no_source`` (gradient boosting and logistic regression, blended), and on text
``tfidf_logreg``, ``minilm_logreg`` (frozen all-MiniLM-L6-v2) and ``setfit``; on images and
texts ``finetune`` (EfficientNet-Lite0 or all-MiniLM-L6-v2, gradual unfreezing). White-box
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
from recycle.adapt.strategies.finetune import Finetune
from recycle.adapt.strategies.finetune_source import FinetuneSource
from recycle.adapt.strategies.independent import Independent
from recycle.adapt.strategies.independent_adapters import IndependentAdapters
from recycle.adapt.strategies.linear_probe import LinearProbe
from recycle.adapt.strategies.lorahub import LoraHub
from recycle.adapt.strategies.mcw import MCW
from recycle.adapt.strategies.minilm_probe import MiniLMLogReg
from recycle.adapt.strategies.module_mixing import ModuleMixing
from recycle.adapt.strategies.no_source import NoSource
from recycle.adapt.strategies.setfit_strategy import SetFit
from recycle.adapt.strategies.spec_weighted import SpecWeighted
from recycle.adapt.strategies.stacking import Stacking
from recycle.adapt.strategies.tfidf import TfidfLogReg

__all__ = [
    "MCW",
    "STRATEGIES",
    "Averaging",
    "FeatureAugment",
    "FeatureMixing",
    "Finetune",
    "FinetuneSource",
    "Independent",
    "IndependentAdapters",
    "LinearProbe",
    "LoraHub",
    "MiniLMLogReg",
    "ModuleMixing",
    "NoSource",
    "SetFit",
    "SpecWeighted",
    "Stacking",
    "Strategy",
    "TfidfLogReg",
    "get_strategy",
    "strategy_names",
]
