"""`recycle zoo init|list|show|add|remove|fsck` through :func:`recycle.cli.main`."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from recycle.cli import main
from recycle.zoo import Zoo
from zoo_helpers import mlp_card, mlp_source


def _json(capsys: pytest.CaptureFixture[str], argv: list[str]) -> object:
    capsys.readouterr()
    assert main(argv) == 0, capsys.readouterr().err
    return json.loads(capsys.readouterr().out)


def _fails(capsys: pytest.CaptureFixture[str], argv: list[str], match: str) -> str:
    capsys.readouterr()
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("Error:") and len(err.splitlines()) == 1 and "Traceback" not in err
    assert match in err, err
    return err


def test_builtin_lifecycle_with_real_weights(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    zoo = str(tmp_path / "zoo")
    info = _json(capsys, ["zoo", "init", "--zoo", zoo, "--json"])
    assert info["entries"] == 0 and (tmp_path / "zoo" / "catalog.db").exists()
    # the real pre-trained MNIST CNN, checked in a separate process (validation on)
    entry = _json(capsys, ["zoo", "add", "builtin:digitcnn.mnist", "--zoo", zoo, "--json"])
    assert entry["card"]["license"] == "MIT" and entry["card"]["output"]["feature_dim"] == 128
    assert entry["card"]["training_data"]["size"] == 60000
    listed = _json(capsys, ["zoo", "list", "--modality", "image", "--zoo", zoo, "--json"])
    assert [e["name"] for e in listed] == ["digitcnn.mnist"]
    assert _json(capsys, ["zoo", "list", "--modality", "text", "--zoo", zoo, "--json"]) == []
    shown = _json(capsys, ["zoo", "show", "digitcnn.mnist", "--zoo", zoo, "--json"])
    assert shown["id"] == entry["id"]
    _fails(capsys, ["zoo", "add", "builtin:digitcnn.mnist", "--zoo", zoo], "already has")
    v2 = ["zoo", "add", "builtin:digitcnn.mnist", "--version", "2.0", "--no-validate"]
    _json(capsys, [*v2, "--zoo", zoo, "--json"])
    shown = _json(capsys, ["zoo", "show", "digitcnn.mnist", "--zoo", zoo, "--json"])
    assert shown["version"] == "2.0"
    assert main(["zoo", "list", "--all-versions", "--zoo", zoo]) == 0
    assert "Zoo models (2)" in capsys.readouterr().out  # the Rich table
    removed = _json(capsys, ["zoo", "remove", "digitcnn.mnist", "--zoo", zoo, "--json"])
    assert sorted(r["version"] for r in removed) == ["1.0.0", "2.0"]
    assert _json(capsys, ["zoo", "list", "--zoo", zoo, "--json"]) == []
    assert _json(capsys, ["zoo", "fsck", "--verify", "--zoo", zoo, "--json"])["clean"] is True


def test_add_safetensors_with_arch_card_and_spec(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    from recycle.sources import serialize

    src = mlp_source(3)
    config, files = serialize(src)
    (tmp_path / "w.safetensors").write_bytes(files["weights.safetensors"])
    arch = {"architecture": config["architecture"], "arch_kwargs": config["arch_kwargs"]}
    (tmp_path / "arch.json").write_text(json.dumps(arch))
    card = mlp_card("mlp.cli", input={"shape": [4], "dtype": "float32", "value_range": [-1, 1],
                                      "preprocess": "tabular:identity"})  # fmt: skip
    (tmp_path / "card.json").write_text(card.to_json())
    X = np.random.default_rng(0).normal(size=(120, 4)).astype(np.float32)
    np.savez(tmp_path / "source.npz", X=X)
    zoo = str(tmp_path / "zoo")
    args = ["zoo", "add", str(tmp_path / "w.safetensors"), "--card", str(tmp_path / "card.json"),
            "--arch", str(tmp_path / "arch.json"), "--spec-data", str(tmp_path / "source.npz"),
            "--no-validate", "--zoo", zoo, "--json"]  # fmt: skip
    entry = _json(capsys, args)
    assert entry["spec_space"] == "input:4"
    opened = Zoo.open(zoo)
    Xq = X[:5]
    np.testing.assert_allclose(opened.load("mlp.cli").embed(Xq), src.embed(Xq), rtol=1e-6)
    assert opened.search(X[:60], top=1)[0].entry.name == "mlp.cli"


def test_add_skops_model_trained_on_iris(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    import skops.io
    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression

    X, y = load_iris(return_X_y=True)
    clf = LogisticRegression(max_iter=500).fit(X, y)
    (tmp_path / "iris.skops").write_bytes(skops.io.dumps(clf))
    card = mlp_card(
        "logreg.iris",
        task="classification",
        input={"shape": [4], "dtype": "float64", "value_range": [0, 8],
               "preprocess": "tabular:identity"},
        output={"feature_dim": 3, "source_classes": ["0", "1", "2"]},
        access="black-box",
        training_data={"description": "Fisher's iris", "size": 150, "license": "CC0"},
    )  # fmt: skip
    (tmp_path / "card.json").write_text(card.to_json())
    zoo = str(tmp_path / "zoo")
    args = ["zoo", "add", str(tmp_path / "iris.skops"), "--card", str(tmp_path / "card.json")]
    entry = _json(capsys, [*args, "--no-validate", "--zoo", zoo, "--json"])
    loaded = Zoo.open(zoo).load(entry["id"])
    np.testing.assert_allclose(loaded.embed(X[:10]), clf.predict_proba(X[:10]), rtol=1e-5)


def test_add_real_onnx_encoder(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    from recycle.sources import builtin

    ref = builtin("minilm_l6.onnx")
    (tmp_path / "minilm.onnx").write_bytes(ref.model_bytes())
    card = mlp_card(
        "minilm_l6.copy",
        modality="text",
        task="sentence-embedding",
        input={"shape": [], "dtype": "str", "preprocess": ref.preprocess_id},
        output={"feature_dim": 384},
        access="black-box",
        license="Apache-2.0",
    )
    (tmp_path / "card.json").write_text(card.to_json())
    (tmp_path / "arch.json").write_text(json.dumps({"output": ref.output, "pooling": "mean"}))
    zoo = str(tmp_path / "zoo")
    args = ["zoo", "add", str(tmp_path / "minilm.onnx"), "--card", str(tmp_path / "card.json"),
            "--arch", str(tmp_path / "arch.json"), "--no-validate", "--zoo", zoo]  # fmt: skip
    assert main(args) == 0
    texts = ["a cat sat on the mat", "stock markets fell sharply"]
    loaded = Zoo.open(zoo).load("minilm_l6.copy")
    np.testing.assert_allclose(loaded.embed(texts), ref.embed(texts), rtol=1e-4, atol=1e-5)


def test_bad_input_exits_2_with_one_line(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    zoo = str(tmp_path / "zoo")
    (tmp_path / "model.pth").write_bytes(b"\x80\x04K\x01.")
    (tmp_path / "card.json").write_text(mlp_card("mlp.bad").to_json())
    (tmp_path / "w.safetensors").write_bytes(b"\x00" * 16)
    (tmp_path / "bad_card.json").write_text(json.dumps({"name": "../evil", "modality": "x"}))
    card = ["--card", str(tmp_path / "card.json")]
    _fails(capsys, ["zoo", "add", str(tmp_path / "model.pth"), *card, "--zoo", zoo], "pickle")
    _fails(capsys, ["zoo", "add", str(tmp_path / "w.safetensors"), *card, "--zoo", zoo], "--arch")
    _fails(capsys, ["zoo", "add", str(tmp_path / "w.safetensors"), "--zoo", zoo], "--card")
    _fails(
        capsys,
        ["zoo", "add", str(tmp_path / "w.safetensors"), "--card", str(tmp_path / "bad_card.json"),
         "--zoo", zoo],
        "Card",
    )  # fmt: skip
    _fails(capsys, ["zoo", "add", "builtin:nope.nothing", "--zoo", zoo], "nope.nothing")
    _fails(capsys, ["zoo", "show", "mlp.none", "--zoo", zoo], "mlp.none")
    _fails(capsys, ["zoo", "remove", "mlp.none", "--zoo", zoo], "mlp.none")
    _fails(capsys, ["zoo", "list", "--modality", "audio", "--zoo", zoo], "modality")
    assert Zoo.open(zoo).stats()["blobs"] == 0


def test_every_zoo_command_has_help(capsys: pytest.CaptureFixture) -> None:
    for command in ("init", "list", "show", "add", "remove", "fsck"):
        assert main(["zoo", command, "--help"]) == 0
        out = capsys.readouterr().out
        assert "--zoo" in out and "--json" in out
