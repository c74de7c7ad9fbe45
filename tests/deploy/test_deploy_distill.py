"""Distillation: the multi-source teacher taught into one small, source-free student."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from deploy_helpers import agreement, run_isolated, tabular_zoo
from recycle.adapt import Recycler
from recycle.deploy import distill
from recycle.errors import DataError


def test_student_needs_no_sources_follows_the_teacher_and_keeps_its_licences(
    tmp_path: Path,
) -> None:
    location, d = tabular_zoo(tmp_path)
    teacher = Recycler(location, m=2, strategy="mcw").fit(d["X"], d["y"])
    X_u, X_te = d["X_test"][:69], d["X_test"][69:]
    student = distill(teacher, d["X"], d["y"], X_unlabelled=X_u, max_epochs=60)
    info = student.report_["distilled_from"]
    assert student.report_["sources"] == [] and student.report_["strategy"] == "independent"
    assert (info["n_labelled"], info["n_augmented"], info["n_unlabelled"]) == (120, 480, 69)
    assert sorted(s["license"] for s in info["sources"]) == ["BSD-3-Clause", "CC-BY-4.0"]
    agree = float(np.mean(student.predict(X_te) == teacher.predict(X_te)))
    assert agree >= 0.9, agree
    student.save(tmp_path / "student")
    back = Recycler.load(tmp_path / "student")  # no zoo: the student loads no source
    np.testing.assert_allclose(back.predict_proba(X_te), student.predict_proba(X_te), atol=1e-6)
    back.export(tmp_path / "s.onnx")
    p, meta = run_isolated(tmp_path / "s.onnx", X_te, tmp_path)
    assert agreement(p, student.predict(X_te), meta["classes"]) >= 0.995
    vias = [s.get("via") for s in meta["recycle"]["sources"]]
    assert vias == ["distillation teacher"] * 2


def test_distill_without_rows_is_a_clear_error(tmp_path: Path) -> None:
    location, d = tabular_zoo(tmp_path)
    teacher = Recycler(location, m=1, strategy="linear_probe").fit(d["X"], d["y"])
    with pytest.raises(DataError, match="needs rows"):
        distill(teacher)


def test_cli_distill_writes_a_model_folder_and_refuses_a_non_empty_out(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    from recycle.cli import main

    location, d = tabular_zoo(tmp_path)
    Recycler(location, m=2, strategy="linear_probe").fit(d["X"], d["y"]).save(tmp_path / "t")
    np.savez(tmp_path / "train.npz", X=d["X"], y=d["y"])
    np.savez(tmp_path / "pool.npz", X=d["X_test"][:69])
    out = tmp_path / "student"
    args = ["distill", str(tmp_path / "t"), "--out", str(out), "--zoo", location]
    rows = ["--data", str(tmp_path / "train.npz"), "--unlabelled", str(tmp_path / "pool.npz")]
    assert main([*args, *rows, "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["n_unlabelled"] == 69 and info["n_labelled"] == 120
    assert (out / "recycler.json").is_file()
    assert main([*args, *rows]) == 2
    assert "already holds a model" in capsys.readouterr().err
    assert main([*args[:4], "--force", "--zoo", location]) == 2  # no rows given
    assert "needs rows" in capsys.readouterr().err
    assert (out / "recycler.json").is_file()
