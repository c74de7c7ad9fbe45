"""The SourceModel protocol: what every source in the zoo looks like to the rest of recycle.

A source is a pre-trained model that turns target inputs into features (``embed``) and, when it
has a classification head over its *own* source classes, into probabilities (``predict_proba``).
White-box sources also expose their torch module so adaptation can mix their modules.

Inputs by modality (the sources do their own preprocessing):

- ``image``: uint8 arrays ``N x H x W`` (grayscale) or ``N x H x W x 3`` (RGB), any size;
- ``text``: a list of ``str``;
- ``tabular``: float arrays ``N x D``.

Examples
--------
>>> import numpy as np
>>> from recycle.sources.base import SourceModel
>>> class Identity:
...     source_id = "identity.demo"
...     modality = "tabular"
...     access = "black-box"
...     feature_dim = 3
...     def embed(self, X):
...         return np.asarray(X, dtype=np.float32)
>>> isinstance(Identity(), SourceModel)
True
"""

from __future__ import annotations

from typing import Any, Literal, Protocol, runtime_checkable

import numpy as np

Access = Literal["white-box", "black-box"]
Modality = Literal["image", "text", "tabular"]


@runtime_checkable
class SourceModel(Protocol):
    """A pre-trained source model, as seen by selection and adaptation.

    Attributes
    ----------
    source_id : str
        Stable identifier (``arch.tag`` for builtins, ``name@version`` or the zoo entry id for
        zoo entries); part of the feature-cache key.
    modality : {"image", "text", "tabular"}
    access : {"white-box", "black-box"}
    feature_dim : int
        Width ``d`` of :meth:`embed`'s output.
    """

    source_id: str
    modality: Modality
    access: Access
    feature_dim: int

    def embed(self, X: Any) -> np.ndarray:
        """Return ``(n, feature_dim)`` float32 features of ``X`` (no gradients, batched)."""
        ...


@runtime_checkable
class ClassifierSource(SourceModel, Protocol):
    """A source with a head over its own source classes."""

    source_classes: list[str]

    def predict_proba(self, X: Any) -> np.ndarray:
        """Return ``(n, len(source_classes))`` probabilities over the source's own classes."""
        ...


@runtime_checkable
class WhiteBoxSource(SourceModel, Protocol):
    """A source whose torch module is readable (``access == "white-box"``)."""

    def torch_module(self) -> Any:
        """Return the underlying ``torch.nn.Module`` (in eval mode, on CPU)."""
        ...


def has_head(source: SourceModel) -> bool:
    """Whether ``source`` can give probabilities over its own classes."""
    return callable(getattr(source, "predict_proba", None)) and bool(
        getattr(source, "source_classes", None)
    )
