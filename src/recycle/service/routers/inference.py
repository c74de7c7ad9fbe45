"""Black-box inference: ``POST /models/{id}/embed`` and ``/predict``.

The model runs on the server; only its outputs leave (features, or probabilities over its own
source classes), computed in a sandboxed worker process
(:mod:`recycle.service.inference_pool`: memory, CPU and wall limits, the server's batch size).
This is what makes a zoo entry usable as a black-box source by remote users
(:class:`recycle.sources.remote.RemoteSource`). A batch above ``RECYCLE_MAX_BATCH`` rows is
refused with 413; send smaller batches. A table is checked against the card's input before it
reaches the model, with the checks ``recycle predict`` makes (:func:`recycle.schema.conform`):
its width, and its columns **by name** when the request names them (``columns``) and the card
does too; a mismatch is a one-line 422 naming the columns.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
from fastapi import APIRouter

from recycle.errors import DataError, PayloadTooLargeError
from recycle.schema import conform
from recycle.service.deps import StateDep, UserKey
from recycle.service.schemas import (
    ArrayIn,
    ArrayOut,
    check_id,
    decode_inputs,
    encode_outputs,
    error_responses,
)

router = APIRouter(
    prefix="/models",
    tags=["inference"],
    responses=error_responses(400, 401, 403, 404, 413, 422, 429, 502),
)
log = logging.getLogger("recycle.service")


def card_schema(card: Any) -> dict[str, Any] | None:
    """The input schema (:mod:`recycle.schema`) a tabular card promises; ``None`` otherwise.

    Examples
    --------
    >>> from recycle.zoo import ModelCard
    >>> card = ModelCard(name="t.m", modality="tabular", task="feature-extraction",
    ...                  input={"shape": [2], "dtype": "float32", "value_range": [0, 1],
    ...                         "columns": ["a", "b"]}, output={"feature_dim": 2})
    >>> card_schema(card)
    {'modality': 'tabular', 'n_features': 2, 'columns': ['a', 'b']}
    """
    shape = card.input.shape
    if card.modality != "tabular" or len(shape) != 1:
        return None
    return {"modality": "tabular", "n_features": shape[0], "columns": card.input.columns}


def _table(X: np.ndarray, columns: list[str] | None, schema: dict[str, Any] | None) -> Any:
    """``X`` checked against the card's schema, by column name when ``columns`` are given
    (the checks and messages of ``recycle predict``)."""
    if columns is not None:
        import pandas as pd

        if X.ndim != 2 or X.shape[1] != len(columns):
            raise DataError(
                f"'columns' names {len(columns)} columns but the rows have shape "
                f"{list(X.shape[1:])}; send one name per column."
            )
        if len(set(columns)) != len(columns):
            raise DataError("'columns' has repeated names; name each column once.")
        X = pd.DataFrame(X, columns=columns)
    return conform(schema, X, "The request's rows") if schema else X


def _inputs(body: ArrayIn, card: Any, max_batch: int) -> Any:
    modality = card.modality
    X = decode_inputs(body)
    n = len(X)
    if n > max_batch:
        raise PayloadTooLargeError(
            f"Batch of {n} rows exceeds the limit of {max_batch}; split it into smaller batches."
        )
    if n == 0:
        raise DataError("Empty batch; send at least one row.")
    if isinstance(X, np.ndarray):
        if modality == "text":
            raise DataError("This model takes text; send 'texts': [...].")
        if modality == "image" and X.dtype.kind in "iu" and X.min() >= 0 and X.max() <= 255:
            X = X.astype(np.uint8)  # JSON integers of an image batch
        elif modality == "tabular":
            X = np.asarray(_table(X, body.columns, card_schema(card)), dtype=np.float32)
    elif modality != "text":
        raise DataError(f"This model takes {modality} arrays; send 'data' or 'npy_b64'.")
    return X


def _run(state: Any, model_id: str, body: ArrayIn, method: str) -> ArrayOut:
    entry = state.zoo.get(check_id(model_id))
    X = _inputs(body, entry.card, state.settings.max_batch)
    if method == "predict_proba" and not entry.card.output.source_classes:
        raise DataError(f"Model {entry.id} has no classification head; use /embed.")
    out = state.inference.run(entry, method, X)  # in a sandboxed worker, never here
    return encode_outputs(out, body.format)


@router.post("/{model_id}/embed", response_model=ArrayOut)
def embed(model_id: str, body: ArrayIn, state: StateDep, key: UserKey) -> ArrayOut:
    """Features ``(n, feature_dim)`` of a batch (user role)."""
    return _run(state, model_id, body, "embed")


@router.post("/{model_id}/predict", response_model=ArrayOut)
def predict(model_id: str, body: ArrayIn, state: StateDep, key: UserKey) -> ArrayOut:
    """Probabilities ``(n, len(source_classes))`` over the model's own classes (user role)."""
    return _run(state, model_id, body, "predict_proba")
