"""SYNTHETIC zoo entries for the search benchmarks, their reduced sets GENERATED from the entry id.

1,000,000 specs of 100 x 784 float32 reduced points would need 313 GB, so the entries of
``benchmarks/search_index.py`` are built from shared pieces: an *atom* is 10 reduced points (each
the mean of 10 random MNIST training images of one digit, pixels in [0, 1]); a pool has 100 atoms
per digit; an entry has 3 digits and 10 distinct atoms of those digits (m = 100, weights 1/100).
Entry ``i`` (id ``f"{i:032x}"``) is drawn from a generator seeded by ``(seed, i // CHUNK)``, so
its atoms, hence its reduced set, are a function of its id (:class:`GeneratedSets` rebuilds the
sets an index asks for, in place of set files). Because a reduced set is the union of its
atoms, its exact kernel terms are sums of atom-level kernel sums (computed once over the 10,000
pool points): the *exact* squared MMD of every entry to a query is known, and recall@10 is
measured against exact search over all N entries. Queries are real specs (``build_spec`` of 300
MNIST test images of 3 digits, m = 100).

Examples
--------
>>> digit = np.repeat(np.arange(10), ATOMS_PER_DIGIT)
>>> a = entry_atoms(5, digit, seed=0)
>>> a.shape, bool((entry_atoms(3, digit, seed=0) == a[:3]).all())
((5, 10), True)
>>> len(set(digit[a[0]].tolist())) <= 3, len(set(a[0].tolist()))
(True, 10)
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from recycle import datasets
from recycle.spec import Spec, build_spec
from recycle.spec.kernel import gaussian, median_gamma
from recycle.spec.rff import RffBasis

SPACE = "input:784"
ATOMS_PER_DIGIT = 100
POINTS_PER_ATOM = 10
ATOMS_PER_ENTRY = 10
M = ATOMS_PER_ENTRY * POINTS_PER_ATOM  # reduced points per entry
GROUP = 10  # images averaged into one reduced point
QUERIES = 10
#: Entries drawn per generator (entry i's atoms depend only on the seed and i).
CHUNK = 10_000


def entry_atoms(n: int, digit: np.ndarray, seed: int = 0) -> np.ndarray:
    """(n, 10) atom ids of entries 0..n-1: 3 digits per entry, 10 distinct atoms of those."""
    out = np.empty((n, ATOMS_PER_ENTRY), dtype=np.int32)
    first = np.array([np.flatnonzero(digit == d)[0] for d in range(10)])
    for s in range(0, n, CHUNK):
        c = min(CHUNK, n - s)
        rng = np.random.default_rng([seed, s // CHUNK])
        ds = np.argsort(rng.random((CHUNK, 10)), axis=1)[:c, :3]
        cand = (first[ds][:, :, None] + np.arange(ATOMS_PER_DIGIT)).reshape(c, -1)
        pick = np.argpartition(rng.random((CHUNK, cand.shape[1]))[:c], ATOMS_PER_ENTRY, axis=1)
        out[s : s + c] = np.take_along_axis(cand, pick[:, :ATOMS_PER_ENTRY], axis=1)
    return out


def _pool(X: np.ndarray, y: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Pool points (atoms x 10, 784) and each atom's digit."""
    points, digit = [], []
    for d in range(10):
        rows = np.flatnonzero(y == d)
        pick = X[rng.choice(rows, ATOMS_PER_DIGIT * POINTS_PER_ATOM * GROUP)]
        points.append(pick.reshape(-1, GROUP, X.shape[1]).mean(axis=1))
        digit += [d] * ATOMS_PER_DIGIT
    return np.concatenate(points).astype(np.float32), np.array(digit)


def _atom_sums(K: np.ndarray) -> np.ndarray:
    """Block sums of a (points x points') kernel matrix over atoms (10 x 10 blocks)."""
    a, b = K.shape[0] // POINTS_PER_ATOM, K.shape[1] // POINTS_PER_ATOM
    return K.reshape(a, POINTS_PER_ATOM, b, POINTS_PER_ATOM).sum(axis=(1, 3))


@dataclass
class Setup:
    """The atom pool, each atom's digit, the common gamma, the atom x atom kernel sums, the
    query specs and the seed the entries are drawn with."""

    pool: np.ndarray
    digit: np.ndarray
    gamma: float
    S: np.ndarray
    queries: list[Spec]
    seed: int

    def atoms(self, n: int) -> np.ndarray:
        """Atom ids of entries 0..n-1."""
        return entry_atoms(n, self.digit, self.seed)

    def rows(self, atoms: np.ndarray) -> np.ndarray:
        """Pool rows of the reduced sets of entries made of ``atoms`` (rows of atom ids)."""
        return (atoms[:, :, None] * POINTS_PER_ATOM + np.arange(POINTS_PER_ATOM)).reshape(-1)

    def self_terms(self, atoms: np.ndarray) -> np.ndarray:
        """Exact self-terms of the entries made of ``atoms``."""
        out = np.empty(len(atoms))
        for s in range(0, len(atoms), CHUNK):
            a = atoms[s : s + CHUNK]
            out[s : s + CHUNK] = self.S[a[:, :, None], a[:, None, :]].sum(axis=(1, 2)) / M**2
        return out

    def vectors(self, atoms: np.ndarray, basis: RffBasis) -> np.ndarray:
        """Feature vectors of the entries: the mean of their atoms' vectors (what
        ``RffBasis.embed`` gives for the union with weights 1/m, up to float rounding)."""
        offsets = np.arange(0, self.pool.shape[0], POINTS_PER_ATOM)
        weights = np.full(self.pool.shape[0], 1.0 / POINTS_PER_ATOM)
        atom_vec = basis.embed_many(self.pool, weights, offsets)
        out = np.empty((len(atoms), basis.features), np.float32)
        for s in range(0, len(atoms), CHUNK):
            out[s : s + CHUNK] = atom_vec[atoms[s : s + CHUNK]].mean(axis=1)
        return out

    def exact_top10(self, q: Spec, atoms: np.ndarray, self_terms: np.ndarray) -> set[int]:
        """The exact top 10 of all entries (MMD^2 from atom-level kernel sums)."""
        Kq = gaussian(q.Z.astype(np.float64), self.pool.astype(np.float64), self.gamma)
        c = (q.beta @ Kq).reshape(-1, POINTS_PER_ATOM).sum(axis=1)
        exact = -2.0 * c[atoms].sum(axis=1) / M + self_terms  # MMD^2 less the query's own term
        return set(np.argpartition(exact, 10)[:10].tolist())


@dataclass
class GeneratedSets:
    """``PersistentIndex.read_sets`` for SYNTHETIC entries: each asked id's reduced set rebuilt
    from its atoms (no set file is read or needed)."""

    setup: Setup
    atoms: np.ndarray

    def __call__(self, folder: Path, ids: np.ndarray, sizes: np.ndarray, dim: int) -> np.ndarray:
        which = np.array([int(str(e), 16) for e in ids], dtype=np.int64)
        return self.setup.pool[self.setup.rows(self.atoms[which])]


def setup(seed: int = 0) -> Setup:
    """Pool, gamma (median heuristic of the pool), kernel sums and ``QUERIES`` real queries."""
    data = datasets.load("mnist")
    X = data.X_train.reshape(len(data.X_train), -1).astype(np.float32) / 255.0
    Xt = data.X_test.reshape(len(data.X_test), -1).astype(np.float32) / 255.0
    rng = np.random.default_rng(seed)
    pool, digit = _pool(X, np.asarray(data.y_train), rng)
    gamma = median_gamma(pool)
    S = np.zeros((len(digit), len(digit)))
    for s in range(0, pool.shape[0], 2000):
        S[s // POINTS_PER_ATOM : (s + 2000) // POINTS_PER_ATOM] = _atom_sums(
            gaussian(pool[s : s + 2000], pool, gamma)
        )
    queries = []
    for q in range(QUERIES):
        ds = rng.choice(10, 3, replace=False)
        rows = rng.choice(np.flatnonzero(np.isin(data.y_test, ds)), 300, replace=False)
        queries.append(build_spec(Xt[rows], m=M, seed=q, gamma=gamma))
    return Setup(pool, digit, gamma, S, queries, seed)
