"""The deployment benchmark's generated tables are current with its stored results."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from script_helpers import load_script

ROOT = Path(__file__).resolve().parents[2]


def _bench() -> Any:
    return load_script("deploy", "benchmarks")


def test_readme_and_docs_tables_are_generated_from_the_stored_results() -> None:
    """Fails when README.md or docs/deploy.md were typed by hand or the results changed without
    `python benchmarks/deploy.py --render`."""
    bench = _bench()
    out = json.loads((ROOT / "benchmarks/results/deploy.json").read_text())
    readme = (ROOT / "README.md").read_text()
    block = bench.readme_block(out["kinds"], out["distillation"])
    assert f"<!-- deploy:start -->\n{block}\n<!-- deploy:end -->" in readme
    n_targets = len({r["target"] for r in out["distillation"]})
    note = bench._note(out["quick"], n_targets, out["seeds"])
    page = bench.markdown(out["kinds"], out["distillation"], note)
    assert (ROOT / "docs/deploy.md").read_text() == page
