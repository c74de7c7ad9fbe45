"""recycle.data: target formats round trip, and every bad input gets a one-line DataError."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from recycle.data import check_target, infer_modality, load_target
from recycle.errors import DataError


def _images(root: Path, spec: dict[str, int], size: tuple[int, int] = (6, 5), mode: str = "L"):
    rng = np.random.default_rng(0)
    for cls, n in spec.items():
        (root / cls).mkdir(parents=True, exist_ok=True)
        for i in range(n):
            shape = (size[1], size[0]) if mode == "L" else (size[1], size[0], 3)
            Image.fromarray(rng.integers(0, 256, shape, dtype=np.uint8), mode).save(
                root / cls / f"{i}.png"
            )


def test_npz_tabular_round_trip(tmp_path: Path) -> None:
    X = np.random.default_rng(0).normal(size=(6, 3)).astype(np.float32)
    np.savez(tmp_path / "t.npz", X=X, y=np.array([2, 0, 2, 0, 5, 5]))
    target = load_target(tmp_path / "t.npz")
    assert target.modality == "tabular" and target.classes == [0, 2, 5]
    np.testing.assert_array_equal(target.X, X)
    assert target.y.tolist() == [1, 0, 1, 0, 2, 2] and target.y.dtype == np.int64
    np.testing.assert_array_equal(np.asarray(target.classes)[target.y], [2, 0, 2, 0, 5, 5])


def test_npz_images_and_text(tmp_path: Path) -> None:
    imgs = np.arange(4 * 8 * 8, dtype=np.uint8).reshape(4, 8, 8)
    np.savez(tmp_path / "img.npz", X=imgs, y=np.array(["cat", "dog", "cat", "dog"]))
    target = load_target(str(tmp_path / "img.npz"))
    assert target.modality == "image" and target.classes == ["cat", "dog"]
    np.testing.assert_array_equal(target.X, imgs)
    np.savez(tmp_path / "txt.npz", X=np.array(["good", "bad", "fine", "awful"]), y=[1, 0, 1, 0])
    text = load_target(tmp_path / "txt.npz")
    assert text.modality == "text" and text.X == ["good", "bad", "fine", "awful"]


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_table_tabular_round_trip(tmp_path: Path, suffix: str) -> None:
    frame = pd.DataFrame({"a": [1.0, 2, 3, 4], "b": [0, 1, 0, 1], "label": ["x", "y", "x", "y"]})
    path = tmp_path / f"t{suffix}"
    frame.to_csv(path, index=False) if suffix == ".csv" else frame.to_parquet(path)
    target = load_target(path)
    assert target.modality == "tabular" and target.classes == ["x", "y"]
    np.testing.assert_array_equal(target.X, frame[["a", "b"]].to_numpy(np.float32))
    assert target.y.tolist() == [0, 1, 0, 1]


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_table_text_round_trip(tmp_path: Path, suffix: str) -> None:
    frame = pd.DataFrame(
        {"text": ["a fine film", "dull, dull", "loved it", "no"], "label": [1, 0, 1, 0]}
    )
    path = tmp_path / f"t{suffix}"
    frame.to_csv(path, index=False) if suffix == ".csv" else frame.to_parquet(path)
    target = load_target(path)
    assert target.modality == "text" and frame["text"].tolist() == target.X
    assert target.classes == [0, 1] and target.y.tolist() == [1, 0, 1, 0]


@pytest.mark.parametrize(("mode", "shape"), [("L", (5, 6)), ("RGB", (5, 6, 3))])
def test_image_folder_round_trip(tmp_path: Path, mode: str, shape: tuple[int, ...]) -> None:
    _images(tmp_path, {"zebra": 2, "ant": 3}, mode=mode)
    target = load_target(tmp_path)
    assert target.modality == "image" and target.classes == ["ant", "zebra"]
    assert target.X.shape == (5, *shape) and target.X.dtype == np.uint8
    assert target.y.tolist() == [0, 0, 0, 1, 1]
    first = np.asarray(Image.open(tmp_path / "ant" / "0.png"))
    np.testing.assert_array_equal(target.X[0], first)


def test_image_folder_mixed_gray_and_rgb_becomes_rgb(tmp_path: Path) -> None:
    _images(tmp_path, {"a": 2}, mode="L")
    _images(tmp_path, {"b": 2}, mode="RGB")
    assert load_target(tmp_path).X.shape == (4, 5, 6, 3)


def _write_csv(path: Path, frame: pd.DataFrame) -> Path:
    frame.to_csv(path, index=False)
    return path


FILE_ERRORS: list[tuple[str, Any, str]] = [
    ("missing", lambda p: p / "nope.npz", "does not exist"),
    ("format", lambda p: (p / "t.txt").write_text("x") and p / "t.txt", "valid formats: .npz"),
    (
        "npz keys",
        lambda p: np.savez(p / "k.npz", features=np.ones(3)) or p / "k.npz",
        "needs arrays 'X' and 'y'",
    ),
    (
        "npz object",
        lambda p: (
            np.savez(p / "o.npz", X=np.array([{}, {}], dtype=object), y=[0, 1]) or p / "o.npz"
        ),
        "object arrays",
    ),
    (
        "label column",
        lambda p: _write_csv(p / "t.csv", pd.DataFrame({"a": [1, 2], "class": [0, 1]})),
        "no 'label' column",
    ),
    (
        "non-numeric",
        lambda p: _write_csv(
            p / "t.csv", pd.DataFrame({"a": ["u", "v"] * 2, "label": [0, 1, 0, 1]})
        ),
        r"columns \['a'\] are not numeric",
    ),
    (
        "empty label",
        lambda p: _write_csv(p / "t.csv", pd.DataFrame({"a": [1, 2, 3], "label": [0, None, 1]})),
        "empty 'label'",
    ),
    (
        "nan feature",
        lambda p: _write_csv(
            p / "t.csv", pd.DataFrame({"a": [1, np.nan, 3, 4], "label": [0, 1, 0, 1]})
        ),
        "NaN/inf values",
    ),
    ("empty folder", lambda p: (p / "d").mkdir() or p / "d", "no images"),
]


@pytest.mark.parametrize(("case", "make", "match"), FILE_ERRORS, ids=[c[0] for c in FILE_ERRORS])
def test_load_target_errors(tmp_path: Path, case: str, make: Any, match: str) -> None:
    with pytest.raises(DataError, match=match) as info:
        load_target(make(tmp_path))
    assert "\n" not in str(info.value)
    assert isinstance(info.value, ValueError)


def test_image_folder_of_mixed_sizes_is_brought_to_the_common_size(tmp_path: Path) -> None:
    """Issue #18: mixed sizes were refused ("resize all images to one size")."""
    _images(tmp_path, {"a": 2}, size=(6, 5))
    _images(tmp_path, {"b": 3}, size=(7, 7))
    target = load_target(tmp_path)
    assert target.X.shape == (5, 7, 7) and target.classes == ["a", "b"]
    assert target.y.tolist() == [0, 0, 1, 1, 1]


def test_image_folder_with_one_image_of_a_class(tmp_path: Path) -> None:
    _images(tmp_path, {"a": 3, "lonely": 1})
    with pytest.raises(DataError, match="Class 'lonely' has 1 example"):
        load_target(tmp_path)


ARRAY_ERRORS: list[tuple[str, Any, Any, str]] = [
    ("empty", np.zeros((0, 2)), [], "no examples"),
    ("length", np.zeros((3, 2)), [0, 1], "X has 3 rows but y has 2"),
    ("nan", np.array([[0.0], [np.nan], [1.0], [2.0]]), [0, 0, 1, 1], r"1 NaN/inf .*row 1"),
    ("inf", np.array([[0.0], [1.0], [np.inf], [2.0]]), [0, 0, 1, 1], "row 2"),
    ("single class", np.zeros((3, 2)), ["a", "a", "a"], "single class 'a'"),
    ("one example", np.zeros((5, 2)), ["a", "a", "b", "b", "c"], "Class 'c' has 1 example"),
    ("mixed labels", np.zeros((4, 2)), ["a", 1, "a", 1], "mix strings and numbers"),
    ("float labels", np.zeros((4, 2)), [0.5, 1.5, 0.5, 1.5], "non-integer"),
    ("nan labels", np.zeros((4, 2)), [0, 1, 0, np.nan], "NaN or inf"),
    ("non-numeric X", np.array([[{}], [{}]], dtype=object), [0, 1], "must be numeric"),
    ("None", None, [0], "needs both X and y"),
]


@pytest.mark.parametrize(
    ("case", "X", "y", "match"), ARRAY_ERRORS, ids=[c[0] for c in ARRAY_ERRORS]
)
def test_check_target_errors(case: str, X: Any, y: Any, match: str) -> None:
    with pytest.raises(DataError, match=match) as info:
        check_target(X, y)
    assert "\n" not in str(info.value)


def test_check_target_labels() -> None:
    X = np.zeros((6, 1))
    _, y, classes = check_target(X, np.array([10, 2, 10, 2, 33, 33]))
    assert classes == [2, 10, 33] and y.tolist() == [1, 0, 1, 0, 2, 2]  # numeric, not str order
    _, y, classes = check_target(X, [1.0, 0.0, 1.0, 0.0, 1.0, 0.0])
    assert classes == [0, 1] and isinstance(classes[0], int)
    _, y, classes = check_target(X, ["b", "a", "c", "a", "b", "c"])
    assert classes == ["a", "b", "c"] and y.tolist() == [1, 0, 2, 0, 1, 2]
    _, y, _ = check_target(X, [0, 1, 0, 1, 0, 1], min_per_class=3)
    with pytest.raises(DataError, match="needs at least 4"):
        check_target(X, [0, 1, 0, 1, 0, 1], min_per_class=4)


def test_check_target_text() -> None:
    X, _y, classes = check_target(["a", "b", "c", "d"], ["neg", "pos", "neg", "pos"])
    assert X == ["a", "b", "c", "d"] and classes == ["neg", "pos"]
    assert infer_modality(X) == "text"
