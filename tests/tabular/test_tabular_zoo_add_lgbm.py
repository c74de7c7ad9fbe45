"""`recycle zoo add MODEL.txt --card CARD.json`: a provider's LightGBM text model registers like
a skops file, checked against its card on the way in (never unpickled)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from lightgbm import LGBMClassifier
from sklearn.datasets import load_breast_cancer

from recycle.cli import main
from recycle.sources.lightgbm_source import LightGBMSource
from recycle.zoo import Zoo


@pytest.fixture(scope="module")
def provider(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, LGBMClassifier, dict]:
    data = load_breast_cancer()
    names = [n.replace(" ", "_") for n in data.feature_names]
    model = LGBMClassifier(n_estimators=30, random_state=0, verbose=-1, n_jobs=1)
    model.fit(data.data[:400], data.target[:400])
    root = tmp_path_factory.mktemp("lgbm_add")
    model.booster_.save_model(str(root / "model.txt"))
    card = {"name": "lgbm.cancer", "modality": "tabular", "task": "classification",
            "input": {"shape": [len(names)], "dtype": "float32", "columns": names,
                      "preprocess": "tabular:identity"},
            "output": {"feature_dim": 2, "source_classes": ["malignant", "benign"]},
            "access": "black-box", "license": "BSD-3-Clause"}  # fmt: skip
    return root, model, card


def _add(capsys: pytest.CaptureFixture[str], root: Path, card: dict, model: str) -> tuple:
    (root / "card.json").write_text(json.dumps(card))
    capsys.readouterr()
    code = main(["zoo", "add", str(root / model), "--card", str(root / "card.json"),
                 "--zoo", str(root / "zoo"), "--json"])  # fmt: skip
    out = capsys.readouterr()
    return code, out.out, out.err.strip()


def test_a_lightgbm_text_model_registers_and_predicts_like_the_provider_model(
    provider: tuple, capsys: pytest.CaptureFixture[str]
) -> None:
    root, model, card = provider
    code, out, err = _add(capsys, root, card, "model.txt")
    assert code == 0, err
    assert json.loads(out)["name"] == "lgbm.cancer"
    src = Zoo.open(root / "zoo", create=False).load("lgbm.cancer")
    assert isinstance(src, LightGBMSource)
    X = load_breast_cancer().data[400:]
    np.testing.assert_allclose(src.predict_proba(X), model.predict_proba(X), atol=1e-6)


@pytest.mark.parametrize(
    ("change", "match"),
    [({"output": {"feature_dim": 3, "source_classes": ["a", "b", "c"]}}, "entry says 3"),
     ({"modality": "image"}, "is a tabular source")],
)  # fmt: skip
def test_a_model_that_does_not_fit_its_card_is_refused_in_one_line(
    provider: tuple, capsys: pytest.CaptureFixture[str], change: dict, match: str
) -> None:
    root, _, card = provider
    code, _, err = _add(capsys, root, {**card, **change, "name": "lgbm.bad"}, "model.txt")
    assert code == 2 and len(err.splitlines()) == 1 and match in err, err


def test_a_text_file_that_is_no_lightgbm_model_is_refused(
    provider: tuple, capsys: pytest.CaptureFixture[str]
) -> None:
    root, _, card = provider
    (root / "notes.txt").write_text("hello=1\n")
    code, _, err = _add(capsys, root, {**card, "name": "lgbm.notes"}, "notes.txt")
    assert code == 2 and "not a LightGBM text model" in err, err
