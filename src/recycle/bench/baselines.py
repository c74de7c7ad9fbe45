"""White-box baselines run outside the Recycler: independent adapters and finetune-source.

``IndependentAdapters`` and ``FinetuneSource`` declare ``uses_sources = False`` (they do not
read the sources' features), so ``Recycler`` hands them no source at all, and they then have no
family base to build on. Until the Recycler passes them the selected sources, the benchmark runs
them here: independent adapters get the pool's first source (only its base is used); finetune-
source gets the top-1 source of the same k-NN selection the Recycler uses.

Examples
--------
>>> est = SelectThenFit([], "finetune_source", m=1)
>>> est.m, est.strategy
(1, 'finetune_source')
"""

from __future__ import annotations

from typing import Any

import numpy as np

from recycle.errors import ConfigError


class SelectThenFit:
    """Select ``m`` sources from ``pool`` by ``score`` (or take the first ``m`` when
    ``select=False``), then fit the strategy ``strategy`` on them.

    Attributes
    ----------
    strategy_ : Strategy
    selected_ : list of str
        Source ids handed to the strategy.
    trainable_params_ : int
    """

    def __init__(
        self,
        pool: list[Any],
        strategy: str,
        m: int = 1,
        seed: int = 0,
        score: str = "knn",
        select: bool = True,
        params: dict[str, Any] | None = None,
    ) -> None:
        self.pool = pool
        self.strategy = strategy
        self.m = m
        self.seed = seed
        self.score = score
        self.select = select
        self.params = params

    def fit(self, X: Any, y: Any) -> SelectThenFit:
        from recycle.adapt.strategies import get_strategy
        from recycle.select import select_sources

        if not self.pool:
            raise ConfigError(f"{self.strategy} needs a pool of family sources; got none.")
        if self.select:
            sel = select_sources(self.pool, X, y, score=self.score, m=self.m, seed=self.seed)
            sources = sel.selected_sources
        else:
            sources = list(self.pool)[: self.m]
        # only a real selection is reported (independent adapters just borrow the base)
        self.selected_ = [s.source_id for s in sources] if self.select else []
        cls = get_strategy(self.strategy)
        self.strategy_ = cls(sources=sources, seed=self.seed, **(self.params or {})).fit(X, y)
        self.trainable_params_ = int(self.strategy_.trainable_params_)
        return self

    def predict(self, X: Any) -> np.ndarray:
        return np.asarray(self.strategy_.predict(X))


def independent_adapters(seed: int, pool: list[Any], **params: Any) -> SelectThenFit:
    """New adapters + head on the pool's shared base; no source knowledge."""
    return SelectThenFit(pool, "independent_adapters", 1, seed, select=False, params=params)


def finetune_source(seed: int, pool: list[Any], **params: Any) -> SelectThenFit:
    """Fine-tune the k-NN top-1 source's adapters with a new head."""
    return SelectThenFit(pool, "finetune_source", 1, seed, params=params)
