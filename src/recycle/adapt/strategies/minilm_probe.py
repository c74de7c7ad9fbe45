"""``minilm_logreg``: logistic regression on frozen all-MiniLM-L6-v2 sentence embeddings.

A no-source text baseline: the encoder is the real all-MiniLM-L6-v2 (the builtin
``minilm_l6.torch``, installed offline), whatever the zoo holds, so this is what a user gets
from the standard sentence encoder and a linear head, with no source selection. It is one of
auto's no-source references on text. Embeddings are L2-normalised then standardised (as
``linear_probe``); the fitted state is the scaler and the logistic regression's arrays.

Examples
--------
>>> texts = ["a wonderful, moving film", "great acting and a fine story",
...          "dull and far too long", "a boring, clumsy mess"] * 3
>>> est = MiniLMLogReg().fit(texts, [1, 1, 0, 0] * 3)
>>> est.predict(["a fine, moving story", "clumsy and dull"]).tolist()
[1, 0]
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, ClassVar

import numpy as np

from recycle.adapt._linear import (
    fit_scaled_head,
    l2_normalize,
    n_linear_params,
    scaled_head_proba,
)
from recycle.adapt.base import Strategy, embed
from recycle.adapt.registry import register_strategy
from recycle.errors import DataError
from recycle.sources.base import SourceModel

#: The frozen encoder: the builtin all-MiniLM-L6-v2 (transformers weights, mean pooling).
ENCODER = "minilm_l6.torch"


#: Text -> embedding, while :func:`embeddings_reused` is active (None otherwise).
_MEMO: ContextVar[dict[str, np.ndarray] | None] = ContextVar("minilm_memo", default=None)


@contextmanager
def embeddings_reused() -> Iterator[None]:
    """Within this block, :func:`minilm_embed` embeds each distinct text once and reuses it:
    auto's cross-validation fits ``minilm_logreg`` on ~6 subsets of the same texts, which the
    feature cache (keyed by the whole input) saw as 6 new inputs and embedded again.

    >>> with embeddings_reused():
    ...     a = minilm_embed(["a fine film", "dull"])
    ...     b = minilm_embed(["dull"])
    >>> bool((a[1] == b[0]).all())
    True
    """
    token = _MEMO.set({})
    try:
        yield
    finally:
        _MEMO.reset(token)


def minilm_embed(X: list[str]) -> np.ndarray:
    """Mean-pooled all-MiniLM-L6-v2 embeddings of ``X``, ``(n, 384)`` float32 (feature cache
    used when one is active; each text once inside :func:`embeddings_reused`)."""
    from recycle.sources import builtin

    memo = _MEMO.get()
    if memo is None:
        return embed(builtin(ENCODER), X)
    missing = list(dict.fromkeys(t for t in X if t not in memo))
    if missing:
        memo.update(zip(missing, embed(builtin(ENCODER), missing), strict=True))
    return np.stack([memo[t] for t in X]) if X else np.zeros((0, 384), np.float32)


@register_strategy
class MiniLMLogReg(Strategy):
    """Logistic regression on frozen all-MiniLM-L6-v2 embeddings of the target texts.

    Parameters
    ----------
    sources : list of SourceModel, optional
        Ignored (the encoder is the builtin all-MiniLM-L6-v2, not a zoo source).
    seed : int, default 0
    C : float, default 1.0
        Inverse L2 strength of the logistic regression (on standardised features).
    """

    name: ClassVar[str] = "minilm_logreg"
    uses_sources: ClassVar[bool] = False
    #: Embedding the texts with the 22M-parameter encoder costs more than the regression.
    relative_cost: ClassVar[float] = 5.0

    def __init__(
        self, sources: list[SourceModel] | None = None, seed: int = 0, C: float = 1.0
    ) -> None:
        self.sources = sources
        self.seed = seed
        self.C = C

    def _design(self, X: Any) -> np.ndarray:
        if not isinstance(X, list):
            raise DataError("minilm_logreg takes texts (a 'text' column); got numeric data.")
        return l2_normalize(minilm_embed(X).astype(np.float64))

    def _fit(self, X: Any, y: np.ndarray, feats: list[np.ndarray]) -> None:
        D = self._design(X)
        self.arrays_ = fit_scaled_head(D, y, len(self.classes_), self.C, self.seed)
        self.trainable_params_ = n_linear_params(self.arrays_)

    def _proba(self, X: Any, feats: list[np.ndarray]) -> np.ndarray:
        return scaled_head_proba(self.arrays_, self._design(X))
