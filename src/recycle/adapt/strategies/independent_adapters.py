"""``independent_adapters``: new adapters and a new head on a family's frozen base; no source
knowledge (the sources only provide the shared base). The white-box no-source reference of
auto's guard (the paper's "Independent").

Trains like :class:`~recycle.adapt.strategies.module_mixing.ModuleMixing` (the shared
:class:`~recycle.adapt.adapters.AdapterStrategy`) so the comparison isolates what the sources
contribute.

Examples
--------
>>> import numpy as np
>>> from recycle.adapt.family import FamilyBase, FamilyConfig, FamilySource
>>> src = FamilySource.fresh(FamilyBase(FamilyConfig(channels=(4, 8))), ["a", "b"], name="d.s")
>>> X = np.random.default_rng(0).integers(0, 255, (20, 28, 28), dtype=np.uint8)
>>> y = np.arange(20) % 2
>>> IndependentAdapters([src], max_epochs=1).fit(X, y).predict(X[:2]).shape
(2,)
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from recycle.adapt.adapters import AdapterStrategy
from recycle.adapt.registry import register_strategy


@register_strategy
class IndependentAdapters(AdapterStrategy):
    """New EFT/LoRA adapters + head on the frozen base of the given family sources.

    Parameters
    ----------
    sources : list of FamilySource
        Family sources; only their shared base is used.
    seed : int
    max_epochs, lr, batch_size, patience, val_fraction, head_init : as module mixing's.
    """

    name: ClassVar[str] = "independent_adapters"
    mixes_sources: ClassVar[bool] = False
    # The base comes from the sources' modules; their features are not needed.
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
