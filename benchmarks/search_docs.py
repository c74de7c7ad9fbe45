"""The generated pages of the search benchmarks: ``docs/search_zoo.md``, ``docs/search_zoo.png``
and the README's search table (between ``<!-- search:start -->`` and ``<!-- search:end -->``).

Reads ``benchmarks/results/``: ``search_index.json`` (warm search in an index of 100,000 specs,
the cascade, and 1,000,000, its IVF lists: ``benchmarks/search_index.py``) and
``search_zoo.json`` (the whole zoo path: cold ``recycle search``, registration, warm
``Zoo.search``: ``benchmarks/search_zoo.py``).

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


def _main_rows(index: dict[str, Any], rerank: int, nprobe: int) -> list[dict[str, Any]]:
    """One row per size of search_index.json at the library's defaults (re-ranked specs, IVF
    cells probed)."""
    out = []
    for r in index["rows"]:
        out += [{**c, "entries": r["entries"], "path": r["path"], "load": r["load_average"][0]}
                for c in r["by_candidates"] if c["candidates"] == rerank
                and c.get("nprobe", nprobe) == nprobe]  # fmt: skip
    return out


def readme_block(
    index: dict[str, Any] | None, zoo: dict[str, Any] | None, rerank: int, nprobe: int
) -> str:
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
    for r in _main_rows(index, rerank, nprobe) if index else []:
        lines.append(
            f"| {r['entries']:,} | warm index search: {r['path']}, exact MMD of the best "
            f"{rerank} | {_fmt(r['recall_at_10'])} | {r['cpu_ms_median']:.0f} "
            f"| {r['again_ms_median']:.0f} ({r['load']:.0f}) |"
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


def _index_lines(index: dict[str, Any]) -> list[str]:
    lines = [
        "", "## Warm search in the index at 100,000 and 1,000,000 specs", "",
        f"The {index['note']}. "
        f"`PersistentIndex.rank` with the library's defaults on an index loaded once, one thread "
        f"(`RECYCLE_SEARCH_THREADS={index['threads']}`), {index['queries']} real MNIST "
        f"queries x {index['repeats']}; recall@10 against exact search over all entries. CPU "
        f"ms is the process time of one search (the wall time on an idle core), wall ms the "
        f"median of the repeats and of the first search of each query. `Zoo.search` adds "
        f"{index['zoo_overhead_ms']:.1f} ms outside `rank` (catalog check, top entries). Build: "
        f"vectors, segments and IVF lists, one thread; peak RSS of the benchmark process.", "",
        "| specs | path | segments | re-ranked | IVF cells probed | recall@10 | CPU ms "
        "| wall ms, repeat (max) | wall ms, first | load | build (s) | segments (GB) "
        "| peak RSS (GiB) |",
        "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]  # fmt: skip
    for r in index["rows"]:
        for c in r["by_candidates"]:
            probed = c["nprobe"] if r["path"] == "IVF lists" else "-"
            lines.append(
                f"| {r['entries']:,} | {r['path']} | {r['segments']} | {c['candidates']} "
                f"| {probed} | {_fmt(c['recall_at_10'])} | {c['cpu_ms_median']:.1f} "
                f"| {c['again_ms_median']:.1f} ({c['again_ms_max']:.0f}) "
                f"| {c['first_ms_median']:.0f} | {r['load_average'][0]:.1f} "
                f"| {r['build_s']:.0f} | {r['segments_gb']:.2f} | {r['peak_rss_gib']:.2f} |"
            )
    if index.get("check"):
        ch = index["check"]
        lines += [
            "",
            f"Index written directly from atom sums, checked against `update()` on "
            f"{ch['entries']:,} entries: same top 10 in {ch['same_top10']} of "
            f"{ch['searches']} searches (exact scan and vector stages), vectors within "
            f"{ch['vector_max_abs_diff']:.1g}, self-terms within "
            f"{ch['self_term_max_rel_diff']:.1g} (relative); `update()` took "
            f"{ch['update_s']:.1f} s, the direct build {ch['direct_s']:.1f} s.",
        ]
    return lines


PATHS = [
    "", "## Which path serves which size", "",
    "- `recycle.spec.rank(query, specs)`: a list of specs in memory (a study, a few hundred); "
    "exact, with a PCA prefilter past 50,000 reduced points.",
    "- A zoo (`Zoo.search`, `recycle search`, the service) keeps a persistent index per space "
    "(`recycle.spec.index`); how it ranks is `recycle.spec.cascade`, every stage by the same "
    "score, `self_s - 2 v_q . v_s` (the spec's exact self-term and its random-feature vector):",
    "  - up to ~64 specs of m=100 at 784-d (5M numbers): exact MMD against every spec;",
    "  - up to 16,384 specs: the score on all 1,024 features, then exact MMD of the best 32;",
    "  - above: the score on the first 256 features keeps 2,048, re-scored on all 1,024, then "
    "exact MMD of the best 32;",
    "  - from 200,000 specs: that first stage probes 32 of up to 1,024 faiss IVF cells of each "
    "segment of at least 16,384 specs (`recycle.spec.ivf`, built when the segment is written; "
    "sphere padding makes the L2 cells rank by the score); `recycle zoo fsck` reports missing "
    "lists, `fsck --repair` and `recycle zoo reindex` rebuild them.",
    "- pgvector (the issue's other vector index, for PostgreSQL catalogs) is not in this "
    "machine's Debian sources; the index lives beside the artifact store whatever the catalog.",
]  # fmt: skip


def page(index: dict[str, Any] | None, zoo: dict[str, Any] | None) -> str:
    """The Markdown of docs/search_zoo.md."""
    lines = ["# Spec search at zoo scale (generated by benchmarks/search_docs.py; do not edit)", "",
             "![search time against zoo size](search_zoo.png)"]  # fmt: skip
    lines += PATHS
    lines += _zoo_lines(zoo) if zoo else []
    lines += _index_lines(index) if index else []
    return "\n".join(lines) + "\n"


def plot(index: dict[str, Any] | None, zoo: dict[str, Any] | None, rerank: int, nprobe: int,
         path: Path) -> None:  # fmt: skip
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
        rows = _main_rows(index, rerank, nprobe)
        n = [r["entries"] for r in rows]
        ax.plot(n, [r["cpu_ms_median"] for r in rows], "o-", label="warm index search, CPU time")
        ax.plot(n, [r["again_ms_median"] for r in rows], "o--", label="warm index search, wall")
        for r in rows:
            ax.annotate(f"{r['path']}, recall@10 {r['recall_at_10']:.2f}",
                        (r["entries"], r["cpu_ms_median"]), fontsize="x-small",
                        textcoords="offset points", xytext=(-60, -12))  # fmt: skip
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
    from recycle.spec.cascade import RERANK, Stages

    index, zoo = _load("search_index.json"), _load("search_zoo.json")
    nprobe = Stages().nprobe
    plot(index, zoo, RERANK, nprobe, PLOT)
    TABLES.write_text(page(index, zoo))
    if index or zoo:
        text = README.read_text()
        table = readme_block(index, zoo, RERANK, nprobe)
        block = f"<!-- search:start -->\n{table}\n<!-- search:end -->"
        new = re.sub(r"<!-- search:start -->.*?<!-- search:end -->", block, text, flags=re.S)
        README.write_text(new)


if __name__ == "__main__":
    write_docs()
