"""Merge results.json files of one protocol run in parts (by shots, seeds or targets).

Usage: python scripts/merge_results.py OUT_DIR PART_DIR [PART_DIR ...]

Writes OUT_DIR/results.json and OUT_DIR/report.html. A fit measured in two parts keeps the later
part's row, so list a re-run after the run it replaces.
"""

from __future__ import annotations

import sys
from pathlib import Path

from recycle.bench.report import write_report
from recycle.bench.results import Results


def main() -> None:
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    out, parts = Path(sys.argv[1]), [Path(p) for p in sys.argv[2:]]
    merged = Results.merge([Results.load(p / "results.json") for p in parts])
    merged.meta["merged_from"] = [str(p) for p in parts]
    path = merged.save(out / "results.json")
    write_report(merged, out / "report.html")
    print(f"wrote {path} ({len(merged.rows)} rows) and {out / 'report.html'}")


if __name__ == "__main__":
    main()
