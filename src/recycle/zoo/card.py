"""The model card: the semantic specification of a zoo entry (what the model is, takes, gives).

A card is a plain dataclass that validates itself on construction and round-trips through JSON.
Every problem raises :class:`~recycle.errors.CardError` naming the field, e.g.
``Card field 'input.dtype' must be one of [...]. Got 'float16' instead.``

Names are ``arch.tag`` (``effnet_lite0.imagenet``): two or more dot-separated lowercase segments
of ``[a-z0-9_-]``. No path separators, no ``..``: a name is never a path.

Examples
--------
>>> card = ModelCard(
...     name="mlp.digits", modality="tabular", task="classification",
...     input={"shape": [64], "dtype": "float32", "value_range": [0, 16]},
...     output={"feature_dim": 32, "source_classes": [str(i) for i in range(10)]},
...     access="white-box", license="MIT", provider="tests")
>>> ModelCard.from_json(card.to_json()) == card
True
>>> card.input.shape
[64]
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import asdict, dataclass, field, fields
from datetime import UTC, datetime
from typing import Any

from recycle.errors import CardError

NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_-]*(\.[a-z0-9][a-z0-9_-]*)+$")
VERSION_RE = re.compile(r"^[0-9]+(\.[0-9]+){0,2}([-+][0-9A-Za-z.-]+)?$", re.ASCII)  # ASCII only
MAX_NAME_LEN = 128  # keeps names usable as file names and in URLs
MODALITIES = ("image", "text", "tabular")
ACCESS_MODES = ("white-box", "black-box")
DTYPES = ("uint8", "float32", "float64", "int64", "str")
#: Kinds of tabular columns: 0/1 flags (one-hot levels included), whole numbers, real numbers.
COLUMN_TYPES = ("binary", "integer", "continuous")


def _fail(name: str, expected: str, got: Any) -> CardError:
    return CardError(f"Card field '{name}' must be {expected}. Got {got!r} instead.")


def _as_str(value: Any, name: str, *, empty: bool = True) -> str:
    if not isinstance(value, str) or (not empty and not value.strip()):
        raise _fail(name, "a non-empty string" if not empty else "a string", value)
    return value


@dataclass
class InputSchema:
    """What the model takes: per-example shape, dtype and value range or preprocessing id."""

    shape: list[int]  # per-example shape without the batch axis: [28, 28], [64], [] for text
    dtype: str  # one of DTYPES; "str" for text
    value_range: list[float] | None = None  # [low, high] of raw input values
    preprocess: str | None = None  # id of a known preprocessing (e.g. "imagenet-rgb")
    columns: list[str] | None = None  # tabular: feature column names, in the model's order
    column_types: list[str] | None = None  # tabular: one of COLUMN_TYPES per column
    column_units: list[str] | None = None  # tabular: unit per column ("" where unknown/none)

    def __post_init__(self) -> None:
        self._check_column_info()
        if self.columns is not None:
            cols = self.columns
            if (
                not isinstance(cols, list | tuple)
                or not all(isinstance(c, str) and c for c in cols)
                or len(set(cols)) != len(cols)
                or (len(self.shape) == 1 and len(cols) != self.shape[0])
            ):
                raise _fail("input.columns", "distinct non-empty names, one per feature", cols)
            self.columns = list(cols)
        if not isinstance(self.shape, list | tuple) or not all(
            isinstance(s, int) and not isinstance(s, bool) and s > 0 for s in self.shape
        ):
            raise _fail("input.shape", "a list of positive ints", self.shape)
        self.shape = list(self.shape)
        if self.dtype not in DTYPES:
            raise _fail("input.dtype", f"one of {list(DTYPES)}", self.dtype)
        if self.value_range is None and self.preprocess is None:
            raise CardError(
                "Card field 'input' needs 'value_range' [low, high] or 'preprocess' (an id); "
                "got neither. Add one of them."
            )
        if self.value_range is not None:
            vr = self.value_range
            if (
                not isinstance(vr, list | tuple)
                or len(vr) != 2
                or not all(isinstance(v, int | float) and math.isfinite(v) for v in vr)
                or vr[0] > vr[1]
            ):
                raise _fail("input.value_range", "[low, high] with finite low <= high", vr)
            self.value_range = [float(vr[0]), float(vr[1])]
        if self.preprocess is not None:
            _as_str(self.preprocess, "input.preprocess", empty=False)

    def _check_column_info(self) -> None:
        n = len(self.columns) if self.columns is not None else None
        for name, allowed in (("column_types", COLUMN_TYPES), ("column_units", None)):
            value = getattr(self, name)
            if value is None:
                continue
            ok = (
                n is not None
                and isinstance(value, list | tuple)
                and len(value) == n
                and all(isinstance(v, str) and (allowed is None or v in allowed) for v in value)
            )
            if not ok:
                want = f"one of {list(allowed)}" if allowed else "a string ('' if none)"
                raise _fail(
                    f"input.{name}", f"a list with {want} per column of input.columns", value
                )
            setattr(self, name, list(value))


@dataclass
class OutputSchema:
    """What the model gives: feature width, and its own classes if it has a head."""

    feature_dim: int  # width d of embed(X) -> (n, d)
    source_classes: list[str] = field(default_factory=list)  # classes of its own head, if any

    def __post_init__(self) -> None:
        d = self.feature_dim
        if not isinstance(d, int) or isinstance(d, bool) or d < 1:
            raise _fail("output.feature_dim", "an int >= 1", d)
        if not isinstance(self.source_classes, list | tuple) or not all(
            isinstance(c, str) for c in self.source_classes
        ):
            raise _fail("output.source_classes", "a list of strings", self.source_classes)
        self.source_classes = list(self.source_classes)


@dataclass
class Datasheet:
    """The training data, described (never included): what, how much, under which licence."""

    description: str = ""  # what the data is and where it came from
    size: int | None = None  # number of training examples
    license: str = ""  # licence of the data

    def __post_init__(self) -> None:
        _as_str(self.description, "training_data.description")
        _as_str(self.license, "training_data.license")
        if self.size is not None and (
            not isinstance(self.size, int) or isinstance(self.size, bool) or self.size < 0
        ):
            raise _fail("training_data.size", "an int >= 0 or null", self.size)


@dataclass
class Lineage:
    """Where the model comes from: zoo parents it needs, and sources it was built from."""

    parents: list[str] = field(default_factory=list)  # entry ids loaded first (e.g. a backbone)
    built_from: list[str] = field(default_factory=list)  # source ids a recycled model came from

    def __post_init__(self) -> None:
        for key in ("parents", "built_from"):
            value = getattr(self, key)
            if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
                raise _fail(f"lineage.{key}", "a list of strings", value)
            setattr(self, key, list(value))


def _nested(cls: type, value: Any, name: str) -> Any:
    if isinstance(value, cls):
        return value
    if not isinstance(value, dict):
        raise _fail(name, "an object", value)
    known = {f.name for f in fields(cls)}
    unknown = sorted(set(value) - known)
    if unknown:
        raise CardError(
            f"Card field '{name}' has unknown keys {unknown}; valid keys are {sorted(known)}."
        )
    try:
        return cls(**value)
    except TypeError as exc:  # a required key is missing
        raise CardError(f"Card field '{name}' is incomplete: {exc}.") from None


@dataclass
class ModelCard:
    """The semantic specification of a zoo model; validated on construction.

    Examples
    --------
    >>> ModelCard(name="../etc", modality="image", task="classification",
    ...           input={"shape": [28, 28], "dtype": "uint8", "value_range": [0, 255]},
    ...           output={"feature_dim": 8})  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    recycle.errors.CardError: Card field 'name' must be ...
    """

    name: str  # "arch.tag", lowercase [a-z0-9_-] segments joined by dots
    modality: str  # "image", "text" or "tabular"
    task: str  # what it was trained for, e.g. "classification", "feature-extraction"
    input: InputSchema  # per-example input shape, dtype and range/preprocessing
    output: OutputSchema  # feature width and source classes
    version: str = "1.0.0"  # semver-ish "MAJOR[.MINOR[.PATCH]][-pre|+build]"
    access: str = "white-box"  # "white-box" (modules readable) or "black-box" (outputs only)
    license: str = "unknown"  # licence of the weights (SPDX id where there is one)
    provider: str = "unknown"  # who registered it (team, person, service)
    description: str = ""  # free text, searched by zoo.list(query=...)
    training_data: Datasheet = field(default_factory=Datasheet)  # datasheet, never the data
    metrics: dict[str, float] = field(default_factory=dict)  # e.g. {"test_accuracy": 0.99}
    lineage: Lineage = field(default_factory=Lineage)  # parents and built-from sources
    created: str = ""  # ISO-8601 UTC time the card was made; filled in when empty

    def __post_init__(self) -> None:
        if (
            not isinstance(self.name, str)
            or len(self.name) > MAX_NAME_LEN
            or not NAME_RE.match(self.name)
        ):
            raise _fail(
                "name",
                "'arch.tag': dot-separated lowercase segments of [a-z0-9_-], at most "
                f"{MAX_NAME_LEN} characters (e.g. 'effnet_lite0.imagenet')",
                self.name,
            )
        if not isinstance(self.version, str) or not VERSION_RE.match(self.version):
            raise _fail("version", "ASCII semver like '1', '1.2' or '1.2.3-rc1'", self.version)
        if self.modality not in MODALITIES:
            raise _fail("modality", f"one of {list(MODALITIES)}", self.modality)
        if self.access not in ACCESS_MODES:
            raise _fail("access", f"one of {list(ACCESS_MODES)}", self.access)
        _as_str(self.task, "task", empty=False)
        _as_str(self.license, "license", empty=False)
        _as_str(self.provider, "provider", empty=False)
        _as_str(self.description, "description")
        self.input = _nested(InputSchema, self.input, "input")
        self.output = _nested(OutputSchema, self.output, "output")
        self.training_data = _nested(Datasheet, self.training_data, "training_data")
        self.lineage = _nested(Lineage, self.lineage, "lineage")
        if self.modality == "text" and self.input.dtype != "str":
            raise _fail("input.dtype", "'str' for a text model", self.input.dtype)
        if not isinstance(self.metrics, dict) or not all(
            isinstance(k, str) and isinstance(v, int | float) and not isinstance(v, bool)
            for k, v in self.metrics.items()
        ):
            raise _fail("metrics", "a mapping of str to number", self.metrics)
        self.metrics = {k: float(v) for k, v in self.metrics.items()}
        if not self.created:
            self.created = datetime.now(UTC).isoformat(timespec="seconds")
        else:
            try:
                datetime.fromisoformat(_as_str(self.created, "created"))
            except ValueError:
                raise _fail("created", "an ISO-8601 time", self.created) from None

    def to_dict(self) -> dict[str, Any]:
        """Return the card as plain JSON-able data.

        Examples
        --------
        >>> card = ModelCard(name="a.b", modality="text", task="embedding",
        ...                  input={"shape": [], "dtype": "str", "preprocess": "wordpiece"},
        ...                  output={"feature_dim": 384})
        >>> card.to_dict()["output"]
        {'feature_dim': 384, 'source_classes': []}
        """
        data = asdict(self)
        for key in ("columns", "column_types", "column_units"):
            if data["input"][key] is None:  # only tabular cards that name columns carry them
                del data["input"][key]
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelCard:
        """Build and validate a card from :meth:`to_dict` output (unknown keys are an error).

        Examples
        --------
        >>> ModelCard.from_dict({"name": "a.b"})  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        recycle.errors.CardError: Card is missing required fields ['input', 'modality', ...
        """
        if not isinstance(data, dict):
            raise CardError(f"A model card must be a JSON object. Got {type(data).__name__}.")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise CardError(f"Card has unknown fields {unknown}; valid fields: {sorted(known)}.")
        required = ["input", "modality", "name", "output", "task"]
        missing = [k for k in required if k not in data]
        if missing:
            raise CardError(f"Card is missing required fields {missing}; add them to the card.")
        return cls(**data)

    def to_json(self, indent: int | None = 2) -> str:
        """Return the card as a JSON string.

        Examples
        --------
        >>> card = ModelCard(name="a.b", modality="tabular", task="regression",
        ...                  input={"shape": [3], "dtype": "float32", "value_range": [0, 1]},
        ...                  output={"feature_dim": 4}, created="2026-01-01T00:00:00+00:00")
        >>> '"name": "a.b"' in card.to_json()
        True
        """
        return json.dumps(self.to_dict(), indent=indent, sort_keys=True)

    @classmethod
    def from_json(cls, text: str | bytes) -> ModelCard:
        """Parse and validate a card from JSON text.

        Examples
        --------
        >>> ModelCard.from_json("{not json")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        recycle.errors.CardError: Model card is not valid JSON: ...
        """
        try:
            data = json.loads(text)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise CardError(f"Model card is not valid JSON: {exc}. Fix the file.") from None
        return cls.from_dict(data)
