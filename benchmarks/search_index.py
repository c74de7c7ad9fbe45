"""Warm search in a persistent spec index of 10,000 - 100,000 specs, and its recall@10 vs exact.

The zoo path (``Zoo.search``) is the catalog check (one aggregate query), then
:meth:`recycle.spec.index.PersistentIndex.rank`, then one fetch of the top entries. This
measures ``rank`` on indexes built by :func:`recycle.spec.index.update` (the function a zoo's
registration and ``recycle zoo reindex`` call), in batches of ``BATCH`` specs, without a
catalog: registering 100,000 catalog entries one by one would take hours here, and the
catalog's part of a search does not depend on the index size (``zoo_overhead_ms`` measures it on
a real 10-entry zoo).

Entries are SYNTHETIC, built like ``benchmarks/search_vectors.py``: m = 100 reduced points in
784-d, each entry the union of 10 *atoms* (10 points each, means of 10 MNIST training images of
one digit) of 3 digits, so the exact squared MMD of every entry to a query is a sum of atom-level
kernel sums and recall@10 is measured against exact search over all N entries. Queries are real
specs (``build_spec`` of 300 MNIST test images of 3 digits, m = 100).

Per size: build time and disk (segments vs reduced-set files); per query (``QUERIES`` queries,
each searched ``REPEATS`` times; the first search of a query may read its candidates' sets from
disk, the repeats from the page cache): ``rank`` time (vector pass over N feature vectors +
exact re-rank of the best ``candidates``), recall@10 against exact.

Run: ``nice python benchmarks/search_index.py [--sizes 10000,100000] [--workdir DIR]``
(100,000 entries need 31.4 GB of disk for the reduced sets); writes
``benchmarks/results/search_index.json`` and regenerates the docs (``search_docs.py``).
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
from _timing import time_queries
from search_docs import write_docs
from search_vectors import POINTS_PER_ATOM, Setup, _entries, setup

from recycle.spec import Spec
from recycle.spec import index as index_module
from recycle.spec import index_files as files
from recycle.spec.index import RERANK, EntryInfo, PersistentIndex, update
from recycle.spec.rff import FEATURES, RffBasis
from recycle.spec.threads import search_threads

OUT = Path(__file__).resolve().parent / "results" / "search_index.json"
SPACE = "input:784"
M = 100  # reduced points per entry: 10 atoms x 10 points
BATCH = 2000  # specs per update (their reduced sets: 627 MB)
QUERIES = 10
REPEATS = 3
CANDIDATES = (16, RERANK, 64)
#: Shortlists of the two-stage vector pass measured (above recycle.spec.index.TWO_STAGE_MIN).
SHORTLISTS = (1024, 2048)


def _items(atoms: np.ndarray, pool: np.ndarray, gamma: float, lo: int, hi: int) -> list[Any]:
    """(EntryInfo, Spec) of entries ``lo`` to ``hi``: each the union of its 10 atoms."""
    beta = np.full(M, 1.0 / M)
    meta = {"synthetic": "benchmarks/search_index.py"}
    out = []
    for i in range(lo, hi):
        rows = (atoms[i][:, None] * POINTS_PER_ATOM + np.arange(POINTS_PER_ATOM)).ravel()
        spec = Spec(SPACE, gamma, pool[rows], beta, n=1000, residual=0.002, meta=meta)
        out.append((EntryInfo(f"{i:032x}", f"synthetic.{i:06d}", "1.0.0", float(i)), spec))
    return out


def build_update(folder: Path, atoms: np.ndarray, pool: np.ndarray, gamma: float) -> float:
    """Index the entries with :func:`update` in batches of ``BATCH``; return wall seconds."""
    t0 = time.perf_counter()
    for s in range(0, len(atoms), BATCH):
        items = _items(atoms, pool, gamma, s, min(s + BATCH, len(atoms)))
        update(folder, SPACE, items, set(), [s + len(items)])
        print(f"indexed {s + len(items)} in {time.perf_counter() - t0:.0f} s", flush=True)
    return time.perf_counter() - t0


def build_direct(
    folder: Path, atoms: np.ndarray, pool: np.ndarray, gamma: float, S: np.ndarray
) -> float:
    """The same index written with the index's own file writers, its feature vectors and
    self-terms from atom-level sums (an entry's vector is the mean of its atoms' vectors; its
    self-term the mean of its atoms' kernel sums), which is what :func:`update` computes from
    the reduced points at ~50x the cost (``--check`` compares the two)."""
    t0 = time.perf_counter()
    basis = RffBasis.draw(SPACE, 784, gamma, FEATURES)
    offsets = np.arange(0, pool.shape[0], POINTS_PER_ATOM)
    atom_vec = basis.embed_many(pool, np.full(pool.shape[0], 1.0 / POINTS_PER_ATOM), offsets)
    names = []
    for s in range(0, len(atoms), BATCH):
        items = _items(atoms, pool, gamma, s, min(s + BATCH, len(atoms)))
        a = atoms[s : s + len(items)]
        entries: dict[str, Any] = {
            "ids": [e.id for e, _ in items], "names": [e.name for e, _ in items],
            "versions": ["1.0.0"] * len(items), "created": [e.created for e, _ in items],
            "sizes": [M] * len(items), "n": [1000] * len(items),
            "residual": [0.002] * len(items), "gammas": [gamma] * len(items),
            "self_terms": S[a[:, :, None], a[:, None, :]].sum(axis=(1, 2)) / M**2,
        }  # fmt: skip
        for entry_id, (_, spec) in zip(entries["ids"], items, strict=True):
            path = files.set_path(folder, entry_id)  # no fsync per file: 100,000 take ~15 min
            path.parent.mkdir(parents=True, exist_ok=True)
            np.save(path, spec.Z.astype(np.float32))
        beta = np.full(M * len(items), 1.0 / M, np.float32)
        names.append(files.write_segment(folder, beta, entries, atom_vec[a].mean(axis=1)))
        print(f"indexed {s + len(items)} in {time.perf_counter() - t0:.0f} s", flush=True)
    segments = [{"name": n, "entries": BATCH} for n in names]
    files.write_manifest(folder, {"space": SPACE, "gamma": gamma, "features": FEATURES,
                                  "segments": segments, "dropped": [],
                                  "fingerprint": [len(atoms)]})  # fmt: skip
    return time.perf_counter() - t0


def _zoo_overhead(queries: list[Spec], workdir: Path) -> float:
    """Median ms a real 10-entry zoo's ``Zoo.search`` spends outside ``rank`` (the catalog
    check and the fetch of the top entries)."""
    from search_zoo import _card, _payload

    from recycle.zoo import Zoo, spec_index

    config, files = _payload()
    zoo = Zoo.open(workdir / "zoo10")
    for i, q in enumerate(queries):
        zoo.register_files(config, files, _card(i), spec=q, validate=False)
    found = spec_index.current(zoo, SPACE)
    assert found is not None
    index, latest = found
    extra = []
    for q in queries * REPEATS:
        t0 = time.perf_counter()
        zoo.search(q, top=5)
        t1 = time.perf_counter()
        index.rank(q, among=latest, candidates=RERANK)
        extra.append((t1 - t0) - (time.perf_counter() - t1))
    zoo.close()
    return 1000 * float(np.median(extra))


def check(n: int, workdir: Path, seed: int = 0) -> dict[str, Any]:
    """Index ``n`` entries both ways; the largest differences of their vectors, self-terms and
    search results (exact scan and vector path)."""
    base = setup(seed)
    pool, gamma, S, queries = base.pool, base.gamma, base.S, base.queries
    atoms = _entries(n, base.digit, base.rng)
    with (
        tempfile.TemporaryDirectory(dir=workdir) as a,
        tempfile.TemporaryDirectory(dir=workdir) as b,
    ):
        update_s = build_update(Path(a), atoms, pool, gamma)
        direct_s = build_direct(Path(b), atoms, pool, gamma, S)
        x, y = PersistentIndex.load(Path(a)), PersistentIndex.load(Path(b))
        assert x is not None and y is not None
        same, score_diff = 0, 0.0
        for q in queries:
            for work in (0, 10**12):
                rx, ry = x.rank(q, exact_work=work), y.rank(q, exact_work=work)
                same += list(x.ids[rx.order[:10]]) == list(y.ids[ry.order[:10]])
                score_diff = max(score_diff, float(np.abs(rx.mmd2[:10] - ry.mmd2[:10]).max()))
        vx = np.concatenate([s.rff for s in x.segments])
        vy = np.concatenate([s.rff for s in y.segments])
        out = {"entries": n, "update_s": update_s, "direct_s": direct_s,
               "vector_max_abs_diff": float(np.abs(vx - vy).max()),
               "self_term_max_rel_diff": float(np.abs(x.self_terms / y.self_terms - 1).max()),
               "same_top10": f"{same}/{2 * len(queries)}",
               "top10_mmd2_max_abs_diff": score_diff}  # fmt: skip
    print(json.dumps(out), flush=True)
    return out


def run(sizes: list[int], workdir: Path, seed: int = 0) -> dict[str, Any]:
    default_shortlist = index_module.SHORTLIST
    base = setup(seed)
    with tempfile.TemporaryDirectory(dir=workdir) as tmp:
        overhead = _zoo_overhead(base.queries, Path(tmp))
    print(f"Zoo.search outside rank: {overhead:.1f} ms", flush=True)
    rows_out = []
    for n in sizes:
        atoms = _entries(n, base.digit, base.rng)
        with tempfile.TemporaryDirectory(dir=workdir) as tmp:
            rows_out.append(_measure(Path(tmp), atoms, base))
    index_module.SHORTLIST = default_shortlist
    return {"benchmark": "search_index", "rows": rows_out, "queries": len(base.queries),
            "zoo_overhead_ms": overhead, "repeats": REPEATS, "threads": search_threads(),
            "cpus": os.cpu_count(),
            "note": "entries are SYNTHETIC unions of MNIST atoms (see docstring)"}  # fmt: skip


def _measure(folder: Path, atoms: np.ndarray, base: Setup) -> dict[str, Any]:
    """Build an index of ``atoms`` in ``folder``; time and score every setting on it."""
    n = len(atoms)
    build_s = build_direct(folder, atoms, base.pool, base.gamma, base.S)
    seg_bytes = sum(f.stat().st_size for p in folder.glob("seg-*") for f in p.iterdir())
    set_bytes = sum(f.stat().st_size for f in folder.glob("sets/*/*.npy"))
    t0 = time.perf_counter()
    index = PersistentIndex.load(folder)
    assert index is not None and len(index) == n
    index.rank(base.queries[0])  # builds the faiss index of the vectors once
    load_s = time.perf_counter() - t0
    terms = base.self_terms(atoms)
    tops = [base.exact_top10(q, atoms, terms) for q in base.queries]
    two_stage = n > index_module.TWO_STAGE_MIN
    by_c = []
    for c, short in [(c, sl) for sl in (SHORTLISTS if two_stage else [0]) for c in CANDIDATES]:
        index_module.SHORTLIST = short or index_module.SHORTLIST
        index._vectors = None  # rebuilt for the setting
        index.rank(base.queries[0])
        found, stats = time_queries(partial(index.rank, candidates=c), base.queries, REPEATS)
        hits = sum(len(t & set(r.order[:10].tolist())) for t, r in zip(tops, found, strict=True))
        by_c.append({"candidates": c, "shortlist": short or None,
                     "recall_at_10": hits / (10 * len(base.queries)), **stats})  # fmt: skip
        print(json.dumps(by_c[-1]), flush=True)
    row = {"entries": n, "synthetic": True, "m": M, "dim": 784, "build_s": build_s,
           "segments_mb": seg_bytes / 1e6, "sets_gb": set_bytes / 1e9, "load_s": load_s,
           "load_average": os.getloadavg(), "by_candidates": by_c}  # fmt: skip
    print(json.dumps(row), flush=True)
    return row


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,100000", help="numbers of entries")
    parser.add_argument("--workdir", type=Path, default=None, help="where indexes are built")
    parser.add_argument("--check", type=int, default=0, help="compare both builds at N entries")
    parser.add_argument("--quick", action="store_true", help="2,000 entries; no file written")
    args = parser.parse_args(argv)
    workdir = args.workdir or Path(tempfile.gettempdir())
    if args.check:
        result = json.loads(OUT.read_text()) if OUT.exists() else {}
        result["check"] = check(args.check, workdir)
        OUT.write_text(json.dumps(result, indent=1) + "\n")
        return 0
    result = run([2_000] if args.quick else [int(s) for s in args.sizes.split(",")], workdir)
    if not args.quick:
        old = json.loads(OUT.read_text()) if OUT.exists() else {}
        OUT.write_text(json.dumps({**result, "check": old.get("check")}, indent=1) + "\n")
        write_docs()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
