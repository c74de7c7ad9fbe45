"""Source models: the protocol, its kinds (torch, ONNX, scikit-learn, remote) and the builtins.

``builtin(name)`` returns a ready :class:`SourceModel` for one of the real pre-trained models
installed offline (``builtin_names()`` lists them); ``FeatureCache`` stores embeddings on disk
keyed by (source id, content hash of X).
"""

from recycle.sources.base import ClassifierSource, SourceModel, WhiteBoxSource, has_head

__all__ = ["ClassifierSource", "SourceModel", "WhiteBoxSource", "has_head"]
