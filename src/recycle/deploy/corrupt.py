"""Input corruptions that fit each modality, for the robustness part of the deployment report.

Each corruption is ``fn(X, rng) -> X'``: same shape, dtype and value range as ``X`` (images
stay uint8 0..255 or float 0..1; tabular rows stay finite numbers; texts stay strings). The
strengths are fixed, named constants, so reports of different models compare.

- images: Gaussian noise, Gaussian blur, lower contrast, a small rotation, a small shift;
- tabular: Gaussian noise on every feature, and missing values (a share of entries lost and
  filled with their column's mean, the imputation a deployment would have to do, since the
  models take no NaN);
- text: typos (two adjacent letters swapped in some words) and casing (all upper case).

Examples
--------
>>> import numpy as np
>>> X = np.full((2, 8, 8), 100, dtype=np.uint8)
>>> out = corruptions("image")["gaussian_noise"](X, np.random.default_rng(0))
>>> out.dtype, out.shape, bool((out != X).any())
(dtype('uint8'), (2, 8, 8), True)
>>> corruptions("text")["casing"](["Good film"], np.random.default_rng(0))
['GOOD FILM']
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from scipy import ndimage

from recycle.errors import ConfigError

Corruption = Callable[[Any, np.random.Generator], Any]

#: Standard deviation of image noise, as a share of the pixel range.
IMAGE_NOISE = 0.1
#: Sigma (pixels) of the Gaussian blur.
BLUR_SIGMA = 1.0
#: Contrast factor: each pixel keeps this share of its distance to its image's mean.
CONTRAST = 0.5
#: Largest rotation, degrees (each image draws an angle uniformly in +-this).
ROTATION_DEG = 15.0
#: Largest shift, as a share of the image side (each image draws it per axis).
SHIFT = 0.1
#: Standard deviation of tabular noise, as a share of each column's standard deviation.
FEATURE_NOISE = 0.2
#: Share of tabular entries lost (then filled with their column's mean).
MISSING = 0.2
#: Share of words (of 3+ letters) that get one typo.
TYPO_RATE = 0.2


def _images(fn: Callable[[np.ndarray, np.random.Generator], np.ndarray]) -> Corruption:
    """Wrap ``fn`` (on float 0..1 images) to keep the input's dtype and range."""

    def run(X: Any, rng: np.random.Generator) -> np.ndarray:
        arr = np.asarray(X)
        top = 255.0 if arr.dtype == np.uint8 or float(arr.max(initial=0.0)) > 1.0 else 1.0
        out = np.clip(fn(arr.astype(np.float64) / top, rng), 0.0, 1.0) * top
        return np.round(out).astype(arr.dtype) if arr.dtype == np.uint8 else out.astype(arr.dtype)

    return run


def _spatial(per_image: Callable[[np.ndarray, Any], np.ndarray], draw: Callable) -> Any:
    def fn(X: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        return np.stack([per_image(x, draw(rng, x)) for x in X])

    return fn


def _noise(X: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    return X + rng.normal(0.0, IMAGE_NOISE, X.shape)


def _blur(X: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    sigma = [0, BLUR_SIGMA, BLUR_SIGMA] + ([0] if X.ndim == 4 else [])
    return ndimage.gaussian_filter(X, sigma=sigma)


def _contrast(X: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    mean = X.mean(axis=tuple(range(1, X.ndim)), keepdims=True)
    return mean + CONTRAST * (X - mean)


def _rotate(x: np.ndarray, angle: float) -> np.ndarray:
    return ndimage.rotate(x, angle, axes=(0, 1), reshape=False, order=1, mode="nearest")


def _shift(x: np.ndarray, by: tuple[float, float]) -> np.ndarray:
    offset = [by[0], by[1]] + ([0.0] if x.ndim == 3 else [])
    return ndimage.shift(x, offset, order=1, mode="nearest")


def _angle(rng: np.random.Generator, x: np.ndarray) -> float:
    return float(rng.uniform(-ROTATION_DEG, ROTATION_DEG))


def _offset(rng: np.random.Generator, x: np.ndarray) -> tuple[float, float]:
    h, w = x.shape[:2]
    return float(rng.uniform(-SHIFT, SHIFT) * h), float(rng.uniform(-SHIFT, SHIFT) * w)


def _feature_noise(X: Any, rng: np.random.Generator) -> np.ndarray:
    A = np.asarray(X, dtype=np.float64)
    out = A + rng.normal(0.0, 1.0, A.shape) * FEATURE_NOISE * A.std(axis=0)
    return out.astype(np.asarray(X).dtype)


def _missing(X: Any, rng: np.random.Generator) -> np.ndarray:
    A = np.asarray(X)
    lost = rng.random(A.shape) < MISSING
    return np.where(lost, A.mean(axis=0), A).astype(A.dtype)


def _typo(word: str, rng: np.random.Generator) -> str:
    if len(word) < 3 or not word.isalpha() or rng.random() >= TYPO_RATE:
        return word
    i = int(rng.integers(0, len(word) - 1))
    return word[:i] + word[i + 1] + word[i] + word[i + 2 :]


def _typos(X: Any, rng: np.random.Generator) -> list[str]:
    return [" ".join(_typo(w, rng) for w in str(t).split(" ")) for t in X]


def _casing(X: Any, rng: np.random.Generator) -> list[str]:
    return [str(t).upper() for t in X]


_BY_MODALITY: dict[str, dict[str, Corruption]] = {
    "image": {
        "gaussian_noise": _images(_noise),
        "blur": _images(_blur),
        "contrast": _images(_contrast),
        "rotation": _images(_spatial(_rotate, _angle)),
        "shift": _images(_spatial(_shift, _offset)),
    },
    "tabular": {"feature_noise": _feature_noise, "missing_values": _missing},
    "text": {"typos": _typos, "casing": _casing},
}


def corruptions(modality: str) -> dict[str, Corruption]:
    """The corruptions of ``modality`` ("image", "tabular" or "text"), by name."""
    if modality not in _BY_MODALITY:
        raise ConfigError(f"Unknown modality {modality!r}; valid: {', '.join(_BY_MODALITY)}.")
    return dict(_BY_MODALITY[modality])
