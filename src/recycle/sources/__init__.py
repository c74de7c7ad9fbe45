"""Source models: the protocol, its kinds (torch, ONNX, scikit-learn, remote) and the builtins.

``builtin(name)`` returns a ready :class:`SourceModel` for one of the real pre-trained models
installed offline (``builtin_names()`` lists them); ``FeatureCache`` stores embeddings on disk
keyed by (source id, content hash of X); ``serialize``/``deserialize`` turn a source into
safe files (safetensors, ONNX, skops) for the zoo and back.

Examples
--------
>>> from recycle.sources import builtin_names
>>> "effnet_lite0.imagenet" in builtin_names()
True
"""

from recycle.sources.base import ClassifierSource, SourceModel, WhiteBoxSource, has_head
from recycle.sources.builtins import builtin, builtin_names
from recycle.sources.cache import FeatureCache, cached_embed
from recycle.sources.onnx_source import OnnxSource
from recycle.sources.serialize import deserialize, serialize
from recycle.sources.sklearn_source import SklearnSource
from recycle.sources.torch_source import TorchSource

__all__ = [
    "ClassifierSource",
    "FeatureCache",
    "OnnxSource",
    "SklearnSource",
    "SourceModel",
    "TorchSource",
    "WhiteBoxSource",
    "builtin",
    "builtin_names",
    "cached_embed",
    "deserialize",
    "has_head",
    "serialize",
]
