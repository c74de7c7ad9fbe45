"""Spaces a spec can live in, and mapping target data into them.

A space id is ``"name:dim"``. ``"input:D"`` is the raw feature space (rows flattened); any other
name is a builtin source (``recycle.sources.builtin``) whose embedding defines a shared space, so
specs of models with different architectures are comparable. Spaces by modality:

========  =========================================  ==========================================
modality  default space                              why
========  =========================================  ==========================================
tabular   ``input:D``                                features are already a shared schema
image     ``effnet_lite0.imagenet:1280``             ImageNet features: size- and model-agnostic
text      ``minilm_l6.onnx:384``                     sentence embeddings (fast int8 ONNX)
========  =========================================  ==========================================

A query of raw data is searched in a space the zoo's specs live in, chosen by
:func:`choose_space`: the raw space of its shape if some spec lives there, else its modality's
default embedding.

Examples
--------
>>> import numpy as np
>>> embed_for_space("input:4", np.ones((3, 2, 2))).shape
(3, 4)
>>> space_for("tabular", np.ones((3, 5)))
'input:5'
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

from recycle.errors import ConfigError, DataError, IncompatibleError
from recycle.spec.format import parse_space

#: Default shared embedding per modality (tabular stays in its input space).
DEFAULT_EMBEDDINGS = {"image": "effnet_lite0.imagenet", "text": "minilm_l6.onnx"}


def space_for(modality: str, X: Any = None) -> str:
    """Default space id for data of ``modality`` (``X`` gives the dimension of tabular data).

    Examples
    --------
    >>> space_for("image")
    'effnet_lite0.imagenet:1280'
    """
    if modality == "tabular":
        if X is None:
            raise ConfigError("space_for('tabular') needs X to know the number of features.")
        A = np.asarray(X)
        return f"input:{int(np.prod(A.shape[1:]))}"
    if modality not in DEFAULT_EMBEDDINGS:
        raise ConfigError(f"Unknown modality {modality!r}; use one of 'tabular', 'image', 'text'.")
    name = DEFAULT_EMBEDDINGS[modality]
    return f"{name}:{_source(name).feature_dim}"


def choose_space(spaces: Iterable[str], modality: str, X: Any = None) -> str:
    """The space of ``spaces`` (those the zoo's specs live in) to search raw data of ``modality``.

    The raw space ``input:D`` when ``X`` has ``D`` features and a spec lives there (not for
    text), else the modality's default embedding space if a spec lives there;
    :class:`IncompatibleError` (one line naming both sides) when no spec is comparable.

    Examples
    --------
    >>> choose_space(["input:3", "minilm_l6.onnx:384"], "tabular", np.ones((2, 3)))
    'input:3'
    >>> choose_space(["input:784", "minilm_l6.onnx:384"], "text", ["a film"])
    'minilm_l6.onnx:384'
    """
    spaces = sorted(set(spaces))
    raw = None
    if modality != "text" and X is not None:
        raw = f"input:{int(np.prod(np.asarray(X).shape[1:]))}"
        if raw in spaces:
            return raw
    default = DEFAULT_EMBEDDINGS.get(modality)
    for space in spaces:
        if parse_space(space)[0] == default:
            return space
    what = f"{modality} data" + (f" ({raw})" if raw else "")
    raise IncompatibleError(
        f"No spec in the zoo is comparable with this {what}: the zoo's specs live in "
        f"{spaces or 'no space'}; search with a spec built in one of them (--space)."
    )


def spec_space_for(source_or_modality: Any, X: Any = None) -> str:
    """Space of a source's spec (``"<source_id>:<feature_dim>"``) or of a modality's default.

    Examples
    --------
    >>> spec_space_for("tabular", np.ones((2, 3)))
    'input:3'
    """
    if isinstance(source_or_modality, str):
        return space_for(source_or_modality, X)
    src = source_or_modality
    return f"{src.source_id}:{int(src.feature_dim)}"


def embed_for_space(space: str, X: Any) -> np.ndarray:
    """Map raw rows into ``space``: flatten for ``input:D``, else embed with the builtin source.

    Parameters
    ----------
    space : str
        Space id ``"name:dim"``.
    X : array-like or list of str
        Raw target data (images, text, tabular rows).

    Returns
    -------
    ndarray of shape (n, dim), float32

    Examples
    --------
    >>> embed_for_space("input:3", [[1, 2, 3]]).dtype
    dtype('float32')
    """
    name, dim = parse_space(space)
    if name == "input":
        A = np.asarray(X, dtype=np.float32)
        A = A.reshape(A.shape[0], -1)
        if A.shape[1] != dim:
            raise DataError(f"Space {space!r} expects {dim} features per row; got {A.shape[1]}.")
        return A
    src = _source(name)
    if int(src.feature_dim) != dim:
        raise IncompatibleError(
            f"Space {space!r} expects {dim}-d features but source {name!r} gives "
            f"{src.feature_dim}-d; rebuild the spec in '{name}:{src.feature_dim}'."
        )
    from recycle.sources import cached_embed

    F = np.asarray(cached_embed(src, X), dtype=np.float32)
    return F.reshape(F.shape[0], -1)


def _source(name: str) -> Any:
    from recycle.sources import builtin  # lazy: heavy (torch, onnxruntime)

    return builtin(name)
