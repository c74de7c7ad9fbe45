"""Search works out of the box for each modality: providers' ``zoo add --spec-data`` builds specs
in the modality's standard space, and a user's text CSV or image folder finds them with no
``--space`` (the CLI picks the zoo's space with ``choose_space``)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from recycle import datasets
from recycle.cli import main
from recycle.spec import space_for

ROWS = 60  # provider rows per spec; the default embeddings make these tests take seconds


def _add(zoo: str, model: str, data: Path, capsys: pytest.CaptureFixture[str]) -> dict:
    capsys.readouterr()
    args = ["zoo", "add", f"builtin:{model}", "--spec-data", str(data), "--no-validate",
            "--zoo", zoo, "--json"]  # fmt: skip
    assert main(args) == 0
    return json.loads(capsys.readouterr().out)


def _search(zoo: str, data: Path, capsys: pytest.CaptureFixture[str]) -> list[str]:
    capsys.readouterr()
    assert main(["search", str(data), "--zoo", zoo, "--json"]) == 0  # no --space
    return [h["name"] for h in json.loads(capsys.readouterr().out)["hits"]]


def test_text_csv_finds_the_provider_whose_texts_it_resembles(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    reviews = datasets.load("rotten-tomatoes").X_train
    speeches = [t[:300] for t in datasets.load("speeches").X_train]  # long: embedding is slow
    np.savez(tmp_path / "reviews.npz", X=np.array(reviews[:ROWS]))
    np.savez(tmp_path / "speeches.npz", X=np.array(speeches[:ROWS]))
    zoo = str(tmp_path / "zoo")
    a = _add(zoo, "minilm_l6.onnx", tmp_path / "reviews.npz", capsys)
    b = _add(zoo, "paraphrase_minilm_l3.onnx", tmp_path / "speeches.npz", capsys)
    assert a["spec_space"] == b["spec_space"] == space_for("text") == "minilm_l6.onnx:384"
    import pandas as pd

    pd.DataFrame({"text": reviews[ROWS : 2 * ROWS]}).to_csv(tmp_path / "q.csv", index=False)
    assert _search(zoo, tmp_path / "q.csv", capsys) == [
        "minilm_l6.onnx",
        "paraphrase_minilm_l3.onnx",
    ]
    pd.DataFrame({"text": speeches[ROWS : 2 * ROWS]}).to_csv(tmp_path / "s.csv", index=False)
    assert _search(zoo, tmp_path / "s.csv", capsys)[0] == "paraphrase_minilm_l3.onnx"


def test_image_folder_of_any_size_finds_the_provider_of_those_images(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    digits, fashion = datasets.load("mnist"), datasets.load("fashion-mnist")
    np.savez(tmp_path / "digits.npz", X=digits.X_train[:ROWS])
    np.savez(tmp_path / "fashion.npz", X=fashion.X_train[:ROWS])
    zoo = str(tmp_path / "zoo")
    a = _add(zoo, "digitcnn.mnist", tmp_path / "digits.npz", capsys)
    b = _add(zoo, "digitcnn.usps", tmp_path / "fashion.npz", capsys)
    assert a["spec_space"] == b["spec_space"] == space_for("image")
    for name, data in (("digits", digits), ("fashion", fashion)):
        folder = tmp_path / f"{name}-query" / "unlabelled"
        folder.mkdir(parents=True)
        for i, img in enumerate(data.X_test[:30]):  # 40 x 40: not the providers' 28 x 28
            Image.fromarray(np.asarray(img, np.uint8)).resize((40, 40)).save(folder / f"{i}.png")
        hits = _search(zoo, folder.parent, capsys)
        assert hits[0] == ("digitcnn.mnist" if name == "digits" else "digitcnn.usps")
