"""``research/auto_study.py replay``: decision rules scored by every candidate's test accuracy."""

from __future__ import annotations

import json
from pathlib import Path

import auto_study
import numpy as np
import pytest

from adapt_helpers import RandomProjection, target
from recycle.adapt.auto import cross_validate, cv_splits, fit_and_score

KEY = {"target": "t", "shots": 25, "seed": 0}


def _results(
    tmp_path: Path, folds: dict, mcw3: float, adapters: float, small_network: float
) -> Path:
    """A results.json with one auto row (its ``folds``, test accuracy 0.80) and the bench rows
    the replay reads: MCW m=3, independent adapters and the small network."""
    rows = [
        {**KEY, "method": "auto", "accuracy": 0.80, "cv_folds": folds},
        {**KEY, "method": "mcw_knn_m3", "accuracy": mcw3},
        {**KEY, "method": "independent", "accuracy": adapters},
        {**KEY, "method": "independent_lenet", "accuracy": small_network},
    ]
    results = tmp_path / "results.json"
    results.write_text(json.dumps({"protocol": "stream28", "rows": rows, "meta": {}}))
    return results


def _accuracy_by_rule(printed: str) -> dict[str, str]:
    """The accuracy column of the tables ``replay`` prints, by rule."""
    return {
        line.split(" | ")[0].strip("| "): line.split(" | ")[1]
        for line in printed.splitlines()
        if line.startswith("| ") and not line.startswith("| rule")
    }


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
    results = _results(tmp_path, folds, mcw3=0.85, adapters=0.70, small_network=0.60)
    study = tmp_path / "study.jsonl"
    truth = {"mcw@m=1": 0.80, "mcw@m=5": 0.90}
    study.write_text(
        "".join(json.dumps({**KEY, "key": k, "accuracy": a}) + "\n" for k, a in truth.items())
    )
    auto_study.replay(results, study)
    table = _accuracy_by_rule(capsys.readouterr().out)
    assert table["always MCW at largest m"] == "90.00"
    assert table["oracle (best candidate on test)"] == "90.00"
    # the MCW default is MCW at its best CV m (m=1, 80 %); it does not beat independent
    # adapters beyond noise, so the guard keeps them (70 %)
    assert table["no guard"] == "80.00"
    assert table["auto"] == "70.00"
    assert table["default MCW at largest m"] == "70.00"
    # on the second repeat alone mcw@m=1 only ties the adapters: they are kept too
    assert table["picked on one repeat, guarded on the other"] == "70.00"
    assert table["guard factor 2 (stricter)"] == "70.00"


def test_replay_skips_shots_the_study_has_not_fitted(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folds = {"mcw@m=1": [[0.9] * 6, [0.3] * 6], "independent": [[0.5] * 6, [1.2] * 6]}
    results = _results(tmp_path, folds, mcw3=0.85, adapters=0.70, small_network=0.60)
    data = json.loads(results.read_text())
    data["rows"] += [{**r, "shots": 250} for r in data["rows"]]  # the bench ran 250 shots too
    results.write_text(json.dumps(data))
    study = tmp_path / "study.jsonl"
    study.write_text(json.dumps({**KEY, "key": "mcw@m=1", "accuracy": 0.9}) + "\n")
    auto_study.replay(results, study)
    out = capsys.readouterr().out
    assert out.count("| rule |") == 1 and "25 shots, 1 target-seeds" in out
    assert "250 shots: no candidate fits in" in out


def test_replay_with_learning_curves_or_fresh_folds_lets_a_reference_win(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # in CV (trained on 2/3) MCW beats the small network clearly; trained on 10 examples, the small
    # network was far worse, so its extrapolated score at the full size overtakes MCW's
    folds = {
        "mcw@m=3": [[0.9, 1.0, 0.9, 1.0, 0.9, 1.0], [0.3] * 6],
        "independent_adapters": [[0.7, 0.6, 0.7, 0.6, 0.7, 0.6], [0.9] * 6],
        "independent": [[0.8, 0.7, 0.8, 0.7, 0.8, 0.7], [0.8] * 6],
    }
    small = {
        "mcw@m=3": [[0.9, 0.95, 0.9, 0.95, 0.9, 0.95], [0.35] * 6],
        "independent_adapters": [[0.6] * 6, [1.0] * 6],
        "independent": [[0.3, 0.4, 0.3, 0.4, 0.3, 0.4], [1.5] * 6],
    }
    results = _results(tmp_path, folds, mcw3=0.80, adapters=0.70, small_network=0.88)
    curves = tmp_path / "curves.jsonl"
    sizes = {"n": 25, "cv": [16, 17, 17, 16, 17, 17], "small": [10] * 6}
    curves.write_text(json.dumps({**KEY, "small": small, "sizes": sizes}) + "\n")
    # on new folds the small network ties MCW: the guard keeps it
    fresh = tmp_path / "fresh.jsonl"
    again = {
        "mcw@m=3": [[0.9, 0.8, 0.9, 0.8, 0.9, 0.8], [0.4] * 6],
        "independent_adapters": [[0.6] * 6, [1.0] * 6],
        "independent": [[0.9, 0.8, 0.8, 0.9, 0.9, 0.8], [0.4] * 6],
    }
    fresh.write_text(json.dumps({**KEY, "k": 3, "fresh": again}) + "\n")
    # with its sources selected inside each fold, MCW falls below the small network on the
    # stored folds, and stays above it on the fresh ones
    nested = tmp_path / "nested.jsonl"
    nested.write_text(
        json.dumps({**KEY, "nested": {"mcw@m=3": [[0.6, 0.7] * 3, [0.9] * 6]}})
        + "\n"
        + json.dumps({**KEY, "nested_fresh": {"mcw@m=3": [[1.0, 0.9] * 3, [0.2] * 6]}})
        + "\n"
    )
    script = auto_study
    assert script._guarded(folds) == ["mcw@m=3", "independent", "independent_adapters"]
    script.replay(results, tmp_path / "no-study.jsonl", curves, fresh, nested)
    table = _accuracy_by_rule(capsys.readouterr().out)
    assert table["auto"] == "80.00"
    assert table["guard on scores extrapolated to the full size"] == "88.00"
    assert table["guard on fresh folds"] == "88.00"
    assert table["guard with the choice's sources selected inside each fold"] == "88.00"
    assert table["the same on the fresh folds"] == "80.00"


def test_small_sample_scores_train_on_half_of_each_cv_training_set() -> None:
    """The learning-curve point below CV: split i's model is trained on a stratified half of CV
    split i's training set and tested on the same fold, so the two pair up."""
    study = auto_study
    Xtr, ytr, _, _ = target(tuple(range(10)), shots=9, seed=3)
    src = RandomProjection(0, 16)
    feats = {src.source_id: src.embed(Xtr)}
    cands = [("linear_probe", 1), ("independent", 0)]
    small, sizes = study.small_sample_scores(cands, Xtr, ytr, [src], feats, seed=0, cv=3)
    full = cross_validate(cands, Xtr, ytr, [src], feats, seed=0, cv=3)
    assert [len(r.scores) for r in small] == [len(r.scores) for r in full] == [6, 6]
    # 6 of each digit in a CV training set: the half keeps 3 of each
    assert sizes == {"cv": [60] * 6, "small": [30] * 6}
    splits = cv_splits(ytr, 3, 2, 0)
    assert [len(tr) for tr, _ in splits] == [60] * 6
    half = study.half_subsets(ytr, splits, 0)[4]
    assert set(half) <= set(splits[4][0]) and np.bincount(ytr[half]).tolist() == [3] * 10
    accuracy, loss = fit_and_score("independent", [], Xtr, ytr, feats, half, splits[4][1], 0, None)
    assert (small[1].scores[4], small[1].losses[4]) == pytest.approx((accuracy, loss))
    # a network trained from scratch on 3 digits of a class is worse than on 6: the curve rises
    # and the extrapolation to all 9 lifts its score above CV's
    assert np.mean(small[1].scores) < np.mean(full[1].scores)
    lifted = study.extrapolate(full[1].scores, small[1].scores, [60] * 6, [30] * 6, n=90)
    assert np.mean(lifted) > np.mean(full[1].scores)
