"""Two-part text export: tokenizer JSON + one ONNX graph, run with onnxruntime and tokenizers
alone (no recycle, no torch, no zoo), predicting like the model."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from deploy_helpers import agreement, run_isolated_text
from recycle.adapt import Recycler
from recycle.deploy.text_export import tokenizer_json
from recycle.errors import IncompatibleError


@pytest.fixture(scope="module")
def text_model(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """A linear probe on the MiniLM ONNX encoder, fitted on 200 Rotten Tomatoes reviews."""
    from recycle.datasets import load
    from recycle.sources import builtin

    ds = load("rotten-tomatoes")
    rng = np.random.default_rng(0)
    tr, te = rng.permutation(len(ds.y_train))[:200], rng.permutation(len(ds.y_test))[:300]
    rec = Recycler([builtin("minilm_l6.onnx")], m=1, strategy="linear_probe")
    rec.fit([ds.X_train[i] for i in tr], ds.y_train[tr])
    folder = tmp_path_factory.mktemp("text") / "model"
    rec.save(folder)
    return {"rec": rec, "folder": folder, "X": [ds.X_test[i] for i in te], "y": ds.y_test[te]}


def test_text_model_exports_as_tokenizer_json_plus_one_graph(
    tmp_path: Path, text_model: dict
) -> None:
    from recycle.cli import main

    out = tmp_path / "model.onnx"
    assert main(["export", str(text_model["folder"]), "--out", str(out)]) == 0
    tok = tmp_path / "model.tokenizer.json"
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([tok.name, out.name])
    X = text_model["X"]
    want = text_model["rec"].predict_proba(X)
    p, meta = run_isolated_text(tmp_path, X)
    assert meta["inputs"] == ["input_ids", "attention_mask"]
    assert agreement(p, np.asarray(meta["classes"])[want.argmax(1)], meta["classes"]) >= 0.995
    np.testing.assert_allclose(p, want, atol=1e-4)
    schema = meta["recycle"]["schema"]
    assert schema["modality"] == "text" and schema["tokenizer"] == tok.name
    licence = meta["recycle"]["licence"]  # MiniLM's training data has mixed terms
    assert licence["level"] == "unknown"
    assert licence["decided_by"][0].startswith("minilm_l6.onnx (training data: about 1 billion")


def test_text_export_refuses_an_existing_tokenizer_and_writes_nothing(
    tmp_path: Path, text_model: dict
) -> None:
    from recycle.cli import main

    (tmp_path / "m.tokenizer.json").write_text("the user's file")
    assert main(["export", str(text_model["folder"]), "--out", str(tmp_path / "m.onnx")]) == 2
    assert [p.name for p in tmp_path.iterdir()] == ["m.tokenizer.json"]
    assert (tmp_path / "m.tokenizer.json").read_text() == "the user's file"


def test_sources_with_different_tokenizers_are_named() -> None:
    class Src:
        def __init__(self, pid: str) -> None:
            self.preprocess_id = pid

    with pytest.raises(IncompatibleError, match=r"\(text:minilm, text:minilm@max_length=128\)"):
        tokenizer_json([Src("text:minilm"), Src("text:minilm@max_length=128")])


def test_report_runs_the_text_export_through_its_tokenizer(text_model: dict) -> None:
    from recycle.deploy.report import deployment_costs

    X, y = text_model["X"][:80], text_model["y"][:80]
    costs = deployment_costs(text_model["rec"], X, y, single_rows=2)
    assert costs["export"]["fp32"]["agreement"] >= 0.995
    assert costs["export"]["int8"]["agreement"] >= 0.97
    assert costs["export"]["fp32"]["accuracy"] == pytest.approx(costs["accuracy"], abs=0.0125)
