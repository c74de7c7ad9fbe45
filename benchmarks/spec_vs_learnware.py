"""RKME search side by side with the `learnware` package (0.4.0.post1) on MNIST.

Providers each hold 1,500 MNIST training images of one 3-class subset (40 or 120 providers);
each of 20 users holds 500 fresh test images of one provider's subset. Top-1 is correct when
the best provider holds the user's subset. Both pixel scales: [0, 1] and raw 0-255.
Also: build time per spec, search time per spec (1,000 specs) and for 10,000 specs, mixture
recovery on users mixing two providers' subsets, and the calibration of ``ratio``.

Run:  nice .venv/bin/python benchmarks/spec_vs_learnware.py [--quick] [--part ident|speed|all]
Writes benchmarks/results/spec_vs_learnware.json and spec_calibration.json.
"""

from __future__ import annotations

import os
import tempfile

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")
_HOME = tempfile.mkdtemp(prefix="learnware-home-")  # learnware writes ~/.learnware on import

import argparse  # noqa: E402
import itertools  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402

from recycle.datasets import load  # noqa: E402
from recycle.spec import SpecIndex, build_spec, mixture_search, rank  # noqa: E402
from recycle.spec.format import Spec  # noqa: E402
from recycle.spec.search import RELATED_RATIO  # noqa: E402

RESULTS = Path(__file__).parent / "results"
M = 100
N_PROVIDER = 1500
N_USER = 500


def _learnware():
    old = os.environ.get("HOME")
    os.environ["HOME"] = _HOME
    try:
        import learnware  # noqa: F401
        from learnware.learnware import Learnware
        from learnware.market.easy.searcher import EasyStatSearcher
        from learnware.specification import RKMETableSpecification, Specification
    finally:
        if old is not None:
            os.environ["HOME"] = old
    return Learnware, EasyStatSearcher, RKMETableSpecification, Specification


def lw_build(X: np.ndarray, RK) -> tuple[object, float]:
    t = time.perf_counter()
    spec = RK(gamma=0.1, cuda_idx=-1)
    spec.generate_stat_spec_from_data(X=X.copy(), K=M)
    return spec, time.perf_counter() - t


def lw_scan(user, provider_specs, lw) -> tuple[list[int], float]:
    """The package's own single search (EasyStatSearcher._search_by_rkme_spec_single)."""
    Learnware, EasyStatSearcher, _, Specification = lw
    items = [
        Learnware(
            id=str(i),
            model={"module_path": "none.py", "class_name": "none"},
            specification=Specification(stat_spec={"RKMETableSpecification": s}),
            learnware_dirpath=_HOME,
        )
        for i, s in enumerate(provider_specs)
    ]
    searcher = EasyStatSearcher(organizer=None)
    searcher.stat_spec_type = "RKMETableSpecification"
    t = time.perf_counter()
    _, ranked = searcher._search_by_rkme_spec_single(items, user)
    return [int(x.id) for x in ranked], time.perf_counter() - t


def rc_build(X: np.ndarray, standardise: bool = False) -> tuple[Spec, float]:
    t = time.perf_counter()
    if standardise:  # each party z-scores with its own statistics (the alternative design)
        X = (X - X.mean(0)) / (X.std(0) + 1e-8)
    spec = build_spec(X, m=M, seed=0)
    return spec, time.perf_counter() - t


def identification(ds, users: int, seed: int, lw, quick: bool) -> tuple[list[dict], dict]:
    """40 and 120 providers (the 40 are a subset of the 120; specs built once per provider)."""
    rng = np.random.default_rng(seed)
    subsets = list(itertools.combinations(range(10), 3))
    n_all = 60 if quick else len(subsets)
    all_ids = sorted(rng.choice(len(subsets), n_all, replace=False).tolist())
    small = sorted(rng.choice(all_ids, 40 if not quick else 20, replace=False).tolist())
    Xtr = ds.X_train.reshape(len(ds.X_train), -1).astype(np.float64) / 255.0
    Xte = ds.X_test.reshape(len(ds.X_test), -1).astype(np.float64) / 255.0
    ytr, yte = np.asarray(ds.y_train), np.asarray(ds.y_test)
    prov = {
        s: Xtr[rng.choice(np.flatnonzero(np.isin(ytr, subsets[s])), N_PROVIDER, replace=False)]
        for s in all_ids
    }
    user_sub = rng.choice(small, users, replace=True)  # each user holds one provider's subset
    user_X = [
        Xte[rng.choice(np.flatnonzero(np.isin(yte, subsets[u])), N_USER, replace=False)]
        for u in user_sub
    ]
    settings = {len(small): small, len(all_ids): all_ids}
    rows: dict[int, dict] = {k: {"providers": k, "users": users, "scales": {}} for k in settings}
    calib: dict[str, list] = {"same": [], "diff": []}
    plan = [(v, sc) for v in ("recycle", "learnware") for sc in ("unit", "raw_0_255")]
    plan.append(("recycle_standardised", "unit"))  # z-scoring removes scale: raw is identical
    for variant, scale_name in plan:
        factor = {"unit": 1.0, "raw_0_255": 255.0}[scale_name]
        # learnware (slow to build here) and the design alternative run on the 40 only
        ids = all_ids if variant == "recycle" else small
        specs, times = {}, []
        for s in ids:
            X = prov[s] * factor
            sp, dt = (
                lw_build(X, lw[2])
                if variant == "learnware"
                else rc_build(X, standardise=variant.endswith("standardised"))
            )
            specs[s] = sp
            times.append(dt)
        queries = [
            lw_build(X * factor, lw[2])[0]
            if variant == "learnware"
            else rc_build(X * factor, standardise=variant.endswith("standardised"))[0]
            for X in user_X
        ]
        for k, members in settings.items():
            if not set(members) <= set(specs):
                continue
            plist = [specs[s] for s in members]
            index = SpecIndex(plist) if variant != "learnware" else None
            hits, search_s = 0, []
            for u, q in zip(user_sub, queries, strict=True):
                if variant == "learnware":
                    order, dt = lw_scan(q, plist, lw)
                else:
                    t = time.perf_counter()
                    res = rank(q, index)
                    dt = time.perf_counter() - t
                    order = res.order.tolist()
                    if variant == "recycle" and k == len(all_ids):
                        for pos, i in enumerate(res.order):
                            shared = len(set(subsets[members[i]]) & set(subsets[u]))
                            key = "same" if members[i] == u else "diff"
                            calib[key].append(
                                {"ratio": float(res.ratio[pos]), "shared_classes": shared}
                            )
                hits += int(members[order[0]] == u)
                search_s.append(dt)
            rows[k]["scales"].setdefault(scale_name, {})[variant] = {
                "top1": hits,
                "of": users,
                "build_s_mean": float(np.mean(times)),
                "search_s_mean": float(np.mean(search_s)),
            }
            print(k, scale_name, variant, rows[k]["scales"][scale_name][variant], flush=True)
    return list(rows.values()), {str(len(all_ids)): calib}


def mixture_benchmark(ds, seed: int, n_users: int) -> dict:
    """Users mix 250 + 250 images of two disjoint-subset providers among 40; recover both."""
    rng = np.random.default_rng(seed + 7)
    subsets = list(itertools.combinations(range(10), 3))
    chosen = sorted(rng.choice(len(subsets), 40, replace=False).tolist())
    Xtr = ds.X_train.reshape(len(ds.X_train), -1).astype(np.float64) / 255.0
    Xte = ds.X_test.reshape(len(ds.X_test), -1).astype(np.float64) / 255.0
    ytr, yte = np.asarray(ds.y_train), np.asarray(ds.y_test)
    specs = [
        build_spec(
            Xtr[rng.choice(np.flatnonzero(np.isin(ytr, subsets[s])), N_PROVIDER, replace=False)],
            m=M,
        )
        for s in chosen
    ]
    index = SpecIndex(specs)
    rows = []
    # well-posed truth: two disjoint subsets whose union no other disjoint provider pair has
    # (else e.g. {0,1,2}+{3,4,5} and {0,1,3}+{2,4,5} give the very same 6-class mixture)
    unions: dict[frozenset, list] = {}
    for i, j in itertools.combinations(range(len(chosen)), 2):
        si, sj = set(subsets[chosen[i]]), set(subsets[chosen[j]])
        if not si & sj:
            unions.setdefault(frozenset(si | sj), []).append((i, j))
    unique = [pairs[0] for pairs in unions.values() if len(pairs) == 1]
    picks = rng.choice(len(unique), min(n_users, len(unique)), replace=False)
    for p in picks:
        a, b = unique[p]
        X = np.concatenate(
            [
                Xte[
                    rng.choice(np.flatnonzero(np.isin(yte, subsets[chosen[i]])), 250, replace=False)
                ]
                for i in (a, b)
            ]
        )
        q = build_spec(X, m=M)
        row = {"truth": sorted([int(a), int(b)])}
        for method in ("greedy", "qp"):
            res = mixture_search(q, index, method=method, X=X)
            got = sorted(int(i) for i in res.indices[:2])
            truth_rows = np.repeat([0, 1], 250)
            first = {int(i): k for k, i in enumerate(res.indices)}
            covered = [first.get(int(x), -1) for x in (a, b)]
            agree = float(np.mean(np.asarray(covered)[truth_rows] == res.assignment))
            union = set().union(*(subsets[chosen[int(i)]] for i in res.indices))
            row[method] = {
                "chosen": [int(i) for i in res.indices],
                "classes_recovered": union == set(subsets[chosen[a]]) | set(subsets[chosen[b]]),
                "weights": [round(float(w), 3) for w in res.weights],
                "recovered": got == row["truth"],
                "rows_assigned_to_their_source": agree,
                "mmd2_path": [float(v) for v in res.mmd2_path],
            }
        rows.append(row)
    return {
        "users": len(rows),
        "greedy_recovered": sum(r["greedy"]["recovered"] for r in rows),
        "qp_recovered": sum(r["qp"]["recovered"] for r in rows),
        "greedy_classes_recovered": sum(r["greedy"]["classes_recovered"] for r in rows),
        "qp_classes_recovered": sum(r["qp"]["classes_recovered"] for r in rows),
        "qp_row_assignment_mean": float(
            np.mean([r["qp"]["rows_assigned_to_their_source"] for r in rows])
        ),
        "greedy_row_assignment_mean": float(
            np.mean([r["greedy"]["rows_assigned_to_their_source"] for r in rows])
        ),
        "rows": rows,
    }


def speed(ds, lw, quick: bool) -> dict:
    rng = np.random.default_rng(3)
    X = ds.X_train.reshape(len(ds.X_train), -1).astype(np.float64) / 255.0
    base_lw, base_rc, t_lw, t_rc = [], [], [], []
    for _ in range(3 if quick else 5):
        Xi = X[rng.choice(len(X), N_PROVIDER, replace=False)]
        s, dt = lw_build(Xi, lw[2])
        base_lw.append(s)
        t_lw.append(dt)
        s2, dt2 = rc_build(Xi)
        base_rc.append(s2)
        t_rc.append(dt2)
    out = {
        "build": {
            "n": N_PROVIDER,
            "d": 784,
            "m": M,
            "learnware_s_median": float(np.median(t_lw)),
            "recycle_s_median": float(np.median(t_rc)),
        }
    }
    q = build_spec(X[rng.choice(len(X), N_USER, replace=False)], m=M)
    q_lw, _ = lw_build(X[rng.choice(len(X), N_USER, replace=False)], lw[2])
    n1 = 200 if quick else 1000
    lw_specs = [base_lw[i % len(base_lw)] for i in range(n1)]
    _, t_scan = lw_scan(q_lw, lw_specs, lw)
    cpu_scan = _cpu_timed(lambda: lw_scan(q_lw, lw_specs, lw))
    rc_specs = _jittered(base_rc, n1, rng)
    t = time.perf_counter()
    index = SpecIndex(rc_specs)
    t_index = time.perf_counter() - t
    t_rank = min(_timed(lambda: rank(q, index)) for _ in range(3))
    cpu_rank = min(_cpu_timed(lambda: rank(q, index)) for _ in range(3))
    fast = rank(q, index)
    index.approx = False
    t_exact = min(_timed(lambda: rank(q, index)) for _ in range(2))
    cpu_exact = min(_cpu_timed(lambda: rank(q, index)) for _ in range(2))
    exact = rank(q, index)
    out["search_1000"] = {
        "specs": n1,
        "learnware_scan_s": t_scan,
        "learnware_per_spec_ms": 1e3 * t_scan / n1,
        "recycle_query_s": t_rank,
        "recycle_per_spec_ms": 1e3 * t_rank / n1,
        "recycle_exactly_scored": fast.n_exact,
        "recycle_exact_path_query_s": t_exact,
        "top10_same_as_exact": bool(list(fast.order[:10]) == list(exact.order[:10])),
        "best_found_minus_exact_best": float(fast.mmd2[0] - exact.mmd2[0]),
        "recycle_index_build_s": t_index,
        "speedup": t_scan / t_rank,
        "speedup_exact_path": t_scan / t_exact,
        "cpu_s": {"learnware_scan": cpu_scan, "recycle": cpu_rank, "recycle_exact": cpu_exact},
        "speedup_cpu": cpu_scan / cpu_rank,
        "speedup_cpu_exact_path": cpu_scan / cpu_exact,
        "load_avg": os.getloadavg(),
    }
    print(out, flush=True)
    n2 = 2000 if quick else 10000
    big = _jittered(base_rc, n2, rng)
    t = time.perf_counter()
    index = SpecIndex(big)
    t_index = time.perf_counter() - t
    times = [_timed(lambda: rank(q, index)) for _ in range(3)]
    cpu = [_cpu_timed(lambda: rank(q, index)) for _ in range(3)]
    fast = rank(q, index)
    index.approx = False  # the same index, exact path, for reference and agreement
    t = time.perf_counter()
    exact = rank(q, index)
    t_exact = time.perf_counter() - t
    out["search_10000"] = {
        "specs": n2,
        "points_per_spec": M,
        "d": 784,
        "query_s_best": min(times),
        "query_s_all": times,
        "query_cpu_s_best": min(cpu),
        "exact_query_s": t_exact,
        "prefilter_exactly_scored": fast.n_exact,
        "top10_same_as_exact": bool(list(fast.order[:10]) == list(exact.order[:10])),
        "best_found_minus_exact_best": float(fast.mmd2[0] - exact.mmd2[0]),
        "top10_max_abs_diff": float(np.abs(fast.mmd2[:10] - exact.mmd2[:10]).max()),
        "index_build_s": t_index,
        "load_avg": os.getloadavg(),
    }
    print(out["search_10000"], flush=True)
    return out


def _timed(fn) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def _cpu_timed(fn) -> float:
    """CPU seconds of this process (robust to other jobs sharing the machine; 1 thread)."""
    t = time.process_time()
    fn()
    return time.process_time() - t


def _jittered(base: list[Spec], n: int, rng: np.random.Generator) -> list[Spec]:
    out = []
    for i in range(n):
        s = base[i % len(base)]
        Z = s.Z + rng.normal(scale=0.01, size=s.Z.shape).astype(np.float32)
        out.append(Spec(space=s.space, gamma=s.gamma, Z=Z, beta=s.beta, n=s.n, residual=s.residual))
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--part", default="all", choices=["ident", "speed", "mixture", "all"])
    ap.add_argument("--users", type=int, default=20)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    torch.set_num_threads(1)
    lw = _learnware()
    ds = load("mnist")
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / "spec_vs_learnware.json"
    result: dict = {}
    result["machine"] = {
        "cpu": platform.processor() or platform.machine(),
        "threads": 1,
        "load_avg_at_start": os.getloadavg(),
    }
    if args.part in ("ident", "all"):
        users = 5 if args.quick else args.users
        ident, calib = identification(ds, users, args.seed, lw, args.quick)
        result["identification"] = ident
        (RESULTS / "spec_calibration.json").write_text(json.dumps(_calib_summary(calib), indent=1))
    if args.part in ("mixture", "all"):
        result["mixture"] = mixture_benchmark(ds, args.seed, 4 if args.quick else 10)
        print({k: v for k, v in result["mixture"].items() if k != "rows"}, flush=True)
    if args.part in ("speed", "all"):
        result["speed"] = speed(ds, lw, args.quick)
    merged = json.loads(path.read_text()) if path.exists() else {}  # other parts may have run
    merged.update(result)
    path.write_text(json.dumps(merged, indent=1))


def _calib_summary(calib: dict) -> dict:
    out = {}
    for key, c in calib.items():
        same = np.array([r["ratio"] for r in c["same"]])
        diff = np.array([r["ratio"] for r in c["diff"]])
        by_shared = {
            k: float(np.min([r["ratio"] for r in c["diff"] if r["shared_classes"] == k]))
            for k in (0, 1, 2)
            if any(r["shared_classes"] == k for r in c["diff"])
        }
        out[key] = {
            "same_subset_ratio": {
                "min": float(same.min()),
                "median": float(np.median(same)),
                "max": float(same.max()),
            },
            "different_subset_ratio_min": float(diff.min()),
            "different_subset_ratio_min_by_shared_classes": by_shared,
            "same_called_related": float(np.mean(same <= RELATED_RATIO)),
            "different_called_related": float(np.mean(diff <= RELATED_RATIO)),
            "related_ratio": RELATED_RATIO,
        }
    return out


if __name__ == "__main__":
    main()
