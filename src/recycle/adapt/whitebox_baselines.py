"""White-box baselines on a family's frozen base (METHODS.md section 1).

- :class:`IndependentAdapters`: new adapters + new head on the frozen base; no source knowledge
  (the sources only provide the shared base).
- :class:`FinetuneSource`: the top-1 source's adapters, fine-tuned, with a new head.

Both train like :class:`~recycle.adapt.module_mixing.ModuleMixing` (Adam, stratified validation
split, early stopping) so the comparison isolates what the sources contribute.

Examples
--------
>>> import numpy as np
>>> from recycle.adapt.family import FamilyBase, FamilyConfig, FamilySource
>>> src = FamilySource.fresh(FamilyBase(FamilyConfig(channels=(4, 8))), ["a", "b"], name="d.s")
>>> X = np.random.default_rng(0).integers(0, 255, (20, 28, 28), dtype=np.uint8)
>>> y = np.arange(20) % 2
>>> IndependentAdapters([src], epochs=1).fit(X, y).predict(X[:2]).shape
(2,)
"""

from __future__ import annotations

from typing import Any, ClassVar

from recycle.adapt.module_mixing import _AdapterStrategy


class _NoMixing(_AdapterStrategy):
    """Adapter strategies that train one adapter set (no frozen sources mixed in)."""

    _mix: ClassVar[bool] = False
    # The base comes from the sources' modules; their features are not needed.
    uses_sources: ClassVar[bool] = False

    def __init__(
        self,
        sources: list[Any] | None = None,
        seed: int = 0,
        epochs: int = 30,
        lr: float = 3e-3,
        batch_size: int = 32,
        patience: int = 8,
        val_fraction: float = 0.1,
        sigma: float = 0.0,
        head_init: str = "probe",
    ) -> None:
        self.sources = sources
        self.head_init = head_init
        self.seed = seed
        self.epochs = epochs
        self.lr = lr
        self.batch_size = batch_size
        self.patience = patience
        self.val_fraction = val_fraction
        self.sigma = sigma


class IndependentAdapters(_NoMixing):
    """New EFT/LoRA adapters + head on the frozen base of the given family sources."""

    name: ClassVar[str] = "independent_adapters"


class FinetuneSource(_NoMixing):
    """Fine-tune the top-1 (first) source's adapters with a new head; base frozen."""

    name: ClassVar[str] = "finetune_source"

    def _init_from(self) -> Any | None:
        if not self.sources:
            return None  # _build raises the ConfigError naming the fix
        return self.sources[0]
