"""SYNTHETIC large zoo for scale benchmarks - not real pre-trained models.

Measuring how search, selection scoring and spec building grow with the zoo size needs
thousands of sources; the real offline assets (ASSETS.md) give about ten. This module makes a
clearly *synthetic* zoo over real MNIST pixels: source ``i`` is

- a seeded random projection of the pixels (784 -> ``proj_dim``) followed by a tiny MLP with
  random weights (``proj_dim`` -> ``hidden`` -> ``hidden``, ReLU); its ``embed`` returns the
  last layer. Nothing is trained: these are stand-ins with the right shapes and costs, and
  their scores say nothing about real transfer;
- "trained" on a private subset of MNIST: ``rows`` training images of 2-4 digits drawn from
  its seed. Its spec summarises those rows in a shared space (a fixed random projection of the
  pixels, :data:`SHARED_SPACE`), as a shared encoder would in the real system.

Sources hold only their seed; weights are regenerated on demand, so a 10,000-source zoo costs
kilobytes. Everything is deterministic in ``(seed, index)``.

Examples
--------
>>> import numpy as np
>>> zoo = SyntheticZoo(3, seed=0)
>>> images = np.zeros((5, 28, 28), dtype=np.uint8)
>>> zoo.source(1).embed(images).shape
(5, 16)
>>> zoo.source(1).source_id
'synthetic.proj-mlp-0-1'
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np

#: Pixels per MNIST image.
PIXELS = 28 * 28
#: Width of the shared projection the specs live in.
SHARED_DIM = 32
#: Space id of the specs (a fixed random projection of the pixels, not a real encoder).
SHARED_SPACE = f"synthetic-proj:{SHARED_DIM}"
#: Seed of the shared projection (fixed so every zoo and query agree on the space).
SHARED_SEED = 20_251_121


def _as_pixels(X: Any) -> np.ndarray:
    """uint8 images (N x 28 x 28) or floats -> float32 rows in [0, 1]."""
    A = np.asarray(X)
    A = A.reshape(len(A), -1).astype(np.float32)
    return A / 255.0 if np.asarray(X).dtype == np.uint8 else A


def shared_projection() -> np.ndarray:
    """The fixed ``784 x SHARED_DIM`` projection defining :data:`SHARED_SPACE`."""
    rng = np.random.default_rng(SHARED_SEED)
    return (rng.standard_normal((PIXELS, SHARED_DIM)) / np.sqrt(PIXELS)).astype(np.float32)


def to_shared_space(X: Any, projection: np.ndarray | None = None) -> np.ndarray:
    """Map images into :data:`SHARED_SPACE` (where the synthetic specs live).

    Examples
    --------
    >>> to_shared_space(np.zeros((2, 28, 28), dtype=np.uint8)).shape
    (2, 32)
    """
    P = shared_projection() if projection is None else projection
    return _as_pixels(X) @ P


@dataclass
class SyntheticSource:
    """SYNTHETIC source: random projection + random tiny MLP (satisfies ``SourceModel``)."""

    index: int  # position in its zoo
    seed: int  # zoo seed; parameters derive from (seed, index)
    proj_dim: int = 32  # width of the random projection of the pixels
    hidden: int = 16  # width of the MLP layers (= feature_dim)
    modality: str = "image"
    access: str = "black-box"
    classes: list[int] = field(default_factory=list)  # digits of its private data

    @property
    def source_id(self) -> str:
        return f"synthetic.proj-mlp-{self.seed}-{self.index}"

    @property
    def feature_dim(self) -> int:
        return self.hidden

    @cached_property
    def _weights(self) -> tuple[np.ndarray, ...]:
        rng = np.random.default_rng([self.seed, self.index, 1])
        P = rng.standard_normal((PIXELS, self.proj_dim)) / np.sqrt(PIXELS)
        W1 = rng.standard_normal((self.proj_dim, self.hidden)) * np.sqrt(2.0 / self.proj_dim)
        W2 = rng.standard_normal((self.hidden, self.hidden)) * np.sqrt(2.0 / self.hidden)
        b1 = rng.normal(scale=0.1, size=self.hidden)
        return tuple(a.astype(np.float32) for a in (P, W1, b1, W2))

    def embed(self, X: Any) -> np.ndarray:
        """``(n, hidden)`` float32 features of MNIST-like images."""
        P, W1, b1, W2 = self._weights
        h = np.maximum(_as_pixels(X) @ P @ W1 + b1, 0.0)
        return np.maximum(h @ W2, 0.0).astype(np.float32)


class SyntheticZoo:
    """A SYNTHETIC zoo of ``n`` :class:`SyntheticSource` over MNIST (see the module docstring).

    Parameters
    ----------
    n : int
        Number of sources.
    seed : int, default 0
        Zoo seed.
    rows : int, default 200
        Private training rows per source.
    proj_dim, hidden : int
        Source widths.
    """

    def __init__(
        self, n: int, seed: int = 0, rows: int = 200, proj_dim: int = 32, hidden: int = 16
    ) -> None:
        self.n, self.seed, self.rows = int(n), int(seed), int(rows)
        self.proj_dim, self.hidden = int(proj_dim), int(hidden)

    def __len__(self) -> int:
        return self.n

    def classes_of(self, index: int) -> list[int]:
        """The 2-4 digits source ``index`` was "trained" on."""
        rng = np.random.default_rng([self.seed, index, 0])
        k = int(rng.integers(2, 5))
        return sorted(int(c) for c in rng.choice(10, size=k, replace=False))

    def source(self, index: int) -> SyntheticSource:
        """Source ``index`` (weights are generated on first use)."""
        if not 0 <= index < self.n:
            raise IndexError(f"source index {index} out of range for a zoo of {self.n}")
        return SyntheticSource(
            index, self.seed, self.proj_dim, self.hidden, classes=self.classes_of(index)
        )

    def private_rows(self, index: int, images: np.ndarray, labels: np.ndarray) -> np.ndarray:
        """Indices into ``images`` of source ``index``'s private training rows."""
        rng = np.random.default_rng([self.seed, index, 2])
        pool = np.flatnonzero(np.isin(labels, self.classes_of(index)))
        return np.sort(rng.choice(pool, size=min(self.rows, pool.size), replace=False))


def build_source_spec(
    index: int, shared: tuple[SyntheticZoo, np.ndarray, np.ndarray, np.ndarray], m: int = 10
) -> Any:
    """Provider side for one synthetic source: its private rows -> spec in SHARED_SPACE.

    ``shared`` is ``(zoo, images, labels, projection)`` so it can be handed to
    ``recycle.parallel.map_sources(..., shared=...)`` once for all sources.
    """
    from recycle.spec import build_spec

    zoo, images, labels, projection = shared
    rows = zoo.private_rows(index, images, labels)
    return build_spec(to_shared_space(images[rows], projection), m=m, space=SHARED_SPACE, seed=0)


def tile_specs(specs: list[Any], n: int, seed: int = 0, jitter: float = 0.01) -> list[Any]:
    """SYNTHETIC: ``n`` specs made by repeating ``specs`` with small noise on their points.

    Used only to time search over more specs than are affordable to build; the copies have the
    shapes (and so the cost) of real specs.
    """
    import dataclasses

    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        base = specs[i % len(specs)]
        if i < len(specs):
            out.append(base)
            continue
        Z = base.Z + rng.normal(scale=jitter, size=base.Z.shape).astype(np.float32)
        out.append(dataclasses.replace(base, Z=Z))
    return out


def score_source(index: int, shared: tuple[list[np.ndarray], np.ndarray]) -> dict[str, float]:
    """Selection scores (k-NN and LogME) of source ``index`` from cached target features.

    ``shared`` is ``(features, y)`` with ``features[index]`` the source's target features.
    """
    from recycle.select.scores import knn_score, logme_score

    features, y = shared
    return {"knn": knn_score(features[index], y), "logme": logme_score(features[index], y)}
