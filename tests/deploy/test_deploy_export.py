"""One-file ONNX export: the file alone (no recycle, no torch, no zoo) predicts like the model."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from deploy_helpers import agreement, run_isolated, tabular_zoo
from recycle.adapt import Recycler
from recycle.errors import ConfigError, IncompatibleError

FAST = {"*": {"max_epochs": 15}}


@pytest.mark.parametrize(
    "strategy", ["linear_probe", "mcw", "stacking", "averaging", "feature_mixing"]
)
def test_tabular_skops_sources_export_and_run_without_recycle_or_zoo(
    tmp_path: Path, strategy: str
) -> None:
    location, d = tabular_zoo(tmp_path)
    rec = Recycler(location, m=2, strategy=strategy, strategy_params=FAST).fit(d["X"], d["y"])
    rec.save(tmp_path / "model")
    loaded = Recycler.load(tmp_path / "model", zoo=location)
    fp32, int8 = tmp_path / "m.onnx", tmp_path / "m8.onnx"
    loaded.export(fp32)
    loaded.export(int8, quantize="int8")
    want = loaded.predict(d["X_test"])
    shutil.rmtree(location)  # the file needs no zoo
    shutil.rmtree(tmp_path / "model")
    p, meta = run_isolated(fp32, d["X_test"], tmp_path)
    assert agreement(p, want, meta["classes"]) >= 0.995
    np.testing.assert_allclose(p.sum(axis=1), 1.0, atol=1e-4)
    p8, meta8 = run_isolated(int8, d["X_test"], tmp_path)
    assert agreement(p8, want, meta["classes"]) >= 0.97
    assert meta8["recycle"]["int8"]["quantized"] >= 1
    info = meta["recycle"]
    assert meta["inputs"] == ["input"] and info["strategy"] == strategy
    assert sorted(s["license"] for s in info["sources"]) == ["BSD-3-Clause", "CC-BY-4.0"]
    assert all(len(s["sha256"]) == 64 for s in info["sources"])
    assert info["schema"]["shape"] == ["n", 30]


@pytest.mark.parametrize(
    ("dataset", "strategy"), [("fashion-mnist", "linear_probe"), ("mnist", "linear_probe")]
)
def test_effnet_lite0_image_model_exports_with_preprocessing_inside(
    tmp_path: Path, dataset: str, strategy: str
) -> None:
    """MNIST's int8 agreed on 95.8% of rows when every conv of >= 1,024 values was int8."""
    from recycle.datasets import load
    from recycle.sources import builtin

    ds = load(dataset)
    rng = np.random.default_rng(0)
    tr, te = rng.permutation(len(ds.y_train))[:60], rng.permutation(len(ds.y_test))[:300]
    src = builtin("effnet_lite0.imagenet")
    rec = Recycler([src], m=1, strategy=strategy).fit(ds.X_train[tr], ds.y_train[tr])
    rec.save(tmp_path / "model")
    loaded = Recycler.load(tmp_path / "model", sources=[src])
    fp32, int8 = tmp_path / "m.onnx", tmp_path / "m8.onnx"
    loaded.export(fp32)
    loaded.export(int8, quantize="int8")
    X = ds.X_test[te]
    want = loaded.predict(X)
    p, meta = run_isolated(fp32, X.astype(np.float32), tmp_path)
    assert agreement(p, want, meta["classes"]) >= 0.995
    p01, _ = run_isolated(fp32, X.astype(np.float32) / 255.0, tmp_path)  # float [0, 1] pixels
    assert agreement(p01, want, meta["classes"]) >= 0.995
    p8, meta8 = run_isolated(int8, X.astype(np.float32), tmp_path)
    assert agreement(p8, want, meta["classes"]) >= 0.97
    assert meta8["recycle"]["int8"]["quantized"] >= 25  # the large 1x1 convs and the head
    assert meta["recycle"]["sources"][0]["license"] == "Apache-2.0"
    assert meta["recycle"]["licence"]["level"] == "non-commercial"  # ImageNet's terms
    assert fp32.stat().st_size > 3 * int8.stat().st_size  # int8 weights


def test_digit_cnn_sources_with_antialiased_downsizing_export(tmp_path: Path) -> None:
    """USPS's CNN reads 16x16 images: the graph must shrink 28x28 inputs the way torch's
    antialiased resize does (exported as matrix products)."""
    from recycle.datasets import load
    from recycle.sources import builtin

    ds = load("fashion-mnist")
    sources = [builtin("digitcnn.usps"), builtin("digitcnn.svhn")]
    rec = Recycler(sources, m=2, strategy="averaging").fit(ds.X_train[:100], ds.y_train[:100])
    rec.export(tmp_path / "m.onnx")
    X = ds.X_test[:300]
    p, meta = run_isolated(tmp_path / "m.onnx", X.astype(np.float32), tmp_path)
    np.testing.assert_allclose(p, rec.predict_proba(X), atol=1e-4)
    assert [s["license"] for s in meta["recycle"]["sources"]] == ["MIT", "MIT"]


@pytest.mark.parametrize("strategy", ["module_mixing", "finetune_source"])
def test_whitebox_family_model_exports_fused_into_one_graph(
    tmp_path: Path,
    family: dict,
    strategy: str,
) -> None:
    params = {"*": {"max_epochs": 4, "patience": 4}}
    rec = Recycler(family["sources"], m=2, strategy=strategy, strategy_params=params)
    rec.fit(family["X"], family["y"])
    fp32, int8 = tmp_path / "m.onnx", tmp_path / "m8.onnx"
    rec.export(fp32)
    rec.export(int8, quantize="int8")
    X = family["Xte"]
    want = rec.predict(X)
    p, meta = run_isolated(fp32, X.astype(np.float32), tmp_path)
    assert agreement(p, want, meta["classes"]) >= 0.995
    np.testing.assert_allclose(p, rec.predict_proba(X), atol=1e-4)
    p8, meta8 = run_isolated(int8, X.astype(np.float32), tmp_path)
    assert agreement(p8, want, meta["classes"]) >= 0.97
    assert meta8["recycle"]["int8"]["quantized"] >= 3
    assert meta["classes"] == [6, 7, 8, 9]


def test_unexportable_sources_are_named_and_nothing_is_written(tmp_path: Path) -> None:
    class Remote:
        source_id, modality, access, feature_dim = "remote.api", "tabular", "black-box", 4

        def embed(self, X: np.ndarray) -> np.ndarray:
            return np.asarray(X, dtype=np.float32)[:, :4]

    class Other(Remote):
        source_id = "other.api"

    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(60, 6)).astype(np.float32), np.repeat([0, 1], 30)
    rec = Recycler([Remote(), Other()], m=2, strategy="linear_probe").fit(X, y)
    out = tmp_path / "m.onnx"
    with pytest.raises(IncompatibleError, match=r"remote\.api.*other\.api"):
        rec.export(out)
    assert not out.exists() and list(tmp_path.iterdir()) == []


def test_existing_file_is_refused_unless_overwrite(tmp_path: Path) -> None:
    location, d = tabular_zoo(tmp_path)
    rec = Recycler(location, m=1, strategy="linear_probe").fit(d["X"], d["y"])
    out = tmp_path / "m.onnx"
    out.write_text("the user's file")
    with pytest.raises(ConfigError, match="already exists"):
        rec.export(out)
    assert out.read_text() == "the user's file"
    rec.export(out, overwrite=True)
    assert out.read_bytes()[:2] != b"th"


def test_cli_export_writes_int8_file_and_refuses_to_overwrite(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    from recycle.cli import main

    location, d = tabular_zoo(tmp_path)
    Recycler(location, m=2, strategy="mcw").fit(d["X"], d["y"]).save(tmp_path / "model")
    out = tmp_path / "m8.onnx"
    args = ["export", str(tmp_path / "model"), "--out", str(out), "--zoo", location]
    assert main([*args, "--quantize", "int8"]) == 0
    p, meta = run_isolated(out, d["X_test"], tmp_path)
    assert meta["recycle"]["strategy"] == "mcw" and p.shape == (len(d["X_test"]), 2)
    before = out.read_bytes()
    capsys.readouterr()
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "already exists" in err and "--force" in err and "Traceback" not in err
    assert out.read_bytes() == before
    assert main([*args, "--quantize", "int4"]) == 2
    assert main([*args, "--force"]) == 0 and out.read_bytes() != before


def test_written_file_gets_the_mode_of_a_new_file(tmp_path: Path) -> None:
    import os

    from recycle.deploy.onnx_export import write_atomically

    umask = os.umask(0o022)
    try:
        path = write_atomically(b"x", tmp_path / "a.onnx")
    finally:
        os.umask(umask)
    assert path.stat().st_mode & 0o777 == 0o644
