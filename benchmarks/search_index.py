"""Warm search in a persistent spec index of 100,000 - 1,000,000 specs, and its recall@10 vs exact.

The zoo path (``Zoo.search``) is the catalog check (one aggregate query), then
:meth:`recycle.spec.index.PersistentIndex.rank`, then one fetch of the top entries. This
measures ``rank`` with the library's defaults (:mod:`recycle.spec.cascade`: the prefix stage,
flat at 100,000 and on the segments' IVF lists at 1,000,000; :mod:`recycle.spec.ivf`) on
indexes written by the index's own writers, without a catalog: registering 1,000,000 catalog
entries one by one would take days here, and the catalog's part of a search does not depend on
the index size (``zoo_overhead_ms`` measures it on a real 10-entry zoo).

Entries are SYNTHETIC (:mod:`_atoms`): their feature vectors and self-terms come from atom-level
sums, and with ``--generated-sets`` no set file is written: the reduced sets of the specs a
query scores exactly are GENERATED from their entry ids (``PersistentIndex.read_sets``), so
1,000,000 entries need 4.5 GB of disk (vectors), not 313 GB. The index is written in segments
of ``SEGMENT`` entries (the shape :func:`recycle.spec.index.update` leaves: a few big
segments), each with its IVF list (:func:`recycle.spec.ivf.write`). ``--check N`` compares an
index built this way with one built by ``update()`` from real set files.

Per size: build seconds (vectors, segments, IVF lists), peak memory of the process; per query
(``QUERIES`` real queries, each searched ``REPEATS`` times): ``rank`` CPU and wall time,
recall@10 against exact search over all N entries.

Run: ``OMP_NUM_THREADS=1 nice python benchmarks/search_index.py --generated-sets
[--sizes 100000,1000000] [--workdir DIR]``; writes ``benchmarks/results/search_index.json``
and regenerates the docs (``search_docs.py``).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import tempfile
import time
from dataclasses import replace
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
from _atoms import SPACE, GeneratedSets, M, Setup, setup
from _timing import time_queries
from search_docs import write_docs

from recycle.spec import Spec, ivf
from recycle.spec import index_files as files
from recycle.spec.cascade import RERANK, Stages
from recycle.spec.index import EntryInfo, PersistentIndex, update
from recycle.spec.rff import FEATURES, RffBasis
from recycle.spec.threads import search_threads

OUT = Path(__file__).resolve().parent / "results" / "search_index.json"
BATCH = 2000  # specs per update() in --check (their reduced sets: 627 MB)
#: Entries per segment of the directly written index (1,000,000: 4 segments, 1 GiB of vectors
#: each, each with an IVF list).
SEGMENT = 262_144
REPEATS = 3
CANDIDATES = (RERANK, 64)


def _items(base: Setup, atoms: np.ndarray, lo: int, hi: int) -> list[tuple[EntryInfo, Spec]]:
    """(EntryInfo, Spec) of entries ``lo`` to ``hi``: each the union of its 10 atoms."""
    beta = np.full(M, 1.0 / M)
    meta = {"synthetic": "benchmarks/_atoms.py"}
    return [(EntryInfo(f"{i:032x}", f"synthetic.{i:07d}", "1.0.0", float(i)),
             Spec(SPACE, base.gamma, base.pool[base.rows(atoms[i : i + 1])], beta, n=1000,
                  residual=0.002, meta=meta)) for i in range(lo, hi)]  # fmt: skip


def build_update(folder: Path, base: Setup, atoms: np.ndarray) -> float:
    """Index the entries with :func:`update` (set files written) in batches; wall seconds."""
    t0 = time.perf_counter()
    for s in range(0, len(atoms), BATCH):
        items = _items(base, atoms, s, min(s + BATCH, len(atoms)))
        update(folder, SPACE, items, set(), [s + len(items)])
    return time.perf_counter() - t0


def build_direct(folder: Path, base: Setup, atoms: np.ndarray, write_sets: bool = False) -> float:
    """The same index written with the index's own writers (segments of ``SEGMENT`` entries,
    IVF lists for those of at least ``ivf.segment_min()``), vectors and self-terms from atom
    sums (what :func:`update` computes from the reduced points, at ~50x the cost); set files
    only with ``write_sets``. Returns wall seconds."""
    t0 = time.perf_counter()
    basis = RffBasis.draw(SPACE, 784, base.gamma, FEATURES)
    names, n = [], len(atoms)
    for s in range(0, n, SEGMENT):
        a = atoms[s : s + SEGMENT]
        c = len(a)
        ids = [f"{i:032x}" for i in range(s, s + c)]
        entries: dict[str, Any] = {
            "ids": ids, "names": [f"synthetic.{i:07d}" for i in range(s, s + c)],
            "versions": ["1.0.0"] * c, "created": np.arange(s, s + c, dtype=float),
            "sizes": [M] * c, "n": [1000] * c, "residual": [0.002] * c, "gammas": [base.gamma] * c,
            "self_terms": base.self_terms(a),
        }  # fmt: skip
        if write_sets:
            files.write_sets(folder, ids, (base.pool[base.rows(a[i : i + 1])] for i in range(c)))
        rff = base.vectors(a, basis)
        name = files.write_segment(folder, np.full(M * c, 1.0 / M, np.float32), entries, rff)
        if ivf.needs(folder / name, c):
            ivf.write(folder / name, rff, entries["self_terms"])
        names.append((name, c))
        del rff
        print(f"indexed {s + c} in {time.perf_counter() - t0:.0f} s", flush=True)
    files.write_manifest(folder, {"space": SPACE, "gamma": base.gamma, "features": FEATURES,
                                  "segments": [{"name": a, "entries": c} for a, c in names],
                                  "dropped": [], "fingerprint": [n]})  # fmt: skip
    return time.perf_counter() - t0


def _zoo_overhead(queries: list[Spec], workdir: Path) -> float:
    """Median ms a real 10-entry zoo's ``Zoo.search`` spends outside ``rank`` (the catalog
    check and the fetch of the top entries)."""
    from search_zoo import _card, _payload

    from recycle.zoo import Zoo, spec_index

    config, payload = _payload()
    zoo = Zoo.open(workdir / "zoo10")
    for i, q in enumerate(queries):
        zoo.register_files(config, payload, _card(i), spec=q, validate=False)
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


def check(n: int, workdir: Path, seed: int = 0, base: Setup | None = None) -> dict[str, Any]:
    """Index ``n`` entries by ``update()`` and directly; the largest differences of their
    vectors and self-terms, and how often their top 10 agree (exact scan and vector stages)."""
    base = base or setup(seed)
    atoms = base.atoms(n)
    with (
        tempfile.TemporaryDirectory(dir=workdir) as a,
        tempfile.TemporaryDirectory(dir=workdir) as b,
    ):
        update_s = build_update(Path(a), base, atoms)
        direct_s = build_direct(Path(b), base, atoms)
        x, y = PersistentIndex.load(Path(a)), PersistentIndex.load(Path(b))
        assert x is not None and y is not None
        order = np.argsort(x.ids)  # the same entries, in id order
        y.read_sets = GeneratedSets(base, atoms)
        same, score_diff = 0, 0.0
        for q in base.queries:
            for work in (0, 10**12):
                rx, ry = x.rank(q, exact_work=work), y.rank(q, exact_work=work)
                same += list(x.ids[rx.order[:10]]) == list(y.ids[ry.order[:10]])
                score_diff = max(score_diff, float(np.abs(rx.mmd2[:10] - ry.mmd2[:10]).max()))
        vx = np.concatenate([s.rff for s in x.segments])[order]
        vy = np.concatenate([s.rff for s in y.segments])
        rel = np.abs(x.self_terms[order] / y.self_terms - 1)
        out = {"entries": n, "update_s": update_s, "direct_s": direct_s,
               "vector_max_abs_diff": float(np.abs(vx - vy).max()),
               "self_term_max_rel_diff": float(rel.max()),
               "same_top10": same, "searches": 2 * len(base.queries),
               "top10_mmd2_max_abs_diff": score_diff}  # fmt: skip
    print(json.dumps(out), flush=True)
    return out


def _measure(folder: Path, n: int, base: Setup) -> dict[str, Any]:
    """Build an index of ``n`` entries in ``folder``; time and score each setting on it."""
    atoms = base.atoms(n)
    build_s = build_direct(folder, base, atoms)
    seg_bytes = sum(f.stat().st_size for p in folder.glob("seg-*") for f in p.iterdir())
    t0 = time.perf_counter()
    index = PersistentIndex.load(folder)
    assert index is not None and len(index) == n
    index.read_sets = GeneratedSets(base, atoms)
    index.rank(base.queries[0])  # loads the IVF lists / contiguous prefixes once
    load_s = time.perf_counter() - t0
    terms = base.self_terms(atoms)
    tops = [base.exact_top10(q, atoms, terms) for q in base.queries]
    stages = Stages()
    path = "IVF lists" if n >= stages.ivf_min else ("two stages" if n > stages.one_stage_max
                                                   else "one stage")  # fmt: skip
    settings = [(c, stages) for c in CANDIDATES]
    if n >= stages.ivf_min:
        settings.append((RERANK, replace(stages, nprobe=16)))
    by_c = []
    for c, st in settings:
        search = partial(index.rank, candidates=c, stages=st)
        found, stats = time_queries(search, base.queries, REPEATS)
        hits = sum(len(t & set(r.order[:10].tolist())) for t, r in zip(tops, found, strict=True))
        by_c.append({"candidates": c, "shortlist": st.shortlist, "nprobe": st.nprobe,
                     "recall_at_10": hits / (10 * len(base.queries)), **stats})  # fmt: skip
        print(json.dumps(by_c[-1]), flush=True)
    row = {"entries": n, "synthetic": True, "generated_sets": True, "m": M, "dim": 784,
           "path": path, "segments": len(index.segments), "build_s": build_s,
           "segments_gb": seg_bytes / 1e9, "load_s": load_s,
           "peak_rss_gib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20,
           "load_average": os.getloadavg(), "by_candidates": by_c}  # fmt: skip
    print(json.dumps(row), flush=True)
    return row


def run(sizes: list[int], workdir: Path, seed: int = 0) -> dict[str, Any]:
    base = setup(seed)
    with tempfile.TemporaryDirectory(dir=workdir) as tmp:
        overhead = _zoo_overhead(base.queries, Path(tmp))
    print(f"Zoo.search outside rank: {overhead:.1f} ms", flush=True)
    rows = []
    for n in sizes:
        with tempfile.TemporaryDirectory(dir=workdir) as tmp:
            rows.append(_measure(Path(tmp), n, base))
    return {"benchmark": "search_index", "rows": rows, "queries": len(base.queries),
            "zoo_overhead_ms": overhead, "repeats": REPEATS, "threads": search_threads(),
            "cpus": os.cpu_count(), "seed": seed,
            "note": "entries are SYNTHETIC unions of MNIST atoms, their reduced sets generated "
                    "from the entry ids (benchmarks/_atoms.py)"}  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100000,1000000", help="numbers of entries")
    parser.add_argument("--generated-sets", action="store_true",
                        help="reduced sets generated from entry ids (the only mode)")  # fmt: skip
    parser.add_argument("--workdir", type=Path, default=None, help="where indexes are built")
    parser.add_argument("--check", type=int, default=0, help="compare both builds at N entries")
    parser.add_argument("--quick", action="store_true", help="2,000 entries; no file written")
    args = parser.parse_args(argv)
    if not (args.generated_sets or args.check or args.quick):
        parser.error("pass --generated-sets (sizes beyond 100,000 cannot keep set files here)")
    workdir = args.workdir or Path(tempfile.gettempdir())
    if args.check:
        result = json.loads(OUT.read_text()) if OUT.exists() else {}
        result["check"] = check(args.check, workdir)
        OUT.write_text(json.dumps(result, indent=1) + "\n")
        write_docs()
        return 0
    result = run([2_000] if args.quick else [int(s) for s in args.sizes.split(",")], workdir)
    if not args.quick:
        old = json.loads(OUT.read_text()) if OUT.exists() else {}
        OUT.write_text(json.dumps({**result, "check": old.get("check")}, indent=1) + "\n")
        write_docs()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
