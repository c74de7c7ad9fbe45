"""Black-box inference: ``POST /models/{id}/embed`` and ``/predict``.

The model runs on the server; only its outputs leave (features, or probabilities over its own
source classes), computed in a sandboxed worker process
(:mod:`recycle.service.inference_pool`: memory, CPU and wall limits, the server's batch size).
This is what makes a zoo entry usable as a black-box source by remote users
(:class:`recycle.sources.remote.RemoteSource`). A batch above ``RECYCLE_MAX_BATCH`` rows is
refused with 413; send smaller batches.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
from fastapi import APIRouter

from recycle.errors import DataError, PayloadTooLargeError
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


def _inputs(body: ArrayIn, modality: str, max_batch: int) -> Any:
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
            X = X.astype(np.float32)
    elif modality != "text":
        raise DataError(f"This model takes {modality} arrays; send 'data' or 'npy_b64'.")
    return X


def _run(state: Any, model_id: str, body: ArrayIn, method: str) -> ArrayOut:
    entry = state.zoo.get(check_id(model_id))
    X = _inputs(body, entry.card.modality, state.settings.max_batch)
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
