"""The vector path at 100,000 - 1,000,000 specs: a three-stage cascade, its time and recall@10.

1,000,000 specs of 100 x 784 float32 reduced points would need 313 GB, so the entries here are
SYNTHETIC and built from shared pieces: an *atom* is 10 reduced points (each the mean of 10
random MNIST training images of one digit, pixels in [0, 1]); a pool has 100 atoms per digit;
an entry has 3 digits and 10 distinct atoms of those digits (m = 100, weights 1/100). Because
an entry's reduced set is the union of its atoms, its exact kernel terms are sums of atom-level
kernel sums (computed once over the 10,000 pool points), so the *exact* squared MMD of every
entry to a query is known and recall@10 is measured against exact search over all N entries.

Per entry the cascade stores what a zoo's index stores: its random-feature vector (D = 1,024,
seeded by the space; here in a memory-mapped ``.npy``) and its exact self-term. Per query (a
real ``build_spec`` of 300 MNIST test images of 3 digits, m = 100), timed end to end:

1. the query's vector; faiss over the first ``PREFIX`` features of every entry
   (``IndexIVFFlat``, ``IVF_LISTS`` k-means cells, ``nprobe`` probed; a flat index below
   ``IVF_MIN`` entries) keeps a ``shortlist``: by L2 on the prefixes, or (``--ip``) by inner
   product of ``[2 (D / P) v_q[:P], -1]`` with ``[v_s[:P], self_s]``, the same estimate as
   stage 2 from the prefix alone;
2. the shortlist re-scored on all D features with the exact self-term:
   ``self_s - 2 v_q . v_s`` (the estimate of MMD^2 less the query's own term; ``--l2`` also
   measures plain ``||v_q - v_s||^2``, whose self-term part is noise); the best ``keep`` go on;
3. their exact MMD^2 from their reduced sets (gathered from the pool, as a zoo reads them from
   its set files, and scored by :func:`recycle.spec.search.kernel_sums`, the index's own
   scoring); the top 10 of those is the answer.

``recall_at_10`` is the share of the exact top 10 in the answer; ``kept_recall`` the share in
the ``keep`` entries stage 2 passed on (what stage 3 can at best find). Threads:
``RECYCLE_SEARCH_THREADS`` (default 1) for faiss and BLAS, as in a zoo search.

Run: ``nice .venv/bin/python benchmarks/search_vectors.py [--sizes 100000,1000000]
[--nprobe 16,32] [--shortlist 1024,4096] [--keep 32,64] [--ip] [--l2] [--append]
[--workdir DIR]``; writes
``benchmarks/results/search_vectors.json`` and regenerates the docs
(``benchmarks/search_docs.py``). 1,000,000 entries need 4 GiB of disk for the vectors and
~6 GiB of memory.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import time
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
from _timing import time_queries
from search_docs import write_docs

from recycle import datasets
from recycle.spec import Spec, build_spec
from recycle.spec.kernel import gaussian, median_gamma
from recycle.spec.rff import FEATURES, RffBasis
from recycle.spec.search import kernel_sums
from recycle.spec.threads import limited, search_threads

OUT = Path(__file__).resolve().parent / "results" / "search_vectors.json"
SPACE = "input:784"
ATOMS_PER_DIGIT = 100
POINTS_PER_ATOM = 10
ATOMS_PER_ENTRY = 10
M = ATOMS_PER_ENTRY * POINTS_PER_ATOM  # reduced points per entry
GROUP = 10  # images averaged into one reduced point
QUERIES = 10
REPEATS = 3
CHUNK = 10_000  # entries built at once (their atom vectors: 400 MB)
#: Features the first stage scans: a quarter of the vector, a quarter of the bytes.
PREFIX = 256
#: From this many entries the prefixes go into inverted lists (IVFFlat): a flat scan of
#: 1,000,000 x 256 float32 reads 1 GiB per query.
IVF_MIN = 200_000
IVF_LISTS = 1024
TRAIN = 50_000  # prefixes the cells are trained on
NPROBE = (16, 32)
SHORTLIST = (1024, 4096)
KEEP = (32, 64)


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


def _entries(n: int, digit: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """(n, 10) atom ids: 3 digits per entry, 10 distinct atoms of those digits."""
    out = np.empty((n, ATOMS_PER_ENTRY), dtype=np.int32)
    by_digit = [np.flatnonzero(digit == d) for d in range(10)]
    for i in range(n):
        ds = rng.choice(10, 3, replace=False)
        out[i] = rng.choice(np.concatenate([by_digit[d] for d in ds]), ATOMS_PER_ENTRY, False)
    return out


@dataclass
class Setup:
    """The atom pool, each atom's digit, the common gamma, the atom x atom kernel sums, the
    query specs and the random generator the entries are drawn with."""

    pool: np.ndarray
    digit: np.ndarray
    gamma: float
    S: np.ndarray
    queries: list[Spec]
    rng: np.random.Generator

    def self_terms(self, atoms: np.ndarray) -> np.ndarray:
        """Exact self-terms of the entries made of ``atoms`` (rows of atom ids)."""
        out = np.empty(len(atoms))
        for s in range(0, len(atoms), CHUNK):
            a = atoms[s : s + CHUNK]
            out[s : s + CHUNK] = self.S[a[:, :, None], a[:, None, :]].sum(axis=(1, 2)) / M**2
        return out

    def exact_top10(self, q: Spec, atoms: np.ndarray, self_terms: np.ndarray) -> set[int]:
        """The exact top 10 of all entries (MMD^2 from atom-level kernel sums)."""
        Kq = gaussian(q.Z.astype(np.float64), self.pool.astype(np.float64), self.gamma)
        c = (q.beta @ Kq).reshape(-1, POINTS_PER_ATOM).sum(axis=1)
        exact = -2.0 * c[atoms].sum(axis=1) / M + self_terms  # MMD^2 less the query's own term
        return set(np.argpartition(exact, 10)[:10].tolist())


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
    return Setup(pool, digit, gamma, S, queries, rng)


@dataclass
class Cascade:
    """The stored side of the cascade: vectors (memory-mapped), exact self-terms, the faiss
    index of the prefixes, and the atoms each entry's reduced set is made of."""

    vectors: np.ndarray
    self_terms: np.ndarray
    first: Any
    atoms: np.ndarray
    basis: RffBasis
    pool: np.ndarray
    gamma: float
    #: first stage by inner product with the exact self-term (else L2 on the prefixes)
    ip: bool

    def _first_query(self, v: np.ndarray) -> np.ndarray:
        """The first stage's query: the prefix (L2), or ``[2 (D / P) v[:P], -1]`` against
        ``[v_s[:P], self_s]`` (inner product = minus the estimated MMD^2 less the query's term:
        a prefix's dot product estimates P / D of the cross term)."""
        if not self.ip:
            return np.ascontiguousarray(v[None, :PREFIX])
        scaled = 2.0 * (self.basis.features / PREFIX) * v[:PREFIX]
        return np.append(scaled, np.float32(-1.0))[None, :].astype(np.float32)

    def search(
        self, q: Spec, shortlist: int, keep: int, l2: bool = False
    ) -> tuple[np.ndarray, np.ndarray]:
        """The 10 best entries by exact MMD^2, and the ``keep`` entries stage 2 passed on."""
        v = self.basis.embed(q.Z, q.beta)
        _, found = self.first.search(self._first_query(v), shortlist)
        short = np.sort(found[0][found[0] >= 0])  # sorted rows read the memory map in order
        V = self.vectors[short]
        own = np.einsum("ij,ij->i", V, V) if l2 else self.self_terms[short]  # v_s . v_s: noise
        est = own - 2.0 * (V @ v)
        kept = short[np.argpartition(est, min(keep, est.size) - 1)[:keep]]
        Z = self.pool[(self.atoms[kept][:, :, None] * POINTS_PER_ATOM
                       + np.arange(POINTS_PER_ATOM)).reshape(-1)]  # fmt: skip
        qz, qb = q.Z.astype(np.float32), q.beta.astype(np.float32)
        per_point = kernel_sums(qz, np.einsum("ij,ij->i", qz, qz), qb, Z,
                                np.einsum("ij,ij->i", Z, Z), self.gamma)  # fmt: skip
        cross = per_point.reshape(len(kept), M).sum(axis=1) / M
        mmd2 = self.self_terms[kept] - 2.0 * cross  # the query's own term ranks nothing
        return kept[np.argsort(mmd2, kind="stable")[:10]], kept


def _first_vectors(vectors: np.ndarray, terms: np.ndarray, ip: bool) -> np.ndarray:
    """What the first stage indexes of these entries: the prefixes, with the self-terms (ip)."""
    prefix = np.asarray(vectors[:, :PREFIX], dtype=np.float32)
    return np.ascontiguousarray(np.hstack([prefix, terms[:, None]]) if ip else prefix, np.float32)


def build(n: int, base: Setup, basis: RffBasis, workdir: Path, ip: bool) -> tuple[Cascade, float]:
    """The entries' vectors (a ``.npy`` in ``workdir``), self-terms and first-stage index."""
    import faiss

    t0 = time.perf_counter()
    atoms = _entries(n, base.digit, base.rng)
    offsets = np.arange(0, base.pool.shape[0], POINTS_PER_ATOM)
    weights = np.full(base.pool.shape[0], 1.0 / POINTS_PER_ATOM)
    atom_vec = basis.embed_many(base.pool, weights, offsets)
    path = workdir / f"vectors-{n}.npy"
    vectors = np.lib.format.open_memmap(path, "w+", np.float32, (n, basis.features))
    for s in range(0, n, CHUNK):
        vectors[s : s + CHUNK] = atom_vec[atoms[s : s + CHUNK]].mean(axis=1)
    vectors.flush()
    terms = base.self_terms(atoms)
    dim = PREFIX + 1 if ip else PREFIX
    metric = faiss.METRIC_INNER_PRODUCT if ip else faiss.METRIC_L2
    flat = faiss.IndexFlatIP(dim) if ip else faiss.IndexFlatL2(dim)
    if n >= IVF_MIN:
        first = faiss.IndexIVFFlat(flat, dim, IVF_LISTS, metric)
        first.train(_first_vectors(vectors[:TRAIN], terms[:TRAIN], ip))
    else:
        first = flat
    for s in range(0, n, CHUNK):
        first.add(_first_vectors(vectors[s : s + CHUNK], terms[s : s + CHUNK], ip))
    del vectors
    cascade = Cascade(np.load(path, mmap_mode="r"), terms, first, atoms, basis, base.pool,
                      base.gamma, ip)  # fmt: skip
    return cascade, time.perf_counter() - t0


def run(
    sizes: list[int],
    workdir: Path,
    nprobes: tuple[int, ...] = NPROBE,
    shortlists: tuple[int, ...] = SHORTLIST,
    keeps: tuple[int, ...] = KEEP,
    l2: bool = False,
    ip: bool = False,
    seed: int = 0,
) -> dict[str, Any]:
    base = setup(seed)
    basis = RffBasis.draw(SPACE, 784, base.gamma, FEATURES)
    rows = []
    for n in sizes:
        cascade, build_s = build(n, base, basis, workdir, ip)
        tops = [base.exact_top10(q, cascade.atoms, cascade.self_terms) for q in base.queries]
        ivf = n >= IVF_MIN
        for nprobe in nprobes if ivf else [0]:
            if ivf:
                cascade.first.nprobe = nprobe
            settings = [(s, k, p) for s in shortlists for k in keeps for p in {False, l2}]
            for shortlist, keep, plain in sorted(settings):
                search = partial(cascade.search, shortlist=shortlist, keep=keep, l2=plain)
                with limited():
                    found, stats = time_queries(search, base.queries, REPEATS)
                hits = sum(len(t & set(f[0].tolist())) for t, f in zip(tops, found, strict=True))
                kept = sum(len(t & set(f[1].tolist())) for t, f in zip(tops, found, strict=True))
                row = {
                    "entries": n, "synthetic": True, "features": FEATURES, "prefix": PREFIX,
                    "first_stage": (f"IVFFlat nlist={IVF_LISTS} nprobe={nprobe}" if ivf
                                    else "Flat") + (" IP, exact self-term" if ip else " L2"),
                    "shortlist": shortlist, "keep": keep,
                    "stage2": "L2" if plain else "exact self-term",
                    "recall_at_10": hits / (10 * QUERIES), "kept_recall": kept / (10 * QUERIES),
                    **stats, "build_s": build_s, "vectors_gib": n * FEATURES * 4 / 2**30,
                    "peak_rss_gib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20,
                    "load_average": os.getloadavg(),
                }  # fmt: skip
                print(json.dumps(row), flush=True)
                rows.append(row)
        del cascade
        (workdir / f"vectors-{n}.npy").unlink()
    return {"benchmark": "search_vectors", "rows": rows, "queries": QUERIES,
            "repeats": REPEATS, "threads": search_threads(), "cpus": os.cpu_count(),
            "note": "entries are SYNTHETIC unions of MNIST atoms (see docstring)"}  # fmt: skip


def _ints(text: str) -> tuple[int, ...]:
    return tuple(int(x) for x in text.split(","))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100000,1000000", help="numbers of entries")
    parser.add_argument("--nprobe", default="16,32", help="IVF cells probed")
    parser.add_argument("--shortlist", default="1024,4096", help="kept by the first stage")
    parser.add_argument("--keep", default="32,64", help="scored exactly")
    parser.add_argument("--l2", action="store_true", help="also stage 2 by plain L2")
    parser.add_argument("--ip", action="store_true", help="first stage: IP with self-terms")
    parser.add_argument("--append", action="store_true", help="add the rows to the JSON's")
    parser.add_argument("--workdir", type=Path, default=Path("."), help="for the vectors")
    parser.add_argument("--quick", action="store_true", help="10,000 entries; no file written")
    args = parser.parse_args(argv)
    sizes = [10_000] if args.quick else list(_ints(args.sizes))
    result = run(sizes, args.workdir, _ints(args.nprobe), _ints(args.shortlist),
                 _ints(args.keep), args.l2, args.ip)  # fmt: skip
    if args.append and OUT.exists():
        result["rows"] = json.loads(OUT.read_text())["rows"] + result["rows"]
    if not args.quick:
        OUT.write_text(json.dumps(result, indent=1) + "\n")
        write_docs()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
