"""Helpers of tests that feed image files: one MNIST digit saved in many formats, modes, sizes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image


def save_digit(pixels: np.ndarray, path: Path, i: int) -> Path:
    """Save one 28x28 grey digit in the i-th of five formats, modes and sizes; return the file.

    PNG grey 28 px, JPEG RGB 40 px, WebP RGBA 56 px, BMP palette 28 px, and an EXIF-rotated
    JPEG (pixels stored turned, with the tag that turns them upright).
    """
    im = Image.fromarray(pixels, "L")
    kind = i % 5
    if kind == 0:
        out = path.with_suffix(".png")
        im.save(out)
    elif kind == 1:
        out = path.with_suffix(".jpg")
        im.convert("RGB").resize((40, 40)).save(out, quality=95)
    elif kind == 2:
        out = path.with_suffix(".webp")
        im.convert("RGBA").resize((56, 56)).save(out, lossless=True)
    elif kind == 3:
        out = path.with_suffix(".bmp")
        im.convert("P").save(out)
    else:  # stored rotated, with an EXIF tag saying how to turn it upright
        out = path.with_suffix(".jpg")
        exif = Image.Exif()
        exif[0x0112] = 6  # "rotate 90 CW to display": pixels are stored turned 90 CCW
        im.rotate(90, expand=True).convert("RGB").save(out, quality=95, exif=exif)
    return out
