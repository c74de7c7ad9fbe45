"""``research/redesign_equivalence.py``: rows matched, fields compared, causes named only when the
row shows what the cause implies."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import redesign_equivalence as eq

BASE = {"target": "t", "shots": 20, "seed": 0, "m": 1, "fit_seconds": 1.0}


def _write(root: Path, protocol: str, rows: list[dict[str, Any]]) -> Path:
    folder = root / protocol
    folder.mkdir(parents=True)
    data = {"protocol": protocol, "rows": rows, "meta": {}}
    (folder / "results.json").write_text(json.dumps(data))
    return root


def _row(method: str, **fields: Any) -> dict[str, Any]:
    return {**BASE, "method": method, **fields}


def _auto(cv_folds: dict[str, list], strategy: str = "mcw", accuracy: float = 0.7) -> dict:
    cv = {k: [sum(v[0]) / len(v[0]), 0.5] for k, v in cv_folds.items()}
    return _row("auto", strategy=strategy, accuracy=accuracy, cv=cv, cv_folds=cv_folds)


def _causes(tmp_path: Path, protocol: str, before: list, after: list) -> dict[tuple, str]:
    b = _write(tmp_path / "before", protocol, before)
    a = _write(tmp_path / "after", protocol, after)
    records, _ = eq.compare(b, a)
    return {r["key"][2]: r["cause"] for r in records}


def test_timing_and_new_fields_are_not_differences(tmp_path: Path) -> None:
    before = [_row("independent", strategy="independent", accuracy=0.5)]
    after = [{**before[0], "fit_seconds": 9.0, "close_to": []}]
    b, a = _write(tmp_path / "b", "text", before), _write(tmp_path / "a", "text", after)
    records, summary = eq.compare(b, a)
    assert records == [] and summary["identical"] == {"text": 1}
    assert summary["new_fields"] == {"close_to"}


def test_each_rule_needs_what_its_cause_implies(tmp_path: Path) -> None:
    shared = {"mcw@m=1": [[0.5, 1.0], [0.6, 0.4]]}
    before = [
        _row("independent", strategy="independent", accuracy=0.5),
        _row("tfidf_logreg", strategy="tfidf_logreg", m=0, accuracy=0.6, trainable_params=10),
        _auto({**shared, "independent": [[0.5, 0.5], [0.7, 0.7]]}),
    ]
    after = [
        _row("independent", strategy="independent", accuracy=0.55),
        _row(
            "tfidf_logreg",
            strategy="tfidf_logreg",
            m="auto",
            accuracy=0.6,
            trainable_params=20,
            guard=False,
            flagged=False,
            m_used=0,
        ),
        _auto({**shared, "minilm_logreg": [[1.0, 1.0], [0.2, 0.2]]}, "minilm_logreg", 0.65),
    ]
    assert _causes(tmp_path / "ok", "text", before, after) == {
        "independent": "holdout", "tfidf_logreg": "tfidf-strategy", "auto": "text-references",
    }  # fmt: skip
    # the same differences with a changed TF-IDF accuracy or a shared candidate's folds
    after[1]["accuracy"] = 0.61
    after[2]["cv_folds"]["mcw@m=1"] = [[1.0, 1.0], [0.1, 0.1]]
    after[0]["trainable_params"] = 7  # more than the accuracy differs
    causes = _causes(tmp_path / "broken", "text", before, after)
    assert set(causes.values()) == {"unexplained"}


def test_time_budget_only_when_a_dear_candidate_is_on_one_side(tmp_path: Path) -> None:
    shared = {"mcw@m=1": [[0.5, 1.0], [0.6, 0.4]]}
    before = [_auto({**shared, "module_mixing@m=3": [[1.0, 1.0], [0.1, 0.1]]})]
    after = [_auto(dict(shared))]
    assert _causes(tmp_path / "dear", "stream28", before, after) == {"auto": "time-budget"}
    before = [_auto({**shared, "stacking@m=3": [[1.0, 1.0], [0.1, 0.1]]})]
    assert _causes(tmp_path / "cheap", "stream28", before, after) == {"auto": "unexplained"}


def test_the_page_gets_the_tables_between_its_markers(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text("intro\n<!-- generated: rows -->\nold\n<!-- end generated: rows -->\nend\n")
    eq.write_page(page, "rows", "| new |\n")
    assert page.read_text() == (
        "intro\n<!-- generated: rows -->\n| new |\n<!-- end generated: rows -->\nend\n"
    )
