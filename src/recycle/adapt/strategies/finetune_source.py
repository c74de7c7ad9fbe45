"""``finetune_source``: the top-1 source's adapters, fine-tuned, with a new head; base frozen.

Trains like :class:`~recycle.adapt.strategies.module_mixing.ModuleMixing` (the shared
:class:`~recycle.adapt.adapters.AdapterStrategy`).

Examples
--------
>>> import numpy as np
>>> from recycle.adapt.family import FamilyBase, FamilyConfig, FamilySource
>>> src = FamilySource.fresh(FamilyBase(FamilyConfig(channels=(4, 8))), ["a", "b"], name="d.s")
>>> X = np.random.default_rng(0).integers(0, 255, (20, 28, 28), dtype=np.uint8)
>>> y = np.arange(20) % 2
>>> FinetuneSource([src], max_epochs=1).fit(X, y).predict(X[:2]).shape
(2,)
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from recycle.adapt.adapters import AdapterStrategy
from recycle.adapt.registry import register_strategy


@register_strategy
class FinetuneSource(AdapterStrategy):
    """Fine-tune the top-1 (first) source's adapters with a new head; base frozen.

    Parameters
    ----------
    sources : list of FamilySource
        Selected sources, best first; the first one's adapters are fine-tuned.
    seed : int
    max_epochs, lr, batch_size, patience, val_fraction, head_init : as module mixing's.
    """

    name: ClassVar[str] = "finetune_source"
    mixes_sources: ClassVar[bool] = False
    # The base and the adapters come from the sources' modules; their features are not needed.
    uses_sources: ClassVar[bool] = False
    #: Earlier versions also took module mixing's ``sigma``, which had no effect without sources.
    legacy_params: ClassVar[dict[str, str | None]] = {"epochs": "max_epochs", "sigma": None}

    def __init__(
        self,
        sources: list[Any] | None = None,
        seed: int = 0,
        max_epochs: int = 30,
        lr: float = 3e-3,
        batch_size: int = 32,
        patience: int = 8,
        val_fraction: float = 0.1,
        head_init: Literal["probe", "random"] = "probe",
    ) -> None:
        self.sources = sources
        self.head_init = head_init
        self.seed = seed
        self.max_epochs = max_epochs
        self.lr = lr
        self.batch_size = batch_size
        self.patience = patience
        self.val_fraction = val_fraction

    def _start_from(self) -> Any | None:
        if not self.sources:
            return None  # _build raises the ConfigError naming the fix
        return self.sources[0]
