"""The deployment report: quality, calibration, robustness, export, latency, size, licences."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from deploy_helpers import tabular_zoo
from recycle.adapt import Recycler
from recycle.deploy.corrupt import corruptions
from recycle.deploy.licences import combine_licences, licence_level, licence_view


@pytest.mark.parametrize(
    ("licence", "level"),
    [
        ("MIT", "permissive"),
        ("Apache-2.0", "permissive"),
        ("CC-BY-4.0", "permissive"),
        ("CC BY-SA 3.0", "share-alike"),
        ("GPL-3.0-only", "share-alike"),
        ("CC-BY-NC-4.0", "non-commercial"),
        ("ImageNet terms of access (non-commercial research)", "non-commercial"),
        ("unknown", "unknown"),
        ("", "unknown"),
    ],
)
def test_licence_levels(licence: str, level: str) -> None:
    assert licence_level(licence) == level


def test_most_restrictive_licence_wins_and_names_its_sources() -> None:
    combined = combine_licences(["MIT", "CC BY-SA 3.0", "MIT"])
    assert combined["level"] == "share-alike" and combined["decided_by"] == ["CC BY-SA 3.0"]
    assert combine_licences(["MIT", "GPL-3.0", "research use"])["level"] == "non-commercial"
    assert combine_licences([])["level"] == "unknown"


def test_training_data_terms_bind_the_report_and_the_export(tmp_path: Path) -> None:
    """Permissive weights trained on non-commercial data: the data's terms win, named plainly,
    in the report and in the exported file's metadata."""
    from recycle.deploy.onnx_export import build_onnx
    from recycle.deploy.report import deployment_report

    location, d = tabular_zoo(tmp_path, data_licence="CC BY-NC 4.0")
    rec = Recycler(location, m=2, strategy="mcw").fit(d["X"], d["y"])
    rep = deployment_report(rec, d["X_test"], d["y_test"], single_rows=2)
    want = ["logreg.cancer (training data: breast-cancer rows): CC BY-NC 4.0"]
    assert rep["licences"]["level"] == "non-commercial"
    assert rep["licences"]["decided_by"] == want
    meta = json.loads({p.key: p.value for p in build_onnx(rec).metadata_props}["recycle"])
    assert meta["licence"]["level"] == "non-commercial" and meta["licence"]["decided_by"] == want
    logreg = next(s for s in meta["sources"] if s["name"] == "logreg.cancer")
    assert logreg["license"] == "CC-BY-4.0" and logreg["data_license"] == "CC BY-NC 4.0"


def test_builtin_cards_add_their_training_data_terms() -> None:
    from recycle.deploy.onnx_export import source_records

    class Fitted:  # what source_records reads from a fitted model
        def __init__(self, *names: str) -> None:
            self.zoo = None
            self.report_ = {"sources": [{"source_id": n} for n in names]}

    records = source_records(Fitted("effnet_lite0.imagenet", "digitcnn.mnist"))
    assert [r["license"] for r in records] == ["Apache-2.0", "MIT"]
    view = licence_view(records)
    assert view["level"] == "non-commercial"
    assert view["decided_by"] == [
        "effnet_lite0.imagenet (training data: ImageNet-1k (ILSVRC 2012) training images, "
        "1000 classes): ImageNet terms of access (non-commercial research)"
    ]
    assert [t["level"] for t in view["terms"]] == [
        "permissive",
        "non-commercial",
        "permissive",
        "share-alike",
    ]


@pytest.mark.parametrize("modality", ["image", "tabular", "text"])
def test_corruptions_keep_shape_dtype_and_range_and_change_the_data(modality: str) -> None:
    rng = np.random.default_rng(0)
    X = {
        "image": rng.integers(0, 256, size=(4, 16, 16), dtype=np.uint8),
        "tabular": rng.normal(size=(50, 5)).astype(np.float32),
        "text": ["a good film about nothing", "the plot was dreadful"],
    }[modality]
    for name, fn in corruptions(modality).items():
        a, b = fn(X, np.random.default_rng(1)), fn(X, np.random.default_rng(1))
        if modality == "text":
            assert len(a) == len(X) and a == b, name
            continue
        assert a.shape == X.shape and a.dtype == X.dtype and np.array_equal(a, b), name
        assert not np.array_equal(a, X), name
        assert np.isfinite(a).all(), name
        if modality == "image":
            assert a.min() >= 0 and a.max() <= 255, name
    assert corruptions("text")["casing"](["Hi there"], rng) == ["HI THERE"]


def test_cli_report_measures_everything_and_writes_one_html_page(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    from recycle.cli import main

    location, d = tabular_zoo(tmp_path)
    rec = Recycler(location, m=2, strategy="linear_probe").fit(d["X"], d["y"])
    rec.save(tmp_path / "model")
    np.savez(tmp_path / "test.npz", X=d["X_test"], y=d["y_test"])
    out = tmp_path / "report.html"
    args = ["report", str(tmp_path / "model"), str(tmp_path / "test.npz"), "--out", str(out)]
    assert main([*args, "--zoo", location, "--json"]) == 0
    rep = json.loads(capsys.readouterr().out)
    q = rep["quality"]
    pred = rec.predict(d["X_test"])
    assert q["accuracy"] == pytest.approx(float(np.mean(pred == d["y_test"])))
    assert np.asarray(q["confusion"]).sum() == len(d["y_test"])
    assert np.trace(q["confusion"]) == round(q["accuracy"] * len(d["y_test"]))
    assert sum(b["n"] for b in q["reliability"]) == len(d["y_test"])
    assert [r["corruption"] for r in rep["robustness"]] == ["feature_noise", "missing_values"]
    assert all(r["drop"] == pytest.approx(q["accuracy"] - r["accuracy"]) for r in rep["robustness"])
    assert rep["export"]["fp32"]["agreement"] >= 0.995
    assert rep["export"]["int8"]["agreement"] >= 0.97
    assert set(rep["latency"]) == {"recycle", "fp32", "int8"}
    assert all(v["batch_ms_per_row"] > 0 for v in rep["latency"].values())
    size = rep["size"]
    assert size["folder"] > 0 and size["sources_in_zoo"] > 0 and size["fp32"] > 0
    assert rep["licences"]["level"] == "permissive"
    assert sorted(rep["licences"]["decided_by"]) == [
        "logreg.cancer (weights): CC-BY-4.0",
        "pca.cancer (weights): BSD-3-Clause",
    ]
    page = out.read_text()
    assert page.count("<svg") == 2 and "Combined: permissive" in page
    assert main([*args, "--zoo", location]) == 2  # the page exists: refused without --force
    assert "already exists" in capsys.readouterr().err and out.read_text() == page


def test_evaluate_json_has_confusion_and_reliability(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    from recycle.cli import main

    location, d = tabular_zoo(tmp_path)
    Recycler(location, m=1, strategy="mcw").fit(d["X"], d["y"]).save(tmp_path / "model")
    np.savez(tmp_path / "test.npz", X=d["X_test"], y=d["y_test"])
    args = ["evaluate", str(tmp_path / "model"), str(tmp_path / "test.npz"), "--zoo", location]
    assert main([*args, "--json"]) == 0
    rep = json.loads(capsys.readouterr().out)
    assert np.asarray(rep["confusion"]).shape == (2, 2)
    assert sum(b["n"] for b in rep["reliability"]) == rep["n"] == len(d["y_test"])


@pytest.mark.skipif(shutil.which("chromium") is None, reason="needs Debian's chromium")
def test_report_page_renders_in_headless_chromium(tmp_path: Path) -> None:
    from recycle.deploy.report import deployment_report
    from recycle.deploy.report_html import render_html

    location, d = tabular_zoo(tmp_path)
    rec = Recycler(location, m=2, strategy="mcw").fit(d["X"], d["y"])
    page = tmp_path / "report.html"
    page.write_text(render_html(deployment_report(rec, d["X_test"], d["y_test"], single_rows=3)))
    shot = tmp_path / "shot.png"
    subprocess.run(
        ["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
         "--disable-background-networking", f"--screenshot={shot}", "--window-size=1000,1400",
         page.as_uri()],
        check=True, capture_output=True, timeout=120,
    )  # fmt: skip
    from PIL import Image

    pixels = np.asarray(Image.open(shot).convert("L"), dtype=np.float32)
    assert pixels.shape == (1400, 1000) and pixels.std() > 10  # text and charts, not blank
