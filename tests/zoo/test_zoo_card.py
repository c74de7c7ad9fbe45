"""ModelCard: validation naming the field, JSON round-trip, path-safe names."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from recycle.errors import CardError
from recycle.zoo import ModelCard

BASE: dict[str, Any] = {
    "name": "digitcnn.mnist",
    "version": "1.2.3",
    "modality": "image",
    "task": "classification",
    "input": {"shape": [28, 28], "dtype": "uint8", "value_range": [0, 255]},
    "output": {"feature_dim": 128, "source_classes": [str(i) for i in range(10)]},
    "access": "white-box",
    "license": "MIT",
    "provider": "ccexam",
    "description": "CNN trained on MNIST.",
    "training_data": {"description": "MNIST train split", "size": 60000, "license": "CC BY-SA 3.0"},
    "metrics": {"test_accuracy": 0.9905},
    "lineage": {"parents": [], "built_from": []},
}


def test_round_trip_and_created_is_filled() -> None:
    card = ModelCard.from_dict(BASE)
    assert card.created  # filled in with the current UTC time
    again = ModelCard.from_json(card.to_json())
    assert again == card and again.to_dict() == card.to_dict()
    assert json.loads(card.to_json())["training_data"]["size"] == 60000
    assert card.input.value_range == [0.0, 255.0]


@pytest.mark.parametrize(
    ("field", "value", "named"),
    [
        ("name", "../../etc/passwd", "name"),
        ("name", "a/b.c", "name"),
        ("name", "noseparator", "name"),
        ("name", "Upper.Case", "name"),
        ("name", "a..b", "name"),
        ("name", "a." + "x" * 200, "name"),
        ("version", "v1", "version"),
        ("modality", "audio", "modality"),
        ("access", "grey-box", "access"),
        ("task", "", "task"),
        ("license", 3, "license"),
        ("input", {"shape": [0], "dtype": "uint8", "value_range": [0, 1]}, "input.shape"),
        ("input", {"shape": [2], "dtype": "float16", "value_range": [0, 1]}, "input.dtype"),
        ("input", {"shape": [2], "dtype": "uint8", "value_range": [1, 0]}, "input.value_range"),
        ("input", {"shape": [2], "dtype": "uint8"}, "input"),
        ("input", {"shape": [2], "dtype": "uint8", "preprocess": "x", "size": 3}, "input"),
        ("output", {"feature_dim": 0}, "output.feature_dim"),
        ("output", {"feature_dim": 3, "source_classes": [1, 2]}, "output.source_classes"),
        ("training_data", {"size": -1}, "training_data.size"),
        ("metrics", {"acc": "high"}, "metrics"),
        ("lineage", {"parents": "abc"}, "lineage.parents"),
        ("created", "yesterday", "created"),
    ],
)
def test_invalid_fields_are_named(field: str, value: Any, named: str) -> None:
    with pytest.raises(CardError, match=re.escape(f"'{named}'")):
        ModelCard.from_dict({**BASE, field: value})


def test_missing_and_unknown_fields() -> None:
    with pytest.raises(CardError, match="missing required fields"):
        ModelCard.from_dict({"name": "a.b"})
    with pytest.raises(CardError, match="unknown fields"):
        ModelCard.from_dict({**BASE, "weights_url": "http://x"})
    with pytest.raises(CardError, match="not valid JSON"):
        ModelCard.from_json("{")
    with pytest.raises(CardError, match=r"'input\.dtype'"):
        ModelCard.from_dict({**BASE, "modality": "text"})  # text needs dtype "str"


segment = st.from_regex(r"[a-z0-9][a-z0-9_-]{0,10}", fullmatch=True)


@settings(max_examples=50, deadline=None)
@given(
    arch=segment,
    tag=segment,
    dim=st.integers(1, 4096),
    classes=st.lists(st.text(max_size=8), max_size=5),
    metrics=st.dictionaries(st.text(max_size=6), st.floats(allow_nan=False), max_size=3),
    description=st.text(max_size=40),
)
def test_json_round_trip_property(
    arch: str, tag: str, dim: int, classes: list[str], metrics: dict, description: str
) -> None:
    card = ModelCard.from_dict(
        {**BASE, "name": f"{arch}.{tag}", "output": {"feature_dim": dim, "source_classes": classes},
         "metrics": metrics, "description": description}
    )  # fmt: skip
    assert ModelCard.from_json(card.to_json()) == card
