"""recycle.imagefiles: the one resize policy, modes, EXIF orientation, hidden and broken files."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from recycle.data import load_target
from recycle.errors import DataError
from recycle.imagefiles import common_size, fit_to, image_files, read_images


def _arrow(size: int = 16) -> np.ndarray:
    """A grey image whose top-left quarter is white: its orientation is visible."""
    pixels = np.zeros((size, size), dtype=np.uint8)
    pixels[: size // 2, : size // 2] = 255
    return pixels


def test_exif_orientation_is_honoured(tmp_path: Path) -> None:
    exif = Image.Exif()
    exif[0x0112] = 6  # display = stored pixels turned 90 degrees clockwise
    Image.fromarray(_arrow()).rotate(90).save(tmp_path / "turned.jpg", exif=exif, quality=100)
    X, _, _ = read_images([tmp_path / "turned.jpg"])
    assert X.shape == (1, 16, 16)
    assert X[0, :8, :8].mean() > 200 and X[0, 8:, 8:].mean() < 50  # upright again


def test_modes_become_grey_or_rgb_with_transparency_on_white(tmp_path: Path) -> None:
    rgba = np.zeros((8, 8, 4), dtype=np.uint8)  # fully transparent black
    Image.fromarray(rgba, "RGBA").save(tmp_path / "clear.png")
    Image.fromarray(_arrow(8)).convert("P").save(tmp_path / "palette.gif")
    Image.fromarray(_arrow(8).astype(np.uint16) * 257).save(tmp_path / "deep.png")
    X, files, _ = read_images(image_files(tmp_path))
    assert [f.name for f in files] == ["clear.png", "deep.png", "palette.gif"]
    assert X.shape == (3, 8, 8)  # no colour anywhere: grey
    assert X[0].min() == 255  # transparent pixels are laid on white
    np.testing.assert_array_equal(X[1], _arrow(8))  # 16-bit scaled to 0..255
    np.testing.assert_array_equal(X[2], _arrow(8))
    Image.new("LA", (8, 8), (0, 128)).save(tmp_path / "half.png")  # black, half transparent
    X, files, _ = read_images(image_files(tmp_path))
    assert files[2].name == "half.png" and X.shape == (4, 8, 8) and X[2].max() == 127
    Image.new("RGB", (8, 8), (200, 30, 30)).save(tmp_path / "red.bmp")
    X, _, _ = read_images(image_files(tmp_path))
    assert X.shape == (5, 8, 8, 3) and tuple(X[4, 0, 0]) == (200, 30, 30)


def test_resize_policy_covers_then_crops_the_centre() -> None:
    wide = np.zeros((10, 30), dtype=np.uint8)
    wide[:, 10:20] = 255  # a white centre third
    out = fit_to(wide, (10, 10))
    assert out.shape == (10, 10) and out.min() == 255  # the centre kept, not squeezed
    assert common_size([(5, 6), (7, 7), (5, 6), (7, 7)]) == (7, 7)  # tie: larger area


def test_hidden_files_and_folders_are_ignored(tmp_path: Path) -> None:
    for cls in ("cat", "dog", ".ipynb_checkpoints", "__MACOSX"):
        (tmp_path / cls).mkdir()
        for i in range(2):
            Image.fromarray(_arrow(8)).save(tmp_path / cls / f"{i}.png")
    (tmp_path / "cat" / ".0-checkpoint.png").write_bytes(b"not an image")
    target = load_target(tmp_path)
    assert target.classes == ["cat", "dog"] and target.X.shape == (4, 8, 8)


def test_a_broken_file_is_named_or_skipped_by_flag(tmp_path: Path) -> None:
    Image.fromarray(_arrow(8)).save(tmp_path / "good.png")
    (tmp_path / "broken.webp").write_bytes(b"RIFF\x10\x00\x00\x00WEBPVP8 ")
    with pytest.raises(DataError, match=r"broken\.webp' cannot be read") as info:
        read_images(image_files(tmp_path))
    assert "\n" not in str(info.value)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        X, kept, skipped = read_images(image_files(tmp_path), skip_bad=True)
    assert [p.name for p in kept] == ["good.png"] and [p.name for p in skipped] == ["broken.webp"]
    assert X.shape == (1, 8, 8) and "broken.webp" in str(caught[0].message)
