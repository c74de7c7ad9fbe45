"""Refresh the README's results section from results.json files (generated, never typed).

Usage: python scripts/update_readme.py RESULTS_DIR

Replaces the text between ``<!-- results:start -->`` and ``<!-- results:end -->`` in README.md
with one table per protocol found under RESULTS_DIR (``*/results.json`` or ``results.json``).
"""

from __future__ import annotations

import sys
from pathlib import Path

from recycle.bench.results import Results

START, END = "<!-- results:start -->", "<!-- results:end -->"


def render(results_dir: Path) -> str:
    files = sorted(results_dir.glob("*/results.json")) or sorted(results_dir.glob("results.json"))
    parts = []
    for f in files:
        res = Results.load(f)
        wall = res.meta.get("wall_seconds")
        seeds = res.meta.get("seeds")
        head = f"### {res.protocol}\n\n"
        head += f"Seeds: {seeds}; wall time {wall / 60:.1f} min; from `{f}`.\n\n" if wall else ""
        parts.append(head + res.markdown_table())
    return "\n\n".join(parts)


def main() -> None:
    results_dir = Path(sys.argv[1] if len(sys.argv) > 1 else "results")
    readme = Path("README.md")
    text = readme.read_text()
    if START not in text or END not in text:
        sys.exit(f"README.md has no {START} ... {END} markers")
    before, rest = text.split(START, 1)
    _, after = rest.split(END, 1)
    readme.write_text(before + START + "\n" + render(results_dir) + "\n" + END + after)


if __name__ == "__main__":
    main()
