"""Random Fourier features: a fixed-length vector per spec whose distances approximate MMD.

For the Gaussian kernel ``k(x, y) = exp(-gamma ||x - y||^2)``, Bochner's theorem gives
``k(x, y) = E[phi(x) . phi(y)]`` with ``phi(x) = sqrt(2 / D) cos(x W + b)``, ``W`` drawn from
``N(0, 2 gamma)`` and ``b`` from ``U(0, 2 pi)`` (Rahimi & Recht, 2007). A spec's kernel mean
embedding ``sum_j beta_j k(z_j, .)`` becomes the vector ``v = sum_j beta_j phi(z_j)`` and
``||v_query - v_spec||^2`` estimates the squared MMD with an error that shrinks as ``1/sqrt(D)``.
The vectors go into a real vector index (faiss) for the first pass of a search over a very large
zoo; the best candidates are then re-scored exactly (:mod:`recycle.spec.index`).

The draw of ``W`` and ``b`` is seeded per space (:func:`space_seed`), so every process that
embeds specs of one space with one ``gamma`` gets the same features.

Examples
--------
>>> import numpy as np
>>> from recycle.spec import build_spec, rank
>>> rng = np.random.default_rng(0)
>>> a, b = (build_spec(rng.normal(loc=mu, size=(300, 3)), m=10) for mu in (0.0, 2.0))
>>> basis = RffBasis.draw("input:3", dim=3, gamma=0.2, features=4096)
>>> va, vb = basis.embed(a.Z, a.beta), basis.embed(b.Z, b.beta)
>>> exact = float(rank(a, [b], gamma=0.2).mmd2[0])
>>> bool(abs(float(((va - vb) ** 2).sum()) - exact) < 0.1 * exact)
True
"""

from __future__ import annotations

import functools
import hashlib
from dataclasses import dataclass

import numpy as np

#: Features per spec: the first pass's MMD^2 error shrinks as 1/sqrt(FEATURES); 1,024 float32
#: numbers (4 KiB) per spec keeps 1,000,000 specs in 4 GiB.
FEATURES = 1024
#: Rows embedded at once (bounds the cos(x W + b) block to ~64 MB).
CHUNK_ROWS = 16384


def space_seed(space: str) -> int:
    """The seed of a space's random features: the first 8 bytes of sha256(space).

    Examples
    --------
    >>> space_seed("input:784") == space_seed("input:784") != space_seed("input:785")
    True
    """
    return int.from_bytes(hashlib.sha256(space.encode()).digest()[:8], "little")


@functools.lru_cache(maxsize=8)  # a pure function of its arguments; 3 MB each at 784-d
def _draw(space: str, dim: int, gamma: float, features: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(space_seed(space))
    W = (rng.standard_normal((dim, features)) * np.sqrt(2.0 * gamma)).astype(np.float32)
    b = rng.uniform(0.0, 2.0 * np.pi, size=features).astype(np.float32)
    W.flags.writeable = b.flags.writeable = False  # shared by every caller
    return W, b


@dataclass(frozen=True)
class RffBasis:
    """The random frequencies ``W`` (d x D) and phases ``b`` (D) of one space and bandwidth."""

    #: frequencies, float32, columns drawn from N(0, 2 gamma I)
    W: np.ndarray
    #: phases, float32, drawn from U(0, 2 pi)
    b: np.ndarray

    @classmethod
    def draw(cls, space: str, dim: int, gamma: float, features: int = FEATURES) -> RffBasis:
        """The basis of ``space`` (``dim`` columns) for bandwidth ``gamma``, seeded by the space.

        Examples
        --------
        >>> RffBasis.draw("input:2", 2, 1.0, features=8).W.shape
        (2, 8)
        """
        W, b = _draw(space, dim, float(gamma), features)
        return cls(W, b)

    @property
    def features(self) -> int:
        """Length of the vectors (D)."""
        return int(self.W.shape[1])

    def embed(self, Z: np.ndarray, beta: np.ndarray) -> np.ndarray:
        """``sum_j beta_j phi(z_j)``: the kernel mean embedding of one spec, as D float32."""
        return self.embed_many(Z, beta, np.array([0]))[0]

    def embed_many(self, Z: np.ndarray, beta: np.ndarray, offsets: np.ndarray) -> np.ndarray:
        """One vector per spec of a stacked reduced set (spec s starts at row ``offsets[s]``).

        Examples
        --------
        >>> basis = RffBasis.draw("input:2", 2, 1.0, features=8)
        >>> basis.embed_many(np.zeros((3, 2)), np.full(3, 1 / 3), np.array([0, 1])).shape
        (2, 8)
        """
        Z = np.asarray(Z)
        owner = np.repeat(np.arange(len(offsets)), np.diff(np.append(offsets, Z.shape[0])))
        out = np.zeros((len(offsets), self.features), dtype=np.float64)
        scale = np.sqrt(2.0 / self.features)
        for start in range(0, Z.shape[0], CHUNK_ROWS):
            block = np.asarray(Z[start : start + CHUNK_ROWS], dtype=np.float32) @ self.W
            block += self.b
            np.cos(block, out=block)
            block *= np.asarray(beta[start : start + CHUNK_ROWS], dtype=np.float32)[:, None]
            who = owner[start : start + CHUNK_ROWS]  # rows of one spec are contiguous
            firsts = np.flatnonzero(np.r_[True, who[1:] != who[:-1]])
            out[who[firsts]] += np.add.reduceat(block, firsts, axis=0)
        return (out * scale).astype(np.float32)
