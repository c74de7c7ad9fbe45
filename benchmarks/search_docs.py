"""The generated pages of the search benchmarks: ``docs/search_zoo.md``, ``docs/search_zoo.png``
and the README's search table (between ``<!-- search:start -->`` and ``<!-- search:end -->``).

Reads ``benchmarks/results/``: ``search_index.json`` (warm search in an index of 10,000 and
100,000 specs, ``benchmarks/search_index.py``), ``search_vectors.json`` (the vector path at
1,000,000, ``benchmarks/search_vectors.py``) and ``search_zoo.json`` (the whole zoo path: cold
``recycle search``, registration, ``benchmarks/search_zoo.py``).

Run: ``python benchmarks/search_docs.py`` (the benchmarks call it after writing their JSON).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
PLOT = ROOT / "docs" / "search_zoo.png"
TABLES = ROOT / "docs" / "search_zoo.md"
README = ROOT / "README.md"
TARGET_MS = 100  # the target for warm search at 100,000 and the vector path at 1M


def _load(name: str) -> dict[str, Any] | None:
    path = RESULTS / name
    return json.loads(path.read_text()) if path.exists() else None


def _fmt(value: Any, digits: int = 3) -> str:
    if value is None:
        return "-"
    return f"{value:.{digits}g}" if isinstance(value, float) else str(value)


def _main_rows(index: dict[str, Any], rerank: int, shortlist: int) -> list[dict[str, Any]]:
    """One row per size of search_index.json at the library's defaults (re-ranked specs and,
    for the two-stage vector pass, its shortlist)."""
    out = []
    for r in index["rows"]:
        out += [{**c, "entries": r["entries"], "load": r["load_average"][0]}
                for c in r["by_candidates"] if c["candidates"] == rerank
                and c.get("shortlist") in (None, shortlist)]  # fmt: skip
    return out


def _best_vector_row(vectors: dict[str, Any]) -> dict[str, Any]:
    """The fastest (CPU) setting of the largest size with recall@10 >= 0.95, else the one
    with the best recall."""
    big = [r for r in vectors["rows"] if r["entries"] == max(x["entries"] for x in vectors["rows"])]
    good = [r for r in big if r["recall_at_10"] >= 0.95]
    if good:
        return min(good, key=lambda r: r["cpu_ms_median"])
    return max(big, key=lambda r: (r["recall_at_10"], -r["cpu_ms_median"]))


def _cascade(r: dict[str, Any]) -> str:
    return (f"{r['first_stage']} on {r['prefix']} features keeps {r['shortlist']}; "
            f"{r['stage2']} keeps {r['keep']}; exact MMD")  # fmt: skip


def readme_block(
    index: dict[str, Any] | None, vectors: dict[str, Any] | None, zoo: dict[str, Any] | None,
    rerank: int, shortlist: int,
) -> str:  # fmt: skip
    lines = [
        "| specs (synthetic, 784-d, m=100) | search | recall@10 vs exact | CPU ms "
        "| wall ms (load) |",
        "|---:|---|---:|---:|---:|",
    ]
    for r in (zoo or {}).get("rows", []):
        lines.append(
            f"| {r['entries']:,} | cold `recycle search` (a new process) | - "
            f"| {1000 * r['cold_cli_cpu_s']:.0f} | {1000 * r['cold_cli_s']:.0f} "
            f"({r['load_average'][0]:.0f}) |"
        )
    if zoo:
        r = zoo["rows"][-1]
        lines.append(
            f"| {r['entries']:,} | warm `Zoo.search` (index loaded) | {_fmt(r['recall_at_10'])} "
            f"| {r['warm_search_cpu_ms']:.0f} | {r['warm_search_ms']:.0f} "
            f"({r['load_average'][0]:.0f}) |"
        )
    for r in _main_rows(index, rerank, shortlist) if index else []:
        lines.append(
            f"| {r['entries']:,} | warm, vector pass + exact MMD of the best {rerank} "
            f"| {_fmt(r['recall_at_10'])} | {r['cpu_ms_median']:.0f} "
            f"| {r['again_ms_median']:.0f} ({r['load']:.0f}) |"
        )
    if vectors:
        v = _best_vector_row(vectors)
        lines.append(
            f"| {v['entries']:,} | warm cascade: {_cascade(v)} | {_fmt(v['recall_at_10'])} "
            f"| {v['cpu_ms_median']:.0f} | {v['again_ms_median']:.0f} "
            f"({v['load_average'][0]:.0f}) |"
        )
    return "\n".join(lines)


def _zoo_lines(zoo: dict[str, Any]) -> list[str]:
    first = zoo["rows"][0]
    lines = [
        "", "## The zoo path: registration, cold `recycle search`, warm `Zoo.search`", "",
        f"One SQLite zoo grown to each size ({zoo['note']}). Registration: per entry with the "
        "index kept up to date (all entries up to 1,000; beyond, the entries were registered "
        "without the index step, the index caught up in one sync, and the last "
        f"{zoo['rows'][-1].get('registered_with_index', 20)} were registered with it). Cold: "
        "a new `recycle search QUERY.json --zoo Z --json` process, imports included (median "
        "of 3); ratios to the smallest zoo. Warm: `Zoo.search(top=5)` in a process that has "
        "searched once (median of 5 queries x 3). CPU is process time; wall includes waiting on "
        "a loaded 2-core machine (load average in the last column).", "",
        "| entries | register ms/entry (index kept) | bulk ms/entry, catch-up sync s "
        "| cold CLI s (CPU s) | cold ratio wall / CPU | CLI peak RSS MiB "
        "| warm ms (CPU ms) | recall@10 | index MB | load |",
        "|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|",
    ]  # fmt: skip
    for r in zoo["rows"]:
        bulk = (f"{r['bulk_ms_per_entry']:.0f}, {r['catch_up_sync_s']:.0f}"
                if r.get("bulk_ms_per_entry") else "-")  # fmt: skip
        lines.append(
            f"| {r['entries']:,} | {r['register_ms_per_entry']:.0f} | {bulk} "
            f"| {r['cold_cli_s']:.2f} ({r['cold_cli_cpu_s']:.2f}) "
            f"| {r['cold_cli_s'] / first['cold_cli_s']:.2f} / "
            f"{r['cold_cli_cpu_s'] / first['cold_cli_cpu_s']:.2f} "
            f"| {r['cold_cli_peak_rss_mib']:.0f} "
            f"| {r['warm_search_ms']:.1f} ({r['warm_search_cpu_ms']:.1f}) "
            f"| {_fmt(r['recall_at_10'])} | {r['index_bytes'] / 1e6:.0f} "
            f"| {r['load_average'][0]:.1f} |"
        )
    return lines


def _vector_lines(vectors: dict[str, Any]) -> list[str]:
    lines = [
        "", f"## The vector path at 1,000,000: a three-stage cascade ({vectors['note']})", "",
        f"Per query, timed end to end: the query's feature vector; faiss over the first "
        f"features of every entry keeps a shortlist (by L2 on the prefixes, or by inner product "
        f"with the entry's exact self-term appended: `self_s - 2 (D/P) v_q[:P].v_s[:P]`); the "
        f"shortlist re-scored on all 1,024 features, with the exact self-term "
        f"(`self_s - 2 v_q.v_s`) or plain L2, keeps `keep`; their exact MMD from their reduced "
        f"sets picks the top 10. This cascade lives in `benchmarks/search_vectors.py`; a zoo's "
        f"index (`recycle.spec.index`) scans its prefixes flat, without inverted lists. "
        f"{vectors['queries']} real queries x {vectors['repeats']}, one thread; `kept recall` "
        "is the share of the exact top 10 among the entries stage 2 kept.", "",
        "| specs | first stage | shortlist | stage 2 | keep | recall@10 | kept recall | CPU ms "
        "| wall ms, repeat (max) | wall ms, first | load | build (s) | peak RSS (GiB) |",
        "|---:|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]  # fmt: skip
    for r in vectors["rows"]:
        lines.append(
            f"| {r['entries']:,} | {r['first_stage']} on {r['prefix']} features "
            f"| {r['shortlist']} | {r['stage2']} | {r['keep']} | {_fmt(r['recall_at_10'])} "
            f"| {_fmt(r['kept_recall'])} | {r['cpu_ms_median']:.1f} "
            f"| {r['again_ms_median']:.1f} ({r['again_ms_max']:.0f}) "
            f"| {r['first_ms_median']:.1f} | {r['load_average'][0]:.1f} | {r['build_s']:.0f} "
            f"| {r['peak_rss_gib']:.2f} |"
        )
    return lines


def _index_lines(index: dict[str, Any]) -> list[str]:
    lines = [
        "", f"## Warm search in the index ({index['note']})", "",
        f"`PersistentIndex.rank` on an index loaded once, one thread "
        f"(`RECYCLE_SEARCH_THREADS={index['threads']}`), {index['queries']} real MNIST "
        f"queries x {index['repeats']}; CPU ms is the process time of one search (the wall "
        f"time on an idle core), wall ms the median of the repeats (sets in the page cache) "
        f"and of the first search of each query. `Zoo.search` adds "
        f"{index['zoo_overhead_ms']:.1f} ms outside `rank` (catalog check, top entries).", "",
        "| specs | re-ranked | shortlist | recall@10 | CPU ms | wall ms, repeat (max) "
        "| wall ms, first | load | index build (s) | segments (MB) | reduced sets (GB) |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]  # fmt: skip
    for r in index["rows"]:
        for c in r["by_candidates"]:
            lines.append(
                f"| {r['entries']:,} | {c['candidates']} | {_fmt(c.get('shortlist'))} "
                f"| {_fmt(c['recall_at_10'])} "
                f"| {c['cpu_ms_median']:.0f} | {c['again_ms_median']:.0f} "
                f"({c['again_ms_max']:.0f}) | {c['first_ms_median']:.0f} "
                f"| {r['load_average'][0]:.1f} | {r['build_s']:.0f} | {r['segments_mb']:.0f} "
                f"| {r['sets_gb']:.2f} |"
            )
    if index.get("check"):
        ch = index["check"]
        lines += [
            "",
            f"Index built with the index's writers from atom sums, checked against "
            f"`update()` on {ch['entries']:,} entries: same top 10 in {ch['same_top10']} "
            f"searches, vectors within {ch['vector_max_abs_diff']:.1g}, self-terms "
            f"within {ch['self_term_max_rel_diff']:.1g} (relative); `update()` took "
            f"{ch['update_s']:.0f} s, the direct build {ch['direct_s']:.0f} s.",
        ]
    return lines


def page(index: dict[str, Any] | None, vectors: dict[str, Any] | None,
         zoo: dict[str, Any] | None) -> str:  # fmt: skip
    """The Markdown of docs/search_zoo.md."""
    lines = ["# Spec search at zoo scale (generated by benchmarks/search_docs.py; do not edit)", "",
             "![search time against zoo size](search_zoo.png)"]  # fmt: skip
    lines += _zoo_lines(zoo) if zoo else []
    lines += _index_lines(index) if index else []
    lines += _vector_lines(vectors) if vectors else []
    return "\n".join(lines) + "\n"


def plot(index: dict[str, Any] | None, vectors: dict[str, Any] | None,
         zoo: dict[str, Any] | None, rerank: int, shortlist: int, path: Path) -> None:  # fmt: skip
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.5, 5))
    if zoo:
        n = [r["entries"] for r in zoo["rows"]]
        ax.plot(n, [1000 * r["cold_cli_cpu_s"] for r in zoo["rows"]], "v-",
                label="cold recycle search, CPU time")  # fmt: skip
        ax.plot(n, [r["warm_search_cpu_ms"] for r in zoo["rows"]], "^-",
                label="warm Zoo.search, CPU time")  # fmt: skip
    if index:
        rows = _main_rows(index, rerank, shortlist)
        n = [r["entries"] for r in rows]
        ax.plot(n, [r["cpu_ms_median"] for r in rows], "o-", label="warm index search, CPU time")
        ax.plot(n, [r["again_ms_median"] for r in rows], "o--", label="warm index search, wall")
    if vectors:
        v = _best_vector_row(vectors)
        ax.plot([v["entries"]], [v["cpu_ms_median"]], "s",
                label=f"cascade, CPU time (recall@10 {v['recall_at_10']:.2f})")  # fmt: skip
    ax.axhline(TARGET_MS, color="grey", lw=0.8, ls="-.", label="100 ms target (warm)")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("specs in the zoo (synthetic, 784-d, m=100)")
    ax.set_ylabel("milliseconds per search")
    ax.legend(fontsize="small", loc="upper center", bbox_to_anchor=(0.5, -0.15), ncol=2)
    ax.grid(True, which="both", alpha=0.3)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)


def write_docs() -> None:
    """Regenerate the page, the plot and the README's search table from the results."""
    from recycle.spec.index import RERANK, SHORTLIST

    index, vectors = _load("search_index.json"), _load("search_vectors.json")
    zoo = _load("search_zoo.json")
    plot(index, vectors, zoo, RERANK, SHORTLIST, PLOT)
    TABLES.write_text(page(index, vectors, zoo))
    if index or vectors or zoo:
        text = README.read_text()
        table = readme_block(index, vectors, zoo, RERANK, SHORTLIST)
        block = f"<!-- search:start -->\n{table}\n<!-- search:end -->"
        new = re.sub(r"<!-- search:start -->.*?<!-- search:end -->", block, text, flags=re.S)
        README.write_text(new)


if __name__ == "__main__":
    write_docs()
