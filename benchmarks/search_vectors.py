"""The vector path alone at 100,000 - 1,000,000 specs: faiss pass time and recall@10 vs exact.

1,000,000 specs of 100 x 784 float32 reduced points would need 313 GB, so the entries here are
SYNTHETIC and built from shared pieces: an *atom* is 10 reduced points (each the mean of 10
random MNIST training images of one digit, pixels in [0, 1]); a pool has 100 atoms per digit;
an entry has 3 digits and 10 distinct atoms of those digits (m = 100, weights 1/100). Because
an entry's reduced set is the union of its atoms, its exact kernel terms are sums of atom-level
kernel sums (computed once over the 10,000 pool points), so the *exact* squared MMD of every
entry to a query is known and recall@10 is measured against exact search over all N entries.

Per query (a real ``build_spec`` of 300 MNIST test images of 3 digits, m = 100):

- ``faiss_ms``: the vector pass: the query's random-feature vector (D = 1,024, seeded by the
  space) against the N entry vectors, 128 nearest returned; ``IndexFlatL2`` (exact scan) below
  ``IVF_MIN`` entries, ``IndexIVFFlat`` (512 k-means cells, 16 probed) from there; one thread;
- ``recall_at_10``: share of the exact top 10 found when those 128 are re-scored exactly (the
  re-scoring itself costs what it costs in a zoo: ``warm_search_ms`` in search_zoo.json).

One index per size; every ``--nprobe`` x ``--candidates`` setting is measured on it (wall and
CPU time of the faiss pass; threads: ``RECYCLE_SEARCH_THREADS``, default 1).

Run: ``nice .venv/bin/python benchmarks/search_vectors.py [--sizes 100000,1000000]
[--nprobe 8,16,32,64] [--candidates 128,256]``; writes ``benchmarks/results/search_vectors.json``
and regenerates the docs (``benchmarks/search_docs.py``).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import time
from pathlib import Path
from typing import Any

import numpy as np
from search_docs import write_docs

from recycle import datasets
from recycle.spec import build_spec
from recycle.spec.kernel import gaussian, median_gamma
from recycle.spec.rff import FEATURES, RffBasis
from recycle.spec.threads import search_threads

OUT = Path(__file__).resolve().parent / "results" / "search_vectors.json"
SPACE = "input:784"
ATOMS_PER_DIGIT = 100
POINTS_PER_ATOM = 10
ATOMS_PER_ENTRY = 10
GROUP = 10  # images averaged into one reduced point
CANDIDATES = 128  # re-scored exactly (recycle.spec.index.RERANK)
QUERIES = 10
CHUNK = 10_000  # entries built at once (their atom vectors: 400 MB)
#: From this many entries the vectors go into inverted lists (IVFFlat), searched in NPROBE of
#: IVF_LISTS cells: a flat scan of 1,000,000 x 1,024 float32 reads 4 GiB per query (~1 s here).
IVF_MIN = 200_000
IVF_LISTS = 512
NPROBE = 16
TRAIN = 20_000  # vectors the cells are trained on


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


def run(
    sizes: list[int],
    seed: int = 0,
    ivf_min: int = IVF_MIN,
    nprobes: tuple[int, ...] = (NPROBE,),
    candidates: tuple[int, ...] = (CANDIDATES,),
) -> dict[str, Any]:
    import faiss

    faiss.omp_set_num_threads(search_threads())  # RECYCLE_SEARCH_THREADS, as in a zoo search
    data = datasets.load("mnist")
    X = data.X_train.reshape(len(data.X_train), -1).astype(np.float32) / 255.0
    Xt = data.X_test.reshape(len(data.X_test), -1).astype(np.float32) / 255.0
    rng = np.random.default_rng(seed)
    pool, digit = _pool(X, np.asarray(data.y_train), rng)
    gamma = median_gamma(pool)
    m = ATOMS_PER_ENTRY * POINTS_PER_ATOM
    S = np.zeros((len(digit), len(digit)))  # atom x atom kernel sums
    for s in range(0, pool.shape[0], 2000):
        S[s // POINTS_PER_ATOM : (s + 2000) // POINTS_PER_ATOM] = _atom_sums(
            gaussian(pool[s : s + 2000], pool, gamma)
        )
    basis = RffBasis.draw(SPACE, 784, gamma, FEATURES)
    offsets = np.arange(0, pool.shape[0], POINTS_PER_ATOM)
    atom_vec = basis.embed_many(pool, np.full(pool.shape[0], 1.0 / POINTS_PER_ATOM), offsets)
    queries = []
    for q in range(QUERIES):
        ds = rng.choice(10, 3, replace=False)
        rows = rng.choice(np.flatnonzero(np.isin(data.y_test, ds)), 300, replace=False)
        queries.append(build_spec(Xt[rows], m=100, seed=q, gamma=gamma))
    rows = []
    for n in sizes:
        atoms = _entries(n, digit, rng)
        nlist = 0 if n < ivf_min else IVF_LISTS
        index = faiss.IndexFlatL2(FEATURES)
        self_terms = np.empty(n)
        t0 = time.perf_counter()
        if nlist:  # inverted lists: k-means cells trained on the first entries' vectors
            index = faiss.IndexIVFFlat(faiss.IndexFlatL2(FEATURES), FEATURES, nlist)
            index.train(np.ascontiguousarray(atom_vec[atoms[:TRAIN]].mean(axis=1), np.float32))
            index.nprobe = NPROBE
        for s in range(0, n, CHUNK):
            a = atoms[s : s + CHUNK]
            index.add(np.ascontiguousarray(atom_vec[a].mean(axis=1), dtype=np.float32))
            self_terms[s : s + CHUNK] = S[a[:, :, None], a[:, None, :]].sum(axis=(1, 2)) / m**2
        build_s = time.perf_counter() - t0
        exact_top, vecs = [], []
        for q in queries:
            vecs.append(basis.embed(q.Z, q.beta)[None, :])
            Kq = gaussian(q.Z.astype(np.float64), pool.astype(np.float64), gamma)
            c = (q.beta @ Kq).reshape(-1, POINTS_PER_ATOM).sum(axis=1)  # per atom
            exact_top.append(-2.0 * c[atoms].sum(axis=1) / m + self_terms)  # MMD^2 less q's term
        for nprobe in nprobes if nlist else [0]:
            if nlist:
                index.nprobe = nprobe
            for cand in candidates:
                faiss_ms, faiss_cpu_ms, hits = [], [], 0
                for vec, exact in zip(vecs, exact_top, strict=True):
                    w0, c0 = time.perf_counter(), time.process_time()
                    _, found = index.search(vec, cand)
                    faiss_ms.append(1000 * (time.perf_counter() - w0))
                    faiss_cpu_ms.append(1000 * (time.process_time() - c0))
                    top = set(np.argpartition(exact, 10)[:10].tolist())
                    cand_ids = found[0][found[0] >= 0]
                    hits += len(top & set(cand_ids[np.argsort(exact[cand_ids])[:10]].tolist()))
                row = {
                    "entries": n,
                    "synthetic": True,
                    "features": FEATURES,
                    "faiss_index": f"IVFFlat nlist={nlist} nprobe={nprobe}" if nlist else "FlatL2",
                    "candidates": cand,
                    "vectors_gib": n * FEATURES * 4 / 2**30,
                    "build_s": build_s,
                    "faiss_ms_median": float(np.median(faiss_ms)),
                    "faiss_ms_max": float(np.max(faiss_ms)),
                    "faiss_cpu_ms_median": float(np.median(faiss_cpu_ms)),
                    "recall_at_10": hits / (10 * len(queries)),
                    "peak_rss_gib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20,
                    "load_average": os.getloadavg(),
                }
                print(json.dumps(row), flush=True)
                rows.append(row)
        del index
    return {"benchmark": "search_vectors", "rows": rows, "candidates": CANDIDATES,
            "queries": QUERIES, "cpus": os.cpu_count(), "load_average": os.getloadavg(),
            "note": "entries are SYNTHETIC unions of MNIST atoms (see docstring)"}  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100000,1000000", help="numbers of entries")
    parser.add_argument("--ivf-min", type=int, default=IVF_MIN, help="IVF from this many entries")
    parser.add_argument("--nprobe", default=str(NPROBE), help="cells probed, e.g. 8,16,32,64")
    parser.add_argument("--candidates", default=str(CANDIDATES), help="re-scored, e.g. 128,256")
    parser.add_argument("--quick", action="store_true", help="10,000 entries; no file written")
    args = parser.parse_args(argv)
    sizes = [10_000] if args.quick else [int(s) for s in args.sizes.split(",")]
    nprobes = tuple(int(x) for x in args.nprobe.split(","))
    cands = tuple(int(x) for x in args.candidates.split(","))
    result = run(sizes, ivf_min=args.ivf_min, nprobes=nprobes, candidates=cands)
    if not args.quick:
        OUT.write_text(json.dumps(result, indent=1) + "\n")
        write_docs()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
