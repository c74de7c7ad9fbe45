"""results.json, report.html, the README refresher and the runner's plumbing (fast, no models)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from recycle.adapt.strategies.tfidf import TfidfLogReg
from recycle.bench.report import write_report
from recycle.bench.results import Results, Row
from recycle.bench.runner import Method, Target, run_all, selected_names
from script_helpers import load_script

DESIGN_KEYS = {
    "target", "method", "m", "shots", "accuracy", "fit_seconds", "trainable_params", "seed",
}  # fmt: skip


def _results() -> Results:
    res = Results("toy", meta={"seeds": 2, "wall_seconds": 90.0})
    rng = np.random.default_rng(0)
    for seed in range(2):
        for t in ("a", "b"):
            for shots in (25, 100):
                base = 0.5 + shots / 1000
                res.add(Row(t, "independent", 0, shots, base, 1.0, 100, seed))
                res.add(
                    Row(t, "auto", "auto", shots, base + 0.1 * rng.random(), 2.0, 50, seed,
                        {"selected": [f"src{seed}", "src9"], "strategy": "mcw"})
                )  # fmt: skip
    return res


def test_update_readme_gives_merged_parts_wall_times_when_the_merge_has_none() -> None:
    a, b = _results(), _results()
    b.meta["wall_seconds"] = 180.0
    merged = Results.merge([a, b])
    assert "wall_seconds" not in merged.meta
    line = load_script("update_readme").describe(merged, Path("r.json"))
    assert "merged from 2 runs; their wall times 1.5, 3.0 min (each since it last started)" in line
    # a resumed make bench's clock knows the whole wall time: it replaces the parts' own
    line = load_script("update_readme").describe(merged, Path("r.json"), clock_seconds=5400.0)
    assert "wall time 90.0 min over every sitting (the clock)" in line
    assert "each since it last started" not in line


def test_results_round_trip_summary_and_table(tmp_path: Path) -> None:
    res = _results()
    path = res.save(tmp_path / "out" / "results.json")
    data = json.loads(path.read_text())
    assert data["protocol"] == "toy" and len(data["rows"]) == 16
    assert all(set(r) >= DESIGN_KEYS for r in data["rows"])
    assert data["rows"][1]["selected"] == ["src0", "src9"]
    back = Results.load(path)
    assert back.summary() == res.summary() and back.rows[1].extra["strategy"] == "mcw"
    summ = res.summary()
    assert summ[("independent", 25)]["mean"] == pytest.approx(0.525)
    assert summ[("auto", 100)]["n"] == 4
    table = res.markdown_table()
    assert "| independent | 52.5 ± 0.0 | 60.0 ± 0.0 | 100 | 1.0 |" in table
    gains = res.gains_over("independent", "auto")
    assert len(gains) == 8 and all(g[3] >= 0 for g in gains)


def test_report_has_the_three_plots(tmp_path: Path) -> None:
    path = write_report(_results(), tmp_path / "report.html", extra_html="<p id=x>extra</p>")
    page = path.read_text()
    assert page.count('<img src="data:image/png;base64,') == 3  # accuracy, gain, heatmap
    assert "<p id=x>extra</p>" in page and "52.5 ± 0.0" in page


def test_update_readme_writes_every_table_to_docs_and_the_headline_to_the_readme(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    mod = load_script("update_readme")
    _results().save(tmp_path / "results" / "toy" / "results.json")
    res = _results()
    res.add(Row("a", "mcw_knn_m3", 3, 25, 0.99, 0.1, 10, 0))
    res.save(tmp_path / "results" / "stream28" / "results.json")
    block = "<!-- results:start -->\nold numbers\n<!-- results:end -->"
    (tmp_path / "README.md").write_text(f"intro\n{block}\ntail\n")
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "results.md").write_text(f"# Results\n{block}\nmore\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr("sys.argv", ["update_readme.py", "results"])
    mod.main()
    docs = (tmp_path / "docs" / "results.md").read_text()
    assert docs.startswith("# Results\n<!-- results:start -->\n### stream28") and docs.endswith(
        "more\n"
    )
    assert "### toy" in docs and "| auto |" in docs and "wall time 1.5 min" in docs
    assert "make bench` wall times" not in docs  # no bench-runs.jsonl: no table
    readme = (tmp_path / "README.md").read_text()
    assert "old numbers" not in readme and "### toy" not in readme and readme.endswith("tail\n")
    # stream28 only (toy is no headline protocol); its best fixed method at 25 shots is MCW
    head = [line for line in readme.splitlines() if line.startswith("| stream28")]
    assert [line.split(" | ")[4] for line in head] == ["mcw_knn_m3 99.0", "independent 60.0"]
    assert "[docs/results.md](docs/results.md)" in readme


def test_update_readme_writes_nothing_when_a_page_lacks_its_markers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _results().save(tmp_path / "results" / "toy" / "results.json")
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "results.md").write_text("<!-- results:start -->\n<!-- results:end -->\n")
    (tmp_path / "README.md").write_text("no markers\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr("sys.argv", ["update_readme.py", "results"])
    with pytest.raises(SystemExit, match=r"README\.md has no"):
        load_script("update_readme").main()
    assert (
        tmp_path / "docs" / "results.md"
    ).read_text() == "<!-- results:start -->\n<!-- results:end -->\n"


def test_update_readme_lists_make_bench_wall_times_but_not_quick_runs(tmp_path: Path) -> None:
    mod = load_script("update_readme")
    run = {"finished": "2026-11-22T04:00:00+00:00", "jobs": 2, "commit": "abc1234"}
    rows = [
        {**run, "what": "stream28", "seconds": 5400, "quick": False, "resumed": True},
        {**run, "what": "text", "seconds": 60, "quick": True, "resumed": False},
    ]
    (tmp_path / "bench-runs.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    table = mod.bench_runs(tmp_path)
    assert "| 2026-11-22 04:00 | abc1234 | stream28 (*resumed*) | 2 | 90.0 min |" in table
    assert "| text" not in table


def test_update_readme_adds_up_the_clock_over_sittings_of_a_resumed_bench(tmp_path: Path) -> None:
    mod = load_script("update_readme")
    tick = {"commit": "abc1234", "jobs": 2, "quick": False}
    ticks = [  # a first sitting killed after 2 min of stream28, then resumed for 1 more minute
        {**tick, "sitting": "s1", "what": "start", "t": 1000},
        {**tick, "sitting": "s1", "what": "start", "t": 1001},
        {**tick, "sitting": "s1", "what": "stream28", "t": 1061},
        {**tick, "sitting": "s1", "what": "stream28", "t": 1121},
        {**tick, "sitting": "s2", "what": "start", "t": 9000},
        {**tick, "sitting": "s2", "what": "stream28", "t": 9060},
        {**tick, "sitting": "q", "what": "text", "t": 9999, "quick": True},
    ]
    (tmp_path / "bench-clock.jsonl").write_text("".join(json.dumps(t) + "\n" for t in ticks))
    text = mod.bench_clock(tmp_path)
    assert "| stream28 | 3.0 min |" in text and "in 2 sitting(s)" in text
    assert "| start |" not in text  # 1 s of bookkeeping: counted, not listed
    assert "| **all** | **3.0 min** |" in text
    assert "| text" not in text  # quick runs are not make bench


def test_selected_names_reads_the_recycler_report() -> None:
    report = {"sources": [{"source_id": "a", "name": "zoo.a"}, {"source_id": "b", "name": None}]}
    assert selected_names(report) == ["zoo.a", "b"]
    assert selected_names({}) == []


def test_runner_runs_factory_baselines_and_records_failures() -> None:
    texts = ["a fine, warm film", "great fun", "dull and bad", "awful mess"] * 6
    y = np.array([1, 1, 0, 0] * 6)
    target = Target("toy", 24, 0, texts, y, texts[:8], y[:8])
    methods = [
        Method("tfidf", factory=lambda seed, pool: TfidfLogReg(seed=seed)),
        Method("broken", {"strategy": "no_such_strategy"}),
    ]
    res = run_all("toy", [], [target], methods)
    assert [r.method for r in res.rows] == ["tfidf"]
    assert res.rows[0].accuracy == 1.0 and res.rows[0].trainable_params > 0
    assert len(res.meta["failures"]) == 1 and "broken" in res.meta["failures"][0]


def test_resume_keeps_earlier_rows_and_runs_only_the_missing_fits(tmp_path: Path) -> None:
    texts = ["a fine, warm film", "great fun", "dull and bad", "awful mess"] * 6
    y = np.array([1, 1, 0, 0] * 6)
    targets = [Target("toy", 24, seed, texts, y, texts[:8], y[:8]) for seed in (0, 1)]
    fits: list[int] = []

    def factory(seed: int, pool: object) -> TfidfLogReg:
        fits.append(seed)
        return TfidfLogReg(seed=seed)

    checkpoint = tmp_path / "results.json"
    run_all("toy", [], targets[:1], [Method("tfidf", factory=factory)], checkpoint=checkpoint)
    assert fits == [0]
    res = run_all(
        "toy", [], targets, [Method("tfidf", factory=factory)], checkpoint=checkpoint, resume=True
    )
    assert fits == [0, 1]  # seed 0 was not fitted again
    assert sorted(r.seed for r in res.rows) == [0, 1]
    assert Results.load(checkpoint).meta["done"] == 2
    with pytest.raises(Exception, match="holds 'toy' results"):
        run_all("other", [], targets, [], checkpoint=checkpoint, resume=True)


def test_resumed_run_keeps_the_earlier_runs_notes(tmp_path: Path) -> None:
    """Run notes (``meta["notes"]``, what the docs pages print) survive a resumed run; every
    bench script lost them when its resume rewrote the checkpoint with the run's own meta."""
    texts = ["a fine, warm film", "great fun", "dull and bad", "awful mess"] * 6
    y = np.array([1, 1, 0, 0] * 6)
    targets = [Target("toy", 24, seed, texts, y, texts[:8], y[:8]) for seed in (0, 1)]
    method = Method("tfidf", factory=lambda seed, pool: TfidfLogReg(seed=seed))
    checkpoint = tmp_path / "results.json"
    first = run_all("toy", [], targets[:1], [method], checkpoint=checkpoint)
    first.meta["notes"] = ["seed 0 ran at load 2"]
    first.save(checkpoint)
    run_all("toy", [], targets, [method], checkpoint=checkpoint, resume=True)
    assert Results.load(checkpoint).meta["notes"] == ["seed 0 ran at load 2"]
    fresh = run_all("toy", [], targets, [method], checkpoint=tmp_path / "new.json", resume=True)
    assert "notes" not in fresh.meta


def test_merge_joins_runs_split_by_shots_and_prefers_the_later_row() -> None:
    first, second = _results(), Results("toy", meta={"seeds": 2, "wall_seconds": 30.0})
    second.add(Row("a", "auto", "auto", 25, 0.99, 1.0, 50, 0))
    second.add(Row("a", "auto", "auto", 250, 0.9, 1.0, 50, 0))
    merged = Results.merge([first, second])
    assert merged.shots() == [25, 100, 250] and len(merged.rows) == 17
    key = ("a", "auto", 25, 0)
    assert [r.accuracy for r in merged.rows if (r.target, r.method, r.shots, r.seed) == key] == [
        0.99
    ]
    assert [p["wall_seconds"] for p in merged.meta["parts"]] == [90.0, 30.0]
    assert "done" not in merged.meta and "stopped_parts" not in merged.meta


def test_merge_counts_parts_that_stopped_instead_of_adding_overlapping_fit_counts() -> None:
    stopped = Results("toy", meta={"done": 1, "total": 4})
    stopped.add(Row("a", "auto", "auto", 25, 0.9, 1.0, 50, 0))
    resumed = Results("toy", meta={"done": 4, "total": 4})  # carries the stopped part's row
    for seed in range(4):
        resumed.add(Row("a", "auto", "auto", 25, 0.9, 1.0, 50, seed))
    merged = Results.merge([stopped, resumed])
    assert len(merged.rows) == 4 and "done" not in merged.meta
    assert merged.meta["stopped_parts"] == 1
    assert Results.merge([merged, Results("toy")]).meta["stopped_parts"] == 1  # merged again


def test_shards_split_the_targets_between_side_by_side_runs() -> None:
    from recycle.bench.protocols import Options, _shard

    targets = [Target(f"t{i}", 25, 0, [], np.array([]), [], np.array([])) for i in range(5)]
    parts = [_shard(targets, Options(shard=(i, 2))) for i in range(2)]
    assert [[t.name for t in p] for p in parts] == [["t0", "t2", "t4"], ["t1", "t3"]]
    assert _shard(targets, Options()) == targets
    # stream28's order (seed, task, shots): the two runs get the same shots mix
    stream = [
        Target(f"t{task}", shots, seed, [], np.array([]), [], np.array([]))
        for seed in range(3) for task in range(4) for shots in (25, 50, 100, 250)
    ]  # fmt: skip
    runs = [_shard(stream, Options(shard=(i, 2))) for i in range(2)]
    assert sorted(t.shots for t in runs[0]) == sorted(t.shots for t in runs[1])
    assert sorted(runs[0] + runs[1], key=stream.index) == stream  # each once, in stream order
    assert all(run == sorted(run, key=stream.index) for run in runs)


def test_findings_compare_auto_with_the_best_fixed_method_and_count_losses() -> None:
    res = Results("toy")
    for seed in range(2):
        for t, (ind, mcw, auto) in {"a": (0.80, 0.90, 0.90), "b": (0.90, 0.92, 0.85)}.items():
            res.add(Row(t, "independent", 0, 25, ind, 1.0, 100, seed))
            res.add(Row(t, "mcw_knn_m3", 3, 25, mcw, 1.0, 100, seed))
            res.add(Row(t, "auto", "auto", 25, auto, 1.0, 100, seed, {"flagged": t == "b"}))
            res.add(Row(t, "auto_session2", "auto", 25, 0.99, 1.0, 100, seed))  # not "fixed"
    (line,) = res.findings()
    assert "best fixed method mcw_knn_m3 91.0" in line and "auto 87.5" in line
    assert "auto − best -3.5 ± 2.0 points" in line and "more than 1 SE below" in line
    assert "more than 2 points worse on 2/4 (2 of them flagged" in line
    assert "independent_lenet" not in line  # not run: no clause
    for seed in range(2):
        res.add(Row("a", "independent_lenet", 0, 25, 0.95, 1.0, 100, seed))
        res.add(Row("b", "independent_lenet", 0, 25, 0.70, 1.0, 100, seed))
    (line,) = res.findings()
    assert "auto − independent_lenet +5.0 points, more than 2 points worse on 2/4 (0 of" in line
