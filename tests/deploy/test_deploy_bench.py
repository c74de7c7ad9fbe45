"""The deployment benchmark's generated tables are current with its stored results."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]


def _bench() -> Any:
    spec = importlib.util.spec_from_file_location("deploy_bench", ROOT / "benchmarks/deploy.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


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
