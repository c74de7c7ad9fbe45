"""``recycle demo`` and ``recycle zoo build-demo`` on the tiny (quick) variant of the demo zoo."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from recycle.adapt.strategies import Independent
from recycle.bench.demo import DemoConfig, build_demo_zoo, demo_zoo_names, pick_target, run_demo
from recycle.cli import main
from recycle.cli.demo import _render

#: The quick stream28 zoo is cached across sessions (keyed by its recipe's hash) and shared with
#: tests/bench/test_bench_protocols.py, so only the first session pays for training it.
STREAM28_CACHE = str(Path.home() / ".cache" / "recycle" / "stream28")


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, Any, Path]:
    from recycle.zoo import Zoo

    root = tmp_path_factory.mktemp("demo")
    zoo = Zoo.open(root / "zoo")
    config = DemoConfig(quick=True, cache_dir=STREAM28_CACHE)
    return run_demo(zoo, root / "out", config), zoo, root / "out"


@pytest.mark.slow
def test_demo_runs_the_whole_flow(demo_run: tuple[dict, Any, Path]) -> None:
    result, _, out = demo_run
    assert result["target"]["shots"] == 25 and len(result["target"]["classes"]) == 5
    assert result["search"] and result["search"][0]["rank"] == 1
    scored = [r for r in result["ranking"] if r["score"] is not None]
    assert len(scored) >= 9  # every stream28 source and the digit CNN loaded and scored
    assert result["strategy"] and isinstance(result["m"], int)
    n_test = result["target"]["test_size"]
    for key in ("recycled", "independent"):
        correct = result[key]["accuracy"] * n_test  # scored on the whole test set
        assert abs(correct - round(correct)) <= 5e-5 * n_test + 1e-9  # accuracy kept to 4 dp
        assert result[key]["fit_seconds"] > 0 and result[key]["trainable_params"] > 0
    # the baseline is the small network trained on the same shots, scored on the same test set
    task = pick_target(*DemoConfig(quick=True).tasks())
    X, y = task.sample(25, seed=0)
    small = Independent(seed=0).fit(X, y)
    assert result["independent"]["accuracy"] == round(small.score(task.X_test, task.y_test), 4)
    assert result["independent"]["trainable_params"] == small.trainable_params_
    # the demo's headline: recycling beats the small network trained on the target alone
    gain = result["recycled"]["accuracy"] - result["independent"]["accuracy"]
    assert result["gain"] == pytest.approx(gain, abs=1e-4) and gain > 0
    if result["strategy"] != "independent":
        assert result["selected"]
    data = json.loads((out / "results.json").read_text())
    assert {r["method"] for r in data["rows"]} == {"auto", "independent"}
    assert data["demo"]["target"]["name"] == result["target"]["name"]
    page = (out / "report.html").read_text()
    assert "Selection ranking" in page and "data:image/png;base64," in page


@pytest.mark.slow
def test_demo_renders_and_rebuild_is_a_no_op(
    demo_run: tuple[dict, Any, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    result, zoo, _ = demo_run
    _render(result)
    shown = capsys.readouterr().out
    assert "vs independent small network" in shown and result["target"]["name"] in shown
    summary = build_demo_zoo(zoo, DemoConfig(quick=True, cache_dir=STREAM28_CACHE))
    assert summary.registered == []
    assert set(summary.present) == set(demo_zoo_names(DemoConfig(quick=True)))


def test_demo_target_is_held_out_and_related() -> None:
    sources, targets = DemoConfig(quick=True).tasks()
    target = pick_target(sources, targets)
    assert target.index >= len(sources)  # a task after every source task
    overlaps = [max(len(set(t.class_ids) & set(s.class_ids)) for s in sources) for t in targets]
    assert max(overlaps) >= 2 and overlaps[targets.index(target)] == max(overlaps)


def test_demo_zoo_is_the_quick_stream28_build() -> None:
    """One cached build serves the quick protocol and the quick demo (same recipe, same names)."""
    from recycle.bench.stream28 import Stream28

    stream = Stream28(seed=0, quick=True)
    config = DemoConfig(quick=True)
    sources, targets = config.tasks()
    assert config.recipe().key == stream.key and config.recipe().prefix == stream.prefix
    assert [t.name for t in sources] == [t.name for t in stream.source_tasks]
    assert [t.name for t in targets] == [t.name for t in stream.target_tasks]
    pairs = zip(targets, stream.target_tasks, strict=True)
    assert all((a.X_test == b.X_test).all() and (a.X_pool == b.X_pool).all() for a, b in pairs)


def test_demo_rejects_too_few_shots(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "--shots", "3"]) == 2


def test_bench_rejects_bad_input_with_exit_2() -> None:
    assert main(["bench", "nope", "--quick"]) == 2
    assert main(["bench", "text", "--seeds", "0"]) == 2
