"""``scripts/auto_study.py replay``: decision rules scored by every candidate's test accuracy."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from script_helpers import load_script


def test_replay_scores_each_rule_by_the_test_accuracy_of_what_it_picks(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # CV: mcw@m=1 looks best but only by noise; independent_adapters ties mcw@m=5
    folds = {
        "mcw@m=1": [[1.0, 0.9, 1.0, 0.9, 1.0, 0.9], [0.3] * 6],
        "mcw@m=5": [[0.9, 0.9, 1.0, 0.9, 1.0, 0.9], [0.3] * 6],
        "independent_adapters": [[0.9, 0.9, 1.0, 0.9, 1.0, 0.9], [0.3] * 6],
        "independent": [[0.5] * 6, [1.2] * 6],
    }
    key = {"target": "t", "shots": 25, "seed": 0}
    rows = [
        {**key, "method": "auto", "accuracy": 0.80, "cv_folds": folds},
        {**key, "method": "mcw_knn_m3", "accuracy": 0.85},
        {**key, "method": "independent", "accuracy": 0.70},
        {**key, "method": "independent_lenet", "accuracy": 0.60},
    ]
    results = tmp_path / "results.json"
    results.write_text(json.dumps({"protocol": "stream28", "rows": rows, "meta": {}}))
    study = tmp_path / "study.jsonl"
    truth = {"mcw@m=1": 0.80, "mcw@m=5": 0.90}
    study.write_text(
        "".join(json.dumps({**key, "key": k, "accuracy": a}) + "\n" for k, a in truth.items())
    )
    load_script("auto_study").replay(results, study)
    table = {
        line.split(" | ")[0].strip("| "): line.split(" | ")[1]
        for line in capsys.readouterr().out.splitlines()
        if line.startswith("| ") and not line.startswith("| rule")
    }
    assert table["always MCW at largest m"] == "90.00"
    assert table["oracle (best candidate on test)"] == "90.00"
    # the MCW default is MCW at its best CV m (m=1, 80 %); it does not beat independent
    # adapters beyond noise, so the guard keeps them (70 %)
    assert table["no guard"] == "80.00"
    assert table["auto"] == "70.00"
    assert table["default MCW at largest m"] == "70.00"
