"""The white-box strategies, by registry name (loaded by :mod:`recycle.adapt.strategies`).

Examples
--------
>>> sorted(WHITEBOX_STRATEGIES)
['finetune_source', 'independent', 'module_mixing']
"""

from __future__ import annotations

from recycle.adapt.module_mixing import ModuleMixing
from recycle.adapt.whitebox_baselines import FinetuneSource, IndependentAdapters

WHITEBOX_STRATEGIES: dict[str, type] = {
    "module_mixing": ModuleMixing,
    "independent": IndependentAdapters,
    "finetune_source": FinetuneSource,
}

__all__ = ["WHITEBOX_STRATEGIES", "FinetuneSource", "IndependentAdapters", "ModuleMixing"]
