"""text_fewshot's LoRA methods on the text LoRA library (the quick one, ``library`` fixture of
``tests/text_library_helpers.py``): they run beside the encoder-pool methods, and they select
among the adapters of the current library version only."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from recycle.bench.protocols import run_protocol
from recycle.bench.results import Results
from recycle.bench.text_library import (
    QUICK_TASKS,
    TextLibraryRecipe,
    TextLibrarySummary,
    _register,
    build_text_library,
    text_card,
)
from recycle.zoo import Zoo


def test_text_fewshot_runs_lora_strategies_on_the_library_beside_the_baselines(
    library: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """text_fewshot's LoRA methods run on the text LoRA library (here the quick one, from the
    fixture's cache) while the other methods keep the protocol's encoder pool; both land in one
    results file."""
    monkeypatch.setenv("RECYCLE_CACHE", str(library["root"] / "cache"))
    checkpoint = tmp_path / "rows.json"
    res = run_protocol(
        "text_fewshot", quick=True, seeds=1, methods=("tfidf_logreg", "lorahub_m3"),
        checkpoint=str(checkpoint),
    )  # fmt: skip
    by = {r.method: r for r in res.rows}
    assert sorted(by) == ["lorahub_m3", "tfidf_logreg"] and not res.meta["failures"]
    adapters = {f"{library['summary']['prefix']}.{t.name}" for t in QUICK_TASKS}
    assert set(by["lorahub_m3"].extra["selected"]) == adapters  # m=3 of 3, never the base
    assert by["lorahub_m3"].extra["strategy"] == "lorahub"
    assert by["lorahub_m3"].target == by["tfidf_logreg"].target
    assert "minilm_l6.onnx" in res.meta["sources"] and len(res.meta["lora_pool"]) == 4
    assert len(Results.load(checkpoint).rows) == 2


def test_text_fewshot_lora_methods_leave_out_another_library_versions_entries(
    library: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """#22: the benchmark cache's zoo kept library versions 1 and 2 side by side (each task's
    adapter twice, and version 1's leaky review-vs-plot adapter): m=3 selected one task twice.
    Here the zoo also holds a copy of an adapter under another version's prefix; the LoRA
    methods never select it and the run's pool lists the current version only."""
    cache = tmp_path / "cache"
    shutil.copytree(library["root"] / "cache" / "textlora", cache / "textlora")
    monkeypatch.setenv("RECYCLE_CACHE", str(cache))
    zoo = Zoo.open(cache / "text_fewshot_zoo_quick")  # where the protocol keeps the pool
    build_text_library(zoo, TextLibraryRecipe(quick=True))  # from the cache: nothing trained
    prefix = library["summary"]["prefix"]
    adapters = {f"{prefix}.{t.name}" for t in QUICK_TASKS}
    specs = {e.name: spec for e, spec in zoo.specs(zoo.get(min(adapters)).spec_space or "")}
    for task in QUICK_TASKS:  # every adapter twice, as in the full cache
        name = f"{prefix}.{task.name}"
        stale = zoo.load(name)
        stale.source_id = name.replace(prefix, "textloraq.s0-000000000000")
        card = text_card(stale, task, 48)
        _register(zoo, stale, card, specs[name], TextLibrarySummary("", ""))
    assert len(zoo.list()) == 7
    res = run_protocol(
        "text_fewshot", quick=True, seeds=1, methods=("lorahub_m3",),
        checkpoint=str(tmp_path / "rows.json"),
    )  # fmt: skip
    (row,) = res.rows
    assert not res.meta["failures"]
    assert set(row.extra["selected"]) == adapters
    assert sorted(ref.split("@")[0] for ref in res.meta["lora_pool"]) == sorted(
        [f"{prefix}.base", *adapters]
    )
