"""``recycle demo`` and ``recycle zoo build-demo`` on the tiny (quick) variant of the demo zoo."""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path

import pytest

from recycle.bench.demo import DemoConfig, demo_zoo_names, pick_target
from recycle.cli import main


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, Path, Path]:
    root = tmp_path_factory.mktemp("demo")
    zoo, out = root / "zoo", root / "out"
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        code = main(["demo", "--quick", "--out", str(out), "--zoo", str(zoo), "--json"])
        # (the quick stream28 zoo is trained once per session, or reused from the bench tests)
    assert code == 0
    return json.loads(buf.getvalue()), zoo, out


@pytest.mark.slow
def test_demo_runs_the_whole_flow(demo_run: tuple[dict, Path, Path]) -> None:
    result, _, out = demo_run
    assert result["target"]["shots"] == 25 and len(result["target"]["classes"]) == 5
    assert result["search"] and result["search"][0]["rank"] == 1
    assert result["ranking"] and result["ranking"][0]["score"] is not None
    assert result["strategy"] and isinstance(result["m"], int)
    for key in ("recycled", "independent"):
        assert 0.2 < result[key]["accuracy"] <= 1.0  # 5-way: chance is 0.2
        assert result[key]["fit_seconds"] > 0 and result[key]["trainable_params"] > 0
    if result["strategy"] != "independent":
        assert result["selected"]
    data = json.loads((out / "results.json").read_text())
    assert {r["method"] for r in data["rows"]} == {"auto", "independent"}
    assert data["demo"]["target"]["name"] == result["target"]["name"]
    page = (out / "report.html").read_text()
    assert "Selection ranking" in page and "data:image/png;base64," in page


@pytest.mark.slow
def test_build_demo_is_idempotent(
    demo_run: tuple[dict, Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    _, zoo, _ = demo_run
    assert main(["zoo", "build-demo", "--quick", "--zoo", str(zoo), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["registered"] == [] and set(summary["present"]) == set(
        demo_zoo_names(DemoConfig(quick=True))
    )


def test_demo_target_is_held_out_and_related() -> None:
    stream = DemoConfig(quick=True).stream()
    target = pick_target(stream)
    assert target.index >= stream.n_sources  # a task after every source task
    assert max(len(set(target.class_ids) & set(t.class_ids)) for t in stream.source_tasks) >= 2


def test_demo_rejects_too_few_shots(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "--shots", "3"]) == 2


def test_bench_rejects_bad_input_with_exit_2() -> None:
    assert main(["bench", "nope", "--quick"]) == 2
    assert main(["bench", "text", "--seeds", "0"]) == 2
