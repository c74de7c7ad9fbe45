"""Reading image files as users have them: any size, mode and common format.

The one resize policy of recycle (also stated in docs/quickstart.md):

1. every file is decoded with Pillow and turned upright by its EXIF orientation;
2. colour: an image with transparency is laid onto a white background; the set becomes RGB
   (``H x W x 3``) when any image has colour, else grey (``H x W``); a model fitted on one
   kind converts new images to that kind;
3. size: one size ``H x W`` for the whole set: the model's input size when predicting, else the
   most common size among the images (ties: the larger area). An image of another size is
   scaled (bilinear, antialiased) to the smallest size that covers ``H x W`` with its aspect
   ratio kept, then its centre is cropped to ``H x W``. Sources then resize to their own input.

Hidden files and folders (names starting with ``.`` or ``__``, e.g. ``.ipynb_checkpoints``,
``__MACOSX``) are ignored. A file that cannot be decoded is a one-line
:class:`~recycle.errors.DataError` naming it, or, with ``skip_bad=True``, skipped with a warning.

Examples
--------
>>> import tempfile, numpy as np
>>> from pathlib import Path
>>> from PIL import Image
>>> root = Path(tempfile.mkdtemp())
>>> Image.new("RGB", (40, 20), "red").save(root / "wide.png")
>>> Image.new("L", (10, 10), 128).save(root / "small.jpg")
>>> X, names, skipped = read_images(image_files(root), size=(16, 16))
>>> X.shape, [p.name for p in names], skipped
((2, 16, 16, 3), ['small.jpg', 'wide.png'], [])
"""

from __future__ import annotations

import warnings
from collections import Counter
from pathlib import Path

import numpy as np

from recycle.errors import DataError

#: File suffixes read as images (lower case).
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".webp", ".gif", ".tif", ".tiff")
#: Grey-scale Pillow modes (anything else with colour becomes RGB).
GREY_MODES = ("1", "L", "LA", "I", "I;16", "I;16B", "I;16L", "F")


def is_hidden(path: Path) -> bool:
    """True for names that tools leave behind (``.ipynb_checkpoints``, ``.DS_Store``, ``__MACOSX``).

    Examples
    --------
    >>> is_hidden(Path(".ipynb_checkpoints")), is_hidden(Path("cat"))
    (True, False)
    """
    return path.name.startswith((".", "__"))


def is_image_file(path: Path) -> bool:
    """A visible file with an image suffix."""
    return path.is_file() and not is_hidden(path) and path.suffix.lower() in IMAGE_SUFFIXES


def image_files(folder: Path) -> list[Path]:
    """The visible image files directly in ``folder``, sorted by name."""
    return sorted(p for p in folder.iterdir() if is_image_file(p))


def class_folders(root: Path) -> list[Path]:
    """The visible sub-folders of ``root`` (one per class), sorted by name."""
    return sorted(p for p in root.iterdir() if p.is_dir() and not is_hidden(p))


def _open(path: Path) -> tuple[np.ndarray, bool]:
    """Decode ``path``: ``(pixels, has_colour)`` with pixels uint8 ``H x W`` or ``H x W x 3``."""
    from PIL import Image, ImageOps, UnidentifiedImageError

    try:
        with Image.open(path) as opened:
            opened.load()
            im: Image.Image = ImageOps.exif_transpose(opened)
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        why = type(exc).__name__ if str(path) in str(exc) else f"{type(exc).__name__}: {exc}"
        raise DataError(
            f"Image {str(path)!r} cannot be read ({why}); replace or delete it, or pass "
            "--skip-bad-images to skip unreadable files."
        ) from None
    if im.mode in ("I", "I;16", "I;16B", "I;16L", "F"):  # 16/32-bit grey: scale to 0..255
        arr = np.asarray(im, dtype=np.float64)
        top = max(float(arr.max()), 1.0)
        scale = 255.0 / (65535.0 if top > 255 else 255.0)
        return np.clip(arr * scale, 0, 255).astype(np.uint8), False
    if im.mode == "P":
        im = im.convert("RGBA" if "transparency" in im.info else "RGB")
    grey = im.mode in GREY_MODES or im.mode == "La"  # read before compositing makes it RGBA
    if im.mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        background = Image.new("RGBA", im.size, (255, 255, 255, 255))
        im = Image.alpha_composite(background, im.convert("RGBA"))
    if grey:
        return np.asarray(im.convert("L"), dtype=np.uint8), False
    rgb = np.asarray(im.convert("RGB"), dtype=np.uint8)
    r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    return rgb, not (np.array_equal(r, g) and np.array_equal(g, b))


def fit_to(pixels: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Scale ``pixels`` to cover ``size`` (aspect kept), then crop the centre to ``size``.

    Examples
    --------
    >>> fit_to(np.zeros((10, 40), dtype=np.uint8), (8, 8)).shape
    (8, 8)
    """
    from PIL import Image

    h, w = pixels.shape[:2]
    th, tw = size
    if (h, w) == (th, tw):
        return pixels
    scale = max(th / h, tw / w)
    nh, nw = max(th, round(h * scale)), max(tw, round(w * scale))
    im = Image.fromarray(pixels).resize((nw, nh), Image.Resampling.BILINEAR, reducing_gap=None)
    top, left = (nh - th) // 2, (nw - tw) // 2
    return np.asarray(im, dtype=np.uint8)[top : top + th, left : left + tw]


def common_size(shapes: list[tuple[int, int]]) -> tuple[int, int]:
    """The most common ``(H, W)``; ties go to the larger area.

    Examples
    --------
    >>> common_size([(8, 8), (4, 4), (4, 4), (8, 8), (2, 2)])
    (8, 8)
    """
    counts = Counter(shapes)
    return max(counts, key=lambda s: (counts[s], s[0] * s[1], s))


def read_images(
    files: list[Path],
    *,
    size: tuple[int, int] | None = None,
    channels: int | None = None,
    skip_bad: bool = False,
) -> tuple[np.ndarray, list[Path], list[Path]]:
    """Decode ``files`` into one uint8 array by the module's policy.

    Parameters
    ----------
    files : list of Path
        Image files.
    size : (int, int), optional
        ``(H, W)`` to bring every image to; default: the most common size.
    channels : {1, 3}, optional
        1 = grey ``N x H x W``, 3 = RGB ``N x H x W x 3``; default: 3 when any image has colour.
    skip_bad : bool, default False
        Skip unreadable files with a warning instead of raising.

    Returns
    -------
    X : numpy.ndarray
        ``N x H x W`` or ``N x H x W x 3`` uint8.
    kept : list of Path
        The files in ``X``, in order.
    skipped : list of Path
        The unreadable files that were skipped.
    """
    decoded: list[tuple[Path, np.ndarray, bool]] = []
    skipped: list[Path] = []
    for f in files:
        try:
            pixels, colour = _open(f)
        except DataError as exc:
            if not skip_bad:
                raise
            warnings.warn(f"Skipped an unreadable image: {exc}", UserWarning, stacklevel=2)
            skipped.append(f)
            continue
        decoded.append((f, pixels, colour))
    if not decoded:
        raise DataError(
            f"None of the {len(files)} image files could be read; check the files' format."
        )
    if channels is None:
        channels = 3 if any(colour for _, _, colour in decoded) else 1
    size = size or common_size([p.shape[:2] for _, p, _ in decoded])
    out = []
    for _, pixels, _ in decoded:
        pixels = _channels(pixels, channels)
        out.append(fit_to(pixels, size))
    return np.stack(out), [f for f, _, _ in decoded], skipped


def _channels(pixels: np.ndarray, channels: int) -> np.ndarray:
    from PIL import Image

    if channels == 3 and pixels.ndim == 2:
        return np.repeat(pixels[..., None], 3, axis=2)
    if channels == 1 and pixels.ndim == 3:
        return np.asarray(Image.fromarray(pixels).convert("L"), dtype=np.uint8)
    return pixels
