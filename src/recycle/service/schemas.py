"""Pydantic models of the HTTP API (edges only: the library itself uses dataclasses)."""

from __future__ import annotations

import base64
import io
import re
from typing import Annotated, Any, Literal

import numpy as np
from pydantic import BaseModel, Field, StringConstraints

from recycle.errors import DataError, ModelNotFoundError

UUID_HEX = re.compile(r"^[0-9a-f]{32}$")
IdPattern = r"^[0-9a-f]{32}$"


def check_id(value: str, what: str = "model") -> str:
    """Return ``value`` if it is a uuid4 hex id, else raise (so ids never reach a path)."""
    if not UUID_HEX.match(value):
        raise ModelNotFoundError(f"No {what} with id {value[:80]!r}; ids are 32 lowercase hex.")
    return value


class ErrorOut(BaseModel):
    """Every error response: the library error class name and a one-line message."""

    error: str = Field(description="recycle.errors class name, e.g. 'CardError'")
    detail: str = Field(description="what was wrong and how to fix it")
    errors: list[dict[str, Any]] | None = None  # request validation details, when any


def error_responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` entries for these error status codes (all :class:`ErrorOut`)."""
    what = {
        400: "unparseable request body",
        401: "no, wrong or revoked API key",
        403: "the key's role or owner may not do this",
        404: "no such model or job",
        409: "duplicate name and version",
        413: "body or batch too large",
        422: "invalid input (card, spec, data, parameters)",
        429: "rate limit exceeded",
        502: "a source failed at inference",
    }
    return {c: {"model": ErrorOut, "description": what.get(c, "error")} for c in codes}


class ModelOut(BaseModel):
    """A zoo entry as the API shows it."""

    id: str
    name: str
    version: Any
    card: dict[str, Any]
    artifact_sha256: str | None = None
    spec_space: str | None = None
    created: str | None = None


class ModelList(BaseModel):
    items: list[ModelOut]


class SearchRequest(BaseModel):
    """A user's spec (``Spec.to_dict()``; no raw data) and how many hits to return."""

    spec: dict[str, Any]
    top: int = Field(5, ge=1, le=1000)
    space: str | None = Field(None, max_length=200)


class SearchHitOut(BaseModel):
    id: str
    name: str
    version: Any
    score: float


class SearchOut(BaseModel):
    hits: list[SearchHitOut]


MAX_COLUMNS = 100_000  # names in one request's ``columns``
ColumnName = Annotated[str, StringConstraints(min_length=1, max_length=256)]


class ArrayIn(BaseModel):
    """A batch of inputs: ``data`` (nested JSON numbers), ``texts``, or ``npy_b64``.

    ``columns`` names a table's columns (one per column of ``data``/``npy_b64``); they are
    then matched **by name** to the columns the model's card names, as ``recycle predict``
    matches a CSV's header.
    """

    data: list[Any] | None = Field(None, min_length=1)
    texts: list[str] | None = Field(None, min_length=1)
    npy_b64: str | None = Field(None, description="base64 of a .npy file (no pickles)")
    columns: list[ColumnName] | None = Field(
        None, min_length=1, max_length=MAX_COLUMNS, description="names of the table's columns"
    )
    format: Literal["json", "npy"] = "json"


class ArrayOut(BaseModel):
    """Outputs as JSON (``data``) or base64 npy (``npy_b64``), per the request's ``format``."""

    shape: list[int]
    data: list[Any] | None = None
    npy_b64: str | None = None


class JobOut(BaseModel):
    id: str
    kind: str
    status: str
    task: str | None = None
    done: int = 0
    total: int = 0
    error: str | None = None
    result: dict[str, Any] | None = None
    created: str | None = None
    finished: str | None = None


class KeyOut(BaseModel):
    id: str
    role: str
    owner: str


def npy_b64_encode(a: np.ndarray) -> str:
    """base64 of ``a`` saved as .npy."""
    buf = io.BytesIO()
    np.save(buf, np.ascontiguousarray(a), allow_pickle=False)
    return base64.b64encode(buf.getvalue()).decode()


def npy_b64_decode(s: str) -> np.ndarray:
    """Decode :func:`npy_b64_encode`; refuses object arrays (pickles)."""
    try:
        return np.load(io.BytesIO(base64.b64decode(s, validate=True)), allow_pickle=False)
    except Exception as exc:
        raise DataError(
            f"npy_b64 is not a base64 .npy of a numeric array ({type(exc).__name__}); "
            "encode with numpy.save(..., allow_pickle=False)."
        ) from exc


def decode_inputs(body: ArrayIn) -> np.ndarray | list[str]:
    """The inputs of an embed/predict request as an array or a list of texts."""
    given = [x is not None for x in (body.data, body.texts, body.npy_b64)]
    if sum(given) != 1:
        raise DataError("Send exactly one of 'data', 'texts' or 'npy_b64'.")
    if body.texts is not None:
        return list(body.texts)
    if body.npy_b64 is not None:
        arr = npy_b64_decode(body.npy_b64)
    else:
        try:
            arr = np.asarray(body.data)
        except ValueError as exc:
            raise DataError(f"'data' is not a rectangular array: {exc}.") from exc
    if arr.dtype.kind not in "biuf" or arr.ndim < 1:
        raise DataError(
            f"Inputs must be a numeric array with a batch axis; got dtype {arr.dtype} "
            f"and {arr.ndim} dims."
        )
    return arr


def encode_outputs(a: np.ndarray, fmt: str) -> ArrayOut:
    """Wrap an output array per the requested format."""
    a = np.asarray(a, dtype=np.float32)
    if fmt == "npy":
        return ArrayOut(shape=list(a.shape), npy_b64=npy_b64_encode(a))
    return ArrayOut(shape=list(a.shape), data=a.tolist())
