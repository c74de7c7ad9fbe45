"""`recycle fit | predict | evaluate` on an npz round trip, and their bad-input exits."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import numpy as np
import pytest

from adapt_helpers import digit_mlp, ece_by_hand, target
from recycle import Recycler
from recycle.cli import main
from recycle.zoo import ModelCard, Zoo


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    root = tmp_path_factory.mktemp("cli")
    zoo = Zoo.open(str(root / "zoo"))
    for classes, name in [((0, 1, 2, 3, 4), "mlp.low"), ((5, 6, 7, 8, 9), "mlp.high")]:
        src = digit_mlp(classes)
        card = ModelCard(
            name=name, modality="tabular", task="classification",
            input={"shape": [64], "dtype": "float32", "value_range": [0.0, 1.0]},
            output={"feature_dim": src.feature_dim}, access=src.access, license="MIT",
            provider="tests",
        )  # fmt: skip
        zoo.register(src, card, validate=False)
    zoo.close()
    Xtr, ytr, Xte, yte = target((0, 3, 5, 8), shots=10)
    np.savez(root / "train.npz", X=Xtr, y=ytr)
    np.savez(root / "test.npz", X=Xte, y=yte)
    np.savez(root / "unlabelled.npz", X=Xte[:7])
    keep = yte != 8
    np.savez(root / "test_missing_class.npz", X=Xte[keep], y=yte[keep])
    return {"root": str(root), "zoo": str(root / "zoo")}


def test_fit_predict_evaluate_round_trip(
    setup: dict[str, str], capsys: pytest.CaptureFixture
) -> None:
    root, zoo = Path(setup["root"]), setup["zoo"]
    model = str(root / "model")
    code = main(["fit", str(root / "train.npz"), "--out", model, "--m", "2", "--strategy",
                 "linear_probe", "--zoo", zoo, "--json"])  # fmt: skip
    out = capsys.readouterr().out
    assert code == 0, out
    rep = json.loads(out)
    assert rep["strategy"] == "linear_probe" and rep["m"] == 2 and rep["out"] == model

    p_csv = str(root / "p.csv")
    assert main(["predict", model, str(root / "unlabelled.npz"), "--out", p_csv, "--zoo", zoo]) == 0
    rows = list(csv.reader((root / "p.csv").open()))
    assert rows[0][:2] == ["index", "prediction"] and len(rows) == 8
    assert {r[1] for r in rows[1:]} <= {"0", "3", "5", "8"}

    capsys.readouterr()
    assert main(["predict", model, str(root / "test.npz"), "--zoo", zoo]) == 0
    printed = list(csv.reader(io.StringIO(capsys.readouterr().out)))
    assert len(printed) > 8

    assert main(["evaluate", model, str(root / "test.npz"), "--json", "--zoo", zoo]) == 0
    ev = json.loads(capsys.readouterr().out)
    assert ev["accuracy"] > 0.7 and ev["absent_classes"] == []
    test = np.load(root / "test.npz")
    rec = Recycler.load(model, zoo=zoo)
    column = {str(c): i for i, c in enumerate(rec.classes_)}
    truth = np.array([column[str(v)] for v in test["y"]])
    assert ev["ece"] == pytest.approx(ece_by_hand(truth, rec.predict_proba(test["X"])), abs=1e-9)

    missing = str(root / "test_missing_class.npz")
    assert main(["evaluate", model, missing, "--json", "--zoo", zoo]) == 0
    ev = json.loads(capsys.readouterr().out)
    assert ev["absent_classes"] == ["8"] and any("do not occur" in w for w in ev["warnings"])


def test_fit_auto_with_progress_and_table(
    setup: dict[str, str], capsys: pytest.CaptureFixture
) -> None:
    root, zoo = Path(setup["root"]), setup["zoo"]
    code = main(["fit", str(root / "train.npz"), "--out", str(root / "auto"), "--zoo", zoo,
                 "--max-epochs", "10", "--time-budget", "30"])  # fmt: skip
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert "strategy=" in captured.out and "Saved to" in captured.out
    assert "cross-validation" in captured.err  # the Rich progress bar


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["fit", "missing.npz", "--out", "x"], "missing.npz"),
        (["fit", "{root}/train.npz", "--out", "{root}/x", "--m", "0"], "--m must be"),
        (
            [
                "fit",
                "{root}/train.npz",
                "--out",
                "{root}/x",
                "--strategy",
                "magic",
                "--zoo",
                "{zoo}",
            ],
            "'strategy' parameter of Recycler",
        ),
        (["predict", "{root}/nomodel", "{root}/test.npz"], "not a saved recycled model"),
    ],
)
def test_bad_input_exits_2_with_one_line(
    setup: dict[str, str], capsys: pytest.CaptureFixture, args: list[str], message: str
) -> None:
    argv = [a.format(root=setup["root"], zoo=setup["zoo"]) for a in args]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and message in err and "Traceback" not in err
