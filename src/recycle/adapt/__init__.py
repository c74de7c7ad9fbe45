"""Adaptation: build a target model out of selected sources.

:class:`Recycler` selects sources from a zoo and fits a strategy; :data:`STRATEGIES` maps
strategy names (``feature_mixing``, ``mcw``, ``linear_probe``, ``stacking``, ``averaging``,
``feature_augment``, ``independent`` and the white-box ``module_mixing``,
``independent_adapters``, ``finetune_source``) to their classes.

The package reads one way: :mod:`~recycle.adapt.base` (the Strategy contract) <-
:mod:`~recycle.adapt.registry` (decorator registry, typed parameters) <- one module per strategy
in :mod:`~recycle.adapt.strategies` (on the shared :mod:`~recycle.adapt.split`,
:mod:`~recycle.adapt.training`, :mod:`~recycle.adapt.smallnet`, :mod:`~recycle.adapt._linear`
and :mod:`~recycle.adapt.adapters`) <- :mod:`~recycle.adapt.auto` (plan, cv, guard) <-
:mod:`~recycle.adapt.recycler`.

Examples
--------
>>> "mcw" in STRATEGIES
True
"""

from recycle.adapt.recycler import Recycler
from recycle.adapt.strategies import STRATEGIES, Strategy, get_strategy, strategy_names

__all__ = ["STRATEGIES", "Recycler", "Strategy", "get_strategy", "strategy_names"]
