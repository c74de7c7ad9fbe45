"""``spec_weighted``: reuse without labels, each row weighted towards the sources it resembles.

For users who know their label space but have no labels (learnware's identification and reuse:
its job selector sends each row to the model whose specification it resembles, its averaging
reuser averages). Each source ``k`` has an RKME spec (reduced points ``Z_k``, weights
``beta_k``, bandwidth ``gamma_k``) in its own input space. A row ``x``, put in source ``k``'s
input (through its column map when it is a
:class:`~recycle.tabular.mapped.MappedSource`), gets the spec's kernel density
``d_k(x) = sum_j beta_kj exp(-gamma_k ||x - z_kj||^2)`` over the columns the user's table
feeds (imputed ones left out), divided by the density the spec gives
its own points (so ``r_k(x)`` is ~1 for a row as typical as the provider's data, whatever the
space's dimension); the row's weights are ``r_k(x) / sum_k r_k(x)`` (equal when every ``r`` is
0). The prediction is the weighted mean of the sources' own probabilities, their classes put
in the user's class order. A scaled spec (:mod:`recycle.spec.scaled`, what the tabular zoo
builds) is used in its per-column quantile space: rows are mapped through its quantile map
before the densities, so a heavy-tailed column does not set the bandwidth. There is nothing to
fit: the estimator is built by :meth:`SpecWeighted.from_specs`; ``fit(X, y)`` refuses (with
labels, use ``Recycler.fit``).

Examples
--------
>>> import numpy as np
>>> class Const:
...     modality, access, feature_dim = "tabular", "black-box", 2
...     def __init__(self, sid, p):
...         self.source_id, self.p, self.source_classes = sid, p, ["b", "a"]
...     def embed(self, X):
...         return np.tile(self.p, (len(X), 1))
...     predict_proba = embed
>>> near0 = {"Z": np.zeros((1, 1)), "beta": np.ones(1), "gamma": 1.0}
>>> near5 = {"Z": np.full((1, 1), 5.0), "beta": np.ones(1), "gamma": 1.0}
>>> est = SpecWeighted.from_specs([Const("s0", [1.0, 0]), Const("s1", [0, 1.0])],
...                               [near0, near5], classes=["a", "b"])
>>> est.predict(np.array([[0.1], [4.9]])).tolist()  # each row follows the source it is near
['b', 'a']
"""

from __future__ import annotations

from typing import Any, ClassVar, cast

import numpy as np

from recycle.adapt.base import Strategy
from recycle.adapt.registry import register_strategy
from recycle.errors import ConfigError
from recycle.sources.base import SourceModel
from recycle.spec.scaled import scaled_part, to_quantiles

#: Rows per block when computing kernel densities (bounds memory: rows x reduced points).
BLOCK = 4096


def _density(X: np.ndarray, Z: np.ndarray, beta: np.ndarray, gamma: float) -> np.ndarray:
    out = np.empty(len(X))
    zz = np.sum(Z * Z, axis=1)
    for start in range(0, len(X), BLOCK):
        A = X[start : start + BLOCK]
        d2 = np.maximum(np.sum(A * A, axis=1)[:, None] + zz[None, :] - 2.0 * A @ Z.T, 0.0)
        out[start : start + BLOCK] = np.exp(-gamma * d2) @ beta
    return out


def source_input(source: Any, X: Any) -> np.ndarray:
    """Rows ``X`` as ``source`` takes them (mapped columns for a column-mapped source)."""
    cmap = getattr(source, "column_map", None)
    if cmap is not None:
        return np.asarray(cmap.apply(source.user_columns, X), dtype=np.float64)
    return np.asarray(X, dtype=np.float64).reshape(len(X), -1)


def observed(source: Any, width: int) -> np.ndarray:
    """Indices of the source's input columns fed by the user's table (imputed ones are left
    out of the densities: a column held at the provider's mean would make every row look
    typical)."""
    cmap = getattr(source, "column_map", None)
    if cmap is None:
        return np.arange(width)
    return np.array([j for j, c in enumerate(cmap.taken_from) if c is not None], dtype=np.int64)


def class_map(source_classes: list[str], classes: list[str]) -> np.ndarray:
    """For each of ``classes``, the index of the same class among ``source_classes``
    (compared without case and surrounding spaces); -1 where the source lacks it.

    >>> class_map(["no", "yes"], ["Yes", "No", "Maybe"]).tolist()
    [1, 0, -1]
    """
    norm = [c.strip().lower() for c in source_classes]
    return np.array([norm.index(c.strip().lower()) if c.strip().lower() in norm else -1
                     for c in classes])  # fmt: skip


@register_strategy
class SpecWeighted(Strategy):
    """Per-row spec-weighted average of the sources' own probabilities (no labels needed).

    Parameters
    ----------
    sources : list of SourceModel
        Sources with a head (``predict_proba`` over ``source_classes``).
    seed : int, default 0
        Unused (nothing is random); kept for the strategy contract.
    """

    name: ClassVar[str] = "spec_weighted"
    relative_cost: ClassVar[float] = 1.0

    def __init__(self, sources: list[SourceModel] | None = None, seed: int = 0) -> None:
        self.sources = sources
        self.seed = seed

    @classmethod
    def from_specs(cls, sources: list[Any], specs: list[Any], classes: list[str]) -> SpecWeighted:
        """The ready estimator for ``sources`` with their ``specs`` (Spec objects or dicts
        with ``Z``, ``beta``, ``gamma``) over the user's ``classes``."""
        est = cls(list(sources))
        est.classes_ = np.asarray(classes)
        arrays: dict[str, np.ndarray] = {}
        for k, (src, spec) in enumerate(zip(sources, specs, strict=True)):
            get: Any = spec.get if isinstance(spec, dict) else lambda a, s=spec: getattr(s, a)
            scaled = scaled_part(spec)  # a scaled spec: compare rows in its quantile space
            if scaled is not None:
                get = scaled.get
                arrays[f"s{k}.knots"] = scaled["knots"]
            Z = np.asarray(get("Z"), dtype=np.float64)
            Z = Z[:, observed(src, Z.shape[1])]
            beta = np.asarray(get("beta"), dtype=np.float64)
            beta = beta / beta.sum()
            gamma = float(get("gamma"))
            self_density = float(beta @ _density(Z, Z, beta, gamma))
            arrays[f"s{k}.Z"], arrays[f"s{k}.beta"] = Z, beta
            arrays[f"s{k}.scale"] = np.array([gamma, self_density])
            arrays[f"s{k}.classes"] = class_map(list(src.source_classes), list(classes))
        est.arrays_ = arrays
        est.trainable_params_ = 0
        return est

    def _fit(self, X: Any, y: np.ndarray, feats: list[np.ndarray]) -> None:
        raise ConfigError(
            "Strategy 'spec_weighted' reuses sources without labels (recycle reuse / "
            "recycle.tabular.reuse); with labels, fit another strategy or 'auto'."
        )

    def _check_X(self, X: Any, reset: bool) -> Any:
        return X  # the column maps of the sources read the user's table as it is

    def row_weights(self, X: Any) -> np.ndarray:
        """``(n, n_sources)`` per-row source weights (rows sum to 1)."""
        ratios = []
        for k, src in enumerate(self._sources()):
            gamma, self_density = self.arrays_[f"s{k}.scale"]
            Z = self.arrays_[f"s{k}.Z"]
            A = source_input(src, X)
            if f"s{k}.knots" in self.arrays_:
                A = to_quantiles(self.arrays_[f"s{k}.knots"], A)
            d = _density(A[:, observed(src, A.shape[1])], Z,
                         self.arrays_[f"s{k}.beta"], float(gamma))  # fmt: skip
            ratios.append(d / max(float(self_density), 1e-300))
        R = np.stack(ratios, axis=1)
        total = R.sum(axis=1, keepdims=True)
        uniform = np.full_like(R, 1.0 / R.shape[1])
        return np.where(total > 0, R / np.where(total > 0, total, 1.0), uniform)

    def _proba(self, X: Any, feats: list[np.ndarray]) -> np.ndarray:
        W = self.row_weights(X)
        out = np.zeros((len(W), len(self.classes_)))
        for k, src in enumerate(self._sources()):
            P = np.asarray(cast(Any, src).predict_proba(X), dtype=np.float64)  # black-box
            cmap = self.arrays_[f"s{k}.classes"].astype(np.int64)
            mine = np.where(cmap >= 0, P[:, np.maximum(cmap, 0)], 0.0)
            out += W[:, k : k + 1] * mine
        return out + 1e-12  # every class keeps a little mass (the base class normalises)

    def _load_state(self, config: dict[str, Any], tensors: dict[str, np.ndarray]) -> None:
        self.arrays_ = {k: np.asarray(v) for k, v in tensors.items()}
