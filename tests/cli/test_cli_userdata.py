"""Issue #18: a user's own data through the CLI, one data kind at a time, from a fresh folder.

Each kind (a table with named columns, images of mixed sizes and formats, a text CSV) goes
``fit -> predict on unlabelled data -> evaluate``; the predictions written by ``predict`` must
give exactly the accuracy ``evaluate`` reports. The bad-input table at the end checks that every
bad input exits 2 with one line naming the problem, and that nothing of the user's is touched.
"""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from adapt_helpers import digit_mlp, target
from image_helpers import save_digit
from recycle.cli import main
from recycle.zoo import ModelCard, Zoo

COLUMNS = [f"px{i}" for i in range(64)]
DIGITS = ("0", "3", "5", "8")


def _run(capsys: pytest.CaptureFixture, argv: list[str]) -> tuple[int, str, str]:
    code = main(argv)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _ok(capsys: pytest.CaptureFixture, argv: list[str]) -> str:
    code, out, err = _run(capsys, argv)
    assert code == 0, err
    return out


def _predictions(path: Path) -> dict[str, str]:
    with path.open(newline="") as fh:
        rows = list(csv.reader(fh))
    return {r[0]: r[1] for r in rows[1:]}


def _fresh_folder(data: Path, folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Work in ``folder`` (a new, empty one) with copies of the user's three CSVs."""
    monkeypatch.chdir(folder)
    for name in ("train.csv", "test.csv", "new.csv"):
        (folder / name).write_bytes((data / name).read_bytes())


def _accuracy(pred: dict[str, str], truth: dict[str, str]) -> float:
    return float(np.mean([pred[k] == truth[k] for k in truth]))


# -- a table with named columns -------------------------------------------------------------------
@pytest.fixture(scope="module")
def tabular(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("tabular")
    with Zoo.open(root / "zoo") as zoo:
        for classes, name in [((0, 1, 2, 3, 4), "mlp.low"), ((5, 6, 7, 8, 9), "mlp.high")]:
            src = digit_mlp(classes)
            card = ModelCard(
                name=name, modality="tabular", task="classification",
                input={"shape": [64], "dtype": "float32", "value_range": [0.0, 1.0],
                       "columns": COLUMNS},
                output={"feature_dim": src.feature_dim}, access=src.access, license="MIT",
            )  # fmt: skip
            zoo.register(src, card, validate=False)
    Xtr, ytr, Xte, yte = target(tuple(int(d) for d in DIGITS), shots=10)
    train = pd.DataFrame(Xtr, columns=COLUMNS).assign(label=ytr)
    train.to_csv(root / "train.csv", index=False)
    shuffled = list(np.random.default_rng(0).permutation(COLUMNS))
    test = pd.DataFrame(Xte, columns=COLUMNS)[shuffled].assign(label=yte)
    test.to_csv(root / "test.csv", index=False)
    test.drop(columns=["label"]).to_csv(root / "new.csv", index=False)  # unlabelled
    return root


def test_tabular_with_named_columns(
    tabular: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    _fresh_folder(tabular, tmp_path, monkeypatch)
    zoo = str(tabular / "zoo")
    fit = ["fit", "train.csv", "--out", "model", "--m", "2", "--strategy", "linear_probe"]
    rep = json.loads(_ok(capsys, [*fit, "--zoo", zoo, "--json"]))
    assert rep["m"] == 2 and rep["out"] == "model"
    meta = json.loads((tmp_path / "model" / "recycler.json").read_text())
    assert meta["schema"]["columns"] == COLUMNS

    # new.csv: the test rows, unlabelled, columns in another order than at fit
    _ok(capsys, ["predict", "model", "new.csv", "--out", "preds.csv", "--zoo", zoo])
    pred = _predictions(tmp_path / "preds.csv")
    truth = {str(i): str(v) for i, v in enumerate(pd.read_csv("test.csv")["label"])}
    assert set(pred) == set(truth) and set(pred.values()) <= set(DIGITS)

    ev = json.loads(_ok(capsys, ["evaluate", "model", "test.csv", "--zoo", zoo, "--json"]))
    assert ev["accuracy"] == pytest.approx(_accuracy(pred, truth))
    assert ev["accuracy"] > 0.8  # columns matched by name: by position this was 13 %


# -- images of mixed sizes, modes and formats --------------------------------------------------
@pytest.fixture(scope="module")
def images(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from recycle import datasets

    root = tmp_path_factory.mktemp("images")
    data = datasets.load("mnist")
    labels = np.asarray(data.y_test)
    for split, per_class, start in (("train", 10, 0), ("test", 15, 500)):
        for digit in DIGITS:
            folder = root / split / f"digit{digit}"
            folder.mkdir(parents=True)
            idx = np.flatnonzero(labels == data.classes.index(digit))[start : start + per_class]
            for i, j in enumerate(idx):
                save_digit(data.X_test[j], folder / f"{digit}_{j}", i)
        hidden = root / split / ".ipynb_checkpoints"  # a hidden folder is not a class
        hidden.mkdir()
        Image.new("L", (28, 28)).save(hidden / "x.png")
    new = root / "new"  # the test images, flat and unlabelled
    new.mkdir()
    for f in sorted((root / "test").glob("digit*/*")):
        (new / f.name).write_bytes(f.read_bytes())
    (new / ".DS_Store").write_bytes(b"\0\0junk")
    return root


def test_images_of_mixed_sizes_and_formats(
    images: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    monkeypatch.chdir(tmp_path)
    _ok(capsys, ["zoo", "add", "builtin:digitcnn.mnist", "--no-validate", "--zoo", "zoo"])
    train, test, new = (str(images / s) for s in ("train", "test", "new"))
    fit = ["fit", train, "--out", "model", "--m", "1", "--strategy", "linear_probe"]
    rep = json.loads(_ok(capsys, [*fit, "--zoo", "zoo", "--json"]))
    assert rep["classes"] == [f"digit{d}" for d in DIGITS] and rep["n_train"] == 40

    _ok(capsys, ["predict", "model", new, "--out", "preds.csv", "--zoo", "zoo"])
    pred = _predictions(tmp_path / "preds.csv")
    truth = {f.name: f.parent.name for f in Path(test).glob("digit*/*")}
    assert set(pred) == set(truth)  # keyed by file name; .DS_Store ignored

    ev = json.loads(_ok(capsys, ["evaluate", "model", test, "--zoo", "zoo", "--json"]))
    assert ev["accuracy"] == pytest.approx(_accuracy(pred, truth))
    assert ev["accuracy"] > 0.9

    one = sorted(Path(new).glob("*.webp"))[0]
    out = _ok(capsys, ["predict", "model", str(one), "--zoo", "zoo"])
    assert out.splitlines()[1].split(",")[:2] == [one.name, pred[one.name]]


# -- text --------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def text(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from recycle import datasets

    root = tmp_path_factory.mktemp("text")
    data = datasets.load("rotten-tomatoes")
    y = np.asarray(data.classes)[np.asarray(data.y_train)]
    rng = np.random.default_rng(0)
    train = np.concatenate([rng.choice(np.flatnonzero(y == c), 40, replace=False) for c in
                            data.classes])  # fmt: skip
    frame = pd.DataFrame({"text": [data.X_train[i] for i in train], "label": y[train]})
    frame.to_csv(root / "train.csv", index=False)
    yt = np.asarray(data.classes)[np.asarray(data.y_test)][:120]
    test = pd.DataFrame({"id": range(120), "text": data.X_test[:120], "label": yt})
    test.to_csv(root / "test.csv", index=False)
    test[["text"]].to_csv(root / "new.csv", index=False)  # only the text column
    return root


def test_text_csv(
    text: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    _fresh_folder(text, tmp_path, monkeypatch)
    _ok(capsys, ["zoo", "add", "builtin:minilm_l6.onnx", "--no-validate", "--zoo", "zoo"])
    fit = ["fit", "train.csv", "--out", "model", "--m", "1", "--strategy", "linear_probe"]
    _ok(capsys, [*fit, "--zoo", "zoo", "--json"])
    _ok(capsys, ["predict", "model", "new.csv", "--out", "preds.csv", "--zoo", "zoo"])
    pred = _predictions(tmp_path / "preds.csv")
    truth = {str(i): v for i, v in enumerate(pd.read_csv("test.csv")["label"])}
    ev = json.loads(_ok(capsys, ["evaluate", "model", "test.csv", "--zoo", "zoo", "--json"]))
    assert ev["n"] == 120 and ev["accuracy"] == pytest.approx(_accuracy(pred, truth))
    assert ev["accuracy"] > 0.6  # 80 shots of sentiment on MiniLM features; chance is 0.5


# -- the bad-input table -----------------------------------------------------------------------
@pytest.fixture(scope="module")
def fitted(
    tabular: Path, text: Path, images: Path, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, str]:
    """A tabular, a text and an image model, fitted once for the bad-input cases."""
    root = tmp_path_factory.mktemp("bad")
    zoo = str(tabular / "zoo")
    fit = ["--m", "1", "--strategy", "linear_probe", "--zoo", zoo]
    assert main(["fit", str(tabular / "train.csv"), "--out", str(root / "model"), *fit]) == 0
    with Zoo.open(root / "tzoo") as tz:
        from recycle.sources import builtin
        from recycle.zoo.builtin_cards import builtin_card

        for name in ("minilm_l6.onnx", "digitcnn.mnist"):
            src = builtin(name)
            tz.register(src, builtin_card(name, src), validate=False)
    tfit = ["--m", "1", "--strategy", "linear_probe", "--zoo", str(root / "tzoo")]
    assert main(["fit", str(text / "train.csv"), "--out", str(root / "tmodel"), *tfit]) == 0
    assert main(["fit", str(images / "train"), "--out", str(root / "imodel"), *tfit]) == 0
    return {"root": str(root), "zoo": zoo, "data": str(tabular), "tzoo": str(root / "tzoo")}


def _write(path: Path, data: bytes | str) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data if isinstance(data, bytes) else data.encode())
    return str(path)


def _truncated_png(path: Path) -> str:
    Image.new("L", (28, 28), 200).save(path)
    path.write_bytes(path.read_bytes()[:40])
    return str(path)


def _frame(data: str, drop: list[str] | None = None, add: dict[str, Any] | None = None) -> Any:
    frame = pd.read_csv(Path(data) / "test.csv").drop(columns=drop or [])
    return frame.assign(**(add or {}))


# (case, argv builder f(t, env) -> argv, exit code, message). ``t`` is a fresh tmp folder.
BAD: list[tuple[str, Any, int, str]] = [
    (
        "fit --out onto the data CSV",
        lambda t, e: [
            "fit",
            _write(t / "d.csv", (Path(e["data"]) / "train.csv").read_text()),
            "--out",
            str(t / "d.csv"),
            "--zoo",
            e["zoo"],
        ],
        2,
        "already exists and is a file",
    ),
    (
        "fit --out a folder with the user's files",
        lambda t, e: [
            "fit",
            f"{e['data']}/train.csv",
            "--out",
            str(Path(_write(t / "o/a.txt", "mine")).parent),
            "--zoo",
            e["zoo"],
        ],
        2,
        "is a folder that is not a recycle model",
    ),
    (
        "fit --out a user folder --force",
        lambda t, e: [
            "fit",
            f"{e['data']}/train.csv",
            "--out",
            str(Path(_write(t / "o/a.txt", "mine")).parent),
            "--force",
            "--zoo",
            e["zoo"],
        ],
        2,
        "is a folder that is not a recycle model",
    ),
    (
        "fit --out an existing model",
        lambda t, e: [
            "fit",
            f"{e['data']}/train.csv",
            "--out",
            f"{e['root']}/model",
            "--zoo",
            e["zoo"],
        ],
        2,
        "already holds a model; give a new folder, or pass --force",
    ),
    (
        "fit --out .",
        lambda t, e: ["fit", f"{e['data']}/train.csv", "--out", ".", "--zoo", e["zoo"]],
        2,
        "Refusing to write the model into the current folder",
    ),
    (
        "fit an empty CSV",
        lambda t, e: ["fit", _write(t / "e.csv", ""), "--out", str(t / "m"), "--zoo", e["zoo"]],
        2,
        "e.csv is empty",
    ),
    (
        "fit a CSV with a header only",
        lambda t, e: [
            "fit",
            _write(t / "h.csv", "a,b,label\n"),
            "--out",
            str(t / "m"),
            "--zoo",
            e["zoo"],
        ],
        2,
        "has a header but no rows",
    ),
    (
        "fit a binary file named .csv",
        lambda t, e: [
            "fit",
            _write(t / "b.csv", b"\xff\xfe\x00\x81" * 50),
            "--out",
            str(t / "m"),
            "--zoo",
            e["zoo"],
        ],
        2,
        "cannot be read as csv",
    ),
    (
        "fit an image folder with a truncated PNG",
        lambda t, e: [
            "fit",
            str(Path(_truncated_png(_mk(t / "im/a") / "bad.png")).parents[1]),
            "--out",
            str(t / "m"),
            "--zoo",
            e["zoo"],
        ],
        2,
        "bad.png' cannot be read",
    ),
    (
        "predict a truncated PNG",
        lambda t, e: [
            "predict",
            f"{e['root']}/imodel",
            _truncated_png(t / "bad.png"),
            "--zoo",
            e["tzoo"],
        ],
        2,
        "bad.png' cannot be read",
    ),
    (
        "predict a CSV missing a column",
        lambda t, e: [
            "predict",
            f"{e['root']}/model",
            _csv(t / "m.csv", _frame(e["data"], ["label", "px3"])),
            "--zoo",
            e["zoo"],
        ],
        2,
        "lacks column(s) 'px3'",
    ),
    (
        "evaluate a CSV missing a column",
        lambda t, e: [
            "evaluate",
            f"{e['root']}/model",
            _csv(t / "m.csv", _frame(e["data"], ["px10", "px11"])),
            "--zoo",
            e["zoo"],
        ],
        2,
        "lacks column(s) 'px10', 'px11'",
    ),
    (
        "evaluate an unlabelled CSV",
        lambda t, e: ["evaluate", f"{e['root']}/model", f"{e['data']}/new.csv", "--zoo", e["zoo"]],
        2,
        "new.csv has no 'label' column",
    ),
    (
        "predict a CSV with a text column that is not a feature",
        lambda t, e: [
            "predict",
            f"{e['root']}/model",
            _csv(t / "s.csv", _frame(e["data"], ["label", "px0"], {"px0": "dark"})),
            "--zoo",
            e["zoo"],
        ],
        2,
        "columns ['px0'] are not numeric",
    ),
    (
        "predict a table with a text model",
        lambda t, e: ["predict", f"{e['root']}/tmodel", f"{e['data']}/new.csv", "--zoo", e["tzoo"]],
        2,
        "has no 'text' column",
    ),
    (
        "predict images with a tabular model",
        lambda t, e: ["predict", f"{e['root']}/model", _png(t / "ok.png"), "--zoo", e["zoo"]],
        2,
        "Got images, but the model takes tabular data",
    ),
    (
        "predict a file that does not exist",
        lambda t, e: ["predict", f"{e['root']}/model", str(t / "nope.csv"), "--zoo", e["zoo"]],
        2,
        "nope.csv' does not exist",
    ),
    (
        "predict an unknown format",
        lambda t, e: [
            "predict",
            f"{e['root']}/model",
            _write(t / "x.txt", "1,2"),
            "--zoo",
            e["zoo"],
        ],
        2,
        "Unknown data format '.txt'",
    ),
    (
        "predict an .npz without X",
        lambda t, e: ["predict", f"{e['root']}/model", _npz(t / "w.npz"), "--zoo", e["zoo"]],
        2,
        "an .npz needs an array 'X'",
    ),
    (
        "predict with a folder that is not a model",
        lambda t, e: ["predict", str(t), f"{e['data']}/new.csv", "--zoo", e["zoo"]],
        2,
        "is not a saved recycled model",
    ),
    (
        "predict without the model's zoo",
        lambda t, e: [
            "predict",
            f"{e['root']}/model",
            f"{e['data']}/new.csv",
            "--zoo",
            str(t / "moved"),
        ],
        2,
        "pass --zoo (zoo=) with the zoo it came from",
    ),
    (
        "predict --out an existing file",
        lambda t, e: [
            "predict",
            f"{e['root']}/model",
            f"{e['data']}/new.csv",
            "--out",
            _write(t / "p.csv", "mine"),
            "--zoo",
            e["zoo"],
        ],
        2,
        "already exists; give a new file name, or pass --force",
    ),
    (
        "predict --out a folder",
        lambda t, e: [
            "predict",
            f"{e['root']}/model",
            f"{e['data']}/new.csv",
            "--out",
            str(t),
            "--zoo",
            e["zoo"],
        ],
        2,
        "is a folder; give a file name",
    ),
    (
        "spec build --out an existing file",
        lambda t, e: ["spec", "build", f"{e['data']}/new.csv", "--out", _write(t / "s.json", "{}")],
        2,
        "already exists; give a new file name",
    ),
]


def _mk(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    return path


def _csv(path: Path, frame: Any) -> str:
    frame.to_csv(path, index=False)
    return str(path)


def _png(path: Path) -> str:
    Image.new("L", (28, 28), 50).save(path)
    return str(path)


def _npz(path: Path) -> str:
    np.savez(path, features=np.zeros((2, 64)))
    return str(path)


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


@pytest.mark.parametrize(("case", "argv", "code", "message"), BAD, ids=[b[0] for b in BAD])
def test_bad_input_table(
    fitted: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture, case: str, argv: Any, code: int, message: str,
) -> None:  # fmt: skip
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    args = argv(tmp_path, fitted)
    before = _snapshot(tmp_path)
    models = [Path(fitted["root"]) / m for m in ("model", "tmodel", "imodel")]
    model_before = [_snapshot(m) for m in models]
    got, _, err = _run(capsys, args)
    assert got == code, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: ") and "Traceback" not in err, err
    assert message in lines[0], lines[0]
    assert _snapshot(tmp_path) == before  # nothing written, nothing replaced
    assert [_snapshot(m) for m in models] == model_before
    assert not (tmp_path / "moved").exists()
    assert sorted(os.listdir(work)) == []


def test_extra_columns_are_dropped_with_a_warning(
    fitted: dict[str, str], tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    new = pd.read_csv(Path(fitted["data"]) / "new.csv")
    extra = new.assign(comment="seen in March", customer_id=range(len(new)))
    path = _csv(tmp_path / "extra.csv", extra)
    model, zoo = f"{fitted['root']}/model", fitted["zoo"]
    code, out_extra, err = _run(capsys, ["predict", model, path, "--zoo", zoo])
    assert code == 0
    assert err.strip() == (
        "Warning: extra.csv: dropped column(s) 'comment', 'customer_id' that the model does "
        "not use."
    )
    plain = _ok(capsys, ["predict", model, f"{fitted['data']}/new.csv", "--zoo", zoo])
    assert out_extra == plain


def test_unreadable_images_skipped_with_a_warning_by_flag(
    fitted: dict[str, str], images: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    new = tmp_path / "new"
    new.mkdir()
    good = sorted((images / "new").glob("*.png"))[:3]
    for f in good:
        (new / f.name).write_bytes(f.read_bytes())
    _truncated_png(new / "broken.png")
    argv = ["predict", f"{fitted['root']}/imodel", str(new), "--zoo", fitted["tzoo"]]
    code, _, err = _run(capsys, argv)
    assert code == 2 and "broken.png' cannot be read" in err and len(err.splitlines()) == 1
    code, out, err = _run(capsys, [*argv, "--skip-bad-images"])
    assert code == 0 and err.startswith("Warning: Skipped an unreadable image:")
    assert "broken.png" in err and len(err.strip().splitlines()) == 1
    assert [r.split(",")[0] for r in out.splitlines()[1:]] == [f.name for f in good]
