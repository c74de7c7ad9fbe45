"""Refresh the generated benchmark results (never typed) in docs/results.md and README.md.

Usage: python scripts/update_readme.py RESULTS_DIR

Replaces the text between ``<!-- results:start -->`` and ``<!-- results:end -->``

- in ``docs/results.md`` with every table: one section per protocol found under RESULTS_DIR
  (``*/results.json`` or ``results.json``), after the wall times that ``scripts/bench.sh``
  logged in ``RESULTS_DIR/bench-clock.jsonl`` (the total over every sitting of a stopped and
  resumed run) and ``RESULTS_DIR/bench-runs.jsonl`` (each finished protocol);
- in ``README.md`` with the headline table only (per benchmark and shots: the no-source
  baseline, the best fixed recycling method and ``auto``) and a link to docs/results.md.
"""

from __future__ import annotations

import itertools
import json
import sys
from pathlib import Path

from recycle.bench.results import Results

START, END = "<!-- results:start -->", "<!-- results:end -->"


def describe(res: Results, source: Path, clock_seconds: float | None = None) -> str:
    """One line on how the table was produced (seeds, scale, wall time, failures).

    ``clock_seconds``: the protocol's wall time summed over the sittings of a stopped and
    resumed ``make bench`` (its clock); it replaces the merged runs' own wall times, which
    count only since each run last started.
    """
    meta = res.meta
    bits = [f"seeds: {meta.get('seeds', '?')}"]
    if meta.get("quick"):
        bits.append("**quick variant**")
    subset = meta.get("subset")
    if subset:
        what = ", ".join(f"{k}={v}" for k, v in subset.items() if v)
        bits.append(f"**subset of the full protocol** ({what})")
    if clock_seconds is not None:
        bits.append(f"wall time {clock_seconds / 60:.1f} min over every sitting (the clock)")
    elif meta.get("wall_seconds") is not None:
        bits.append(f"wall time {meta['wall_seconds'] / 60:.1f} min")
    if meta.get("total") and meta.get("done", 0) < meta["total"]:
        bits.append(f"**partial run: {meta['done']} of {meta['total']} fits**")
    if meta.get("stopped_parts"):
        bits.append(f"**{meta['stopped_parts']} of the merged runs stopped before their end**")
    parts = meta.get("parts") or []
    if parts:
        subsets = [p.get("subset") for p in parts if p.get("subset")]
        bits.append(f"merged from {len(parts)} runs")
        walls = [p["wall_seconds"] / 60 for p in parts if p.get("wall_seconds") is not None]
        if walls and meta.get("wall_seconds") is None and clock_seconds is None:
            listed = ", ".join(f"{w:.1f}" for w in walls)
            bits.append(f"their wall times {listed} min (each since it last started)")
        if subsets:
            kinds = sorted({", ".join(f"{k}={v}" for k, v in s.items() if v) for s in subsets})
            bits.append(f"**runs on subsets of the full protocol** ({'; '.join(kinds)})")
    if meta.get("note"):
        bits.append(str(meta["note"]))
    failures = meta.get("failures") or []
    if failures:
        bits.append(f"{len(failures)} failed fits (see {source})")
    return "; ".join(bits) + f"; from `{source}`."


def _bench_log(log: Path) -> list[dict]:
    """The lines of a ``scripts/bench.sh`` JSON-lines log, without its QUICK=1 runs ([] if
    there is no log)."""
    if not log.exists():
        return []
    lines = [json.loads(line) for line in log.read_text().splitlines() if line.strip()]
    return [line for line in lines if not line.get("quick")]


def bench_runs(results_dir: Path) -> str:
    """A table of the ``make bench`` wall times logged in ``bench-runs.jsonl`` ('' if none)."""
    log = results_dir / "bench-runs.jsonl"
    runs = _bench_log(log)
    if not runs:
        return ""
    lines = [
        "`make bench` wall times (`scripts/bench.sh`, logged in "
        f"`{log}`; *resumed*: it went on from shards an earlier run had started):",
        "",
        "| finished (UTC) | commit | what | parallel jobs | wall |",
        "|---|---|---|---|---|",
    ]
    for r in runs:
        resumed = " (*resumed*)" if r.get("resumed") else ""
        lines.append(
            f"| {r['finished'][:16].replace('T', ' ')} | {r['commit']} | {r['what']}{resumed} "
            f"| {r['jobs']} | {r['seconds'] / 60:.1f} min |"
        )
    return "\n".join(lines)


def clock_totals(ticks: list[dict]) -> tuple[dict[str, float], int]:
    """Seconds per phase summed over sittings, and the number of sittings, from clock ticks.

    Each tick closes the interval since the previous tick of its sitting, spent in the phase it
    names; a sitting that was killed loses at most the minute after its last tick.

    >>> ticks = [{"sitting": "a", "what": "start", "t": 0}, {"sitting": "a", "what": "x", "t": 60},
    ...          {"sitting": "b", "what": "x", "t": 500}, {"sitting": "b", "what": "y", "t": 530}]
    >>> clock_totals(ticks)
    ({'x': 60.0, 'y': 30.0}, 2)
    """
    by_sitting: dict[str, list[dict]] = {}
    for tick in ticks:
        by_sitting.setdefault(tick["sitting"], []).append(tick)
    totals: dict[str, float] = {}
    for rows in by_sitting.values():
        rows.sort(key=lambda r: r["t"])
        for before, tick in itertools.pairwise(rows):
            totals[tick["what"]] = totals.get(tick["what"], 0.0) + float(tick["t"] - before["t"])
    return totals, len(by_sitting)


def bench_clock(results_dir: Path) -> str:
    """The total ``make bench`` wall time per phase over all sittings ('' if no clock log);
    phases under 3 s (the script's own start and README steps) are counted, not listed."""
    log = results_dir / "bench-clock.jsonl"
    ticks = _bench_log(log)
    if not ticks:
        return ""
    totals, sittings = clock_totals(ticks)
    commits = ", ".join(dict.fromkeys(t["commit"] for t in ticks))
    total = sum(totals.values())
    lines = [
        f"**`make bench` wall time: {total / 3600:.1f} h** in {sittings} sitting(s) "
        f"(stopped and resumed where it stopped; set-up not counted; commit(s) {commits}; "
        f"a clock in `scripts/bench.sh` ticks every minute into `{log}`):",
        "",
        "| phase | wall |",
        "|---|---|",
        *(f"| {what} | {sec / 60:.1f} min |" for what, sec in totals.items() if sec >= 3),
        f"| **all** | **{total / 60:.1f} min** |",
    ]
    return "\n".join(lines)


def render(results_dir: Path) -> str:
    """Markdown for every ``results.json`` under ``results_dir`` (one section per protocol)."""
    files = sorted(results_dir.glob("*/results.json")) or sorted(results_dir.glob("results.json"))
    clock, _ = clock_totals(_bench_log(results_dir / "bench-clock.jsonl"))
    parts = []
    for f in files:
        res = Results.load(f)
        name = f.parent.name if f.parent != results_dir else res.protocol
        title = name if name == res.protocol else f"{name} (protocol {res.protocol})"
        section = f"### {title}\n\n{describe(res, f, clock.get(name))}\n\n{res.markdown_table()}"
        if "independent" in res.methods():
            section += (
                "\n\nMean gain over `independent` in points on the same target and seed (how "
                "many of them are more than 2 points worse than `independent`):\n\n"
                + res.gain_table()
            )
        findings = res.findings()
        if findings:
            section += "\n\n" + "\n".join(f"- {line}" for line in findings)
        parts.append(section)
    timing = [t for t in (bench_clock(results_dir), bench_runs(results_dir)) if t]
    return "\n\n".join([*timing, *parts])


#: Protocol folders in the headline table, in order (others appear in docs/results.md only).
HEADLINE = ("stream28", "stream28-eft-base", "realzoo", "text")


def headline(results_dir: Path) -> str:
    """The README's table: per benchmark and shots, the no-source baselines, the best fixed
    method and ``auto`` (mean accuracy in %); '' when none of :data:`HEADLINE` has results.

    >>> from recycle.bench.results import Row
    >>> import tempfile
    >>> res = Results("toy")
    >>> for method, acc in [("independent", 0.8), ("mcw_knn_m3", 0.9), ("auto", 0.85)]:
    ...     res.add(Row("t0", method, 3, 25, acc, 1.0, 10, 0))
    >>> root = Path(tempfile.mkdtemp())
    >>> _ = res.save(root / "stream28" / "results.json")
    >>> print(headline(root).splitlines()[2])
    | stream28 | 25 | 80.0 | – | mcw_knn_m3 90.0 | 85.0 |
    """
    rows = []
    for name in HEADLINE:
        path = results_dir / name / "results.json"
        if not path.exists():
            continue
        res = Results.load(path)
        summ = res.summary()
        for shots in res.shots():
            best = res.best_fixed(shots, summ)
            if best is None or ("auto", shots) not in summ:
                continue
            cells = [summ.get((m, shots)) for m in ("independent", "independent_lenet")]
            cells += [summ[(best, shots)], summ[("auto", shots)]]
            ind, lenet, fixed, auto = (
                "–" if c is None else f"{100 * c['mean']:.1f}" for c in cells
            )
            rows.append(f"| {name} | {shots} | {ind} | {lenet} | {best} {fixed} | {auto} |")
    if not rows:
        return ""
    head = [
        "| benchmark | shots | independent | independent_lenet | best fixed method | auto |",
        "|---|---|---|---|---|---|",
    ]
    return "\n".join(head + rows)


def _split(path: Path) -> tuple[str, str]:
    """The text of ``path`` before and after its marked block (exit if it has none)."""
    text = path.read_text()
    if START not in text or END not in text:
        sys.exit(f"{path} has no {START} ... {END} markers")
    before, rest = text.split(START, 1)
    return before, rest.split(END, 1)[1]


def main() -> None:
    results_dir = Path(sys.argv[1] if len(sys.argv) > 1 else "results")
    docs, readme = Path("docs/results.md"), Path("README.md")
    parts = {docs: _split(docs), readme: _split(readme)}  # both checked before either is written
    summary = headline(results_dir)
    link = "Every table, with gains, findings and wall times: [docs/results.md](docs/results.md)."
    blocks = {docs: render(results_dir), readme: f"{summary}\n\n{link}" if summary else link}
    for path, (before, after) in parts.items():
        path.write_text(before + START + "\n" + blocks[path] + "\n" + END + after)


if __name__ == "__main__":
    main()
