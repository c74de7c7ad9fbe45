"""Adaptation: build a target model out of selected sources.

:class:`Recycler` selects sources from a zoo and fits a strategy; :data:`STRATEGIES` maps
strategy names (``feature_mixing``, ``mcw``, ``linear_probe``, ``stacking``, ``averaging``,
``feature_augment``, ``independent`` and, when installed, the white-box ``module_mixing``,
``independent_adapters``, ``finetune_source``) to their classes.

Examples
--------
>>> "mcw" in STRATEGIES
True
"""

from recycle.adapt.recycler import Recycler
from recycle.adapt.strategies import STRATEGIES, Strategy, get_strategy, strategy_names

__all__ = ["STRATEGIES", "Recycler", "Strategy", "get_strategy", "strategy_names"]
