"""The deployment report: what a fitted model does on held-out data, and what shipping it costs.

:func:`deployment_report` measures, on labelled data ``(X, y)``:

- quality: accuracy, macro-F1, per-class recall, the confusion matrix, calibration (ECE and the
  reliability diagram's bins), from :func:`recycle.evaluate.evaluation_report`;
- robustness: accuracy under the corruptions of :mod:`recycle.deploy.corrupt` that fit the
  modality;
- deployment: the one-file ONNX export in fp32 and int8 (accuracy, agreement with the model's
  own predictions), latency per row (recycle's ``predict_proba`` vs onnxruntime fp32 vs int8,
  in batch and one row at a time; recycle is timed with an empty feature cache, on rows it has
  not embedded before, so the figure is the model's, not a cache read), and size (the model
  folder, the sources it needs from the zoo, the fp32 and the int8 file);
- licences: the sources' weights and training-data licences combined
  (:func:`recycle.deploy.licences.licence_view`).

:func:`recycle.deploy.report_html.render_html` turns the dict into one HTML page.

Examples
--------
>>> import numpy as np
>>> from sklearn.datasets import load_digits
>>> from sklearn.decomposition import PCA
>>> from recycle.adapt import Recycler
>>> from recycle.sources import SklearnSource
>>> X, y = load_digits(return_X_y=True)
>>> rec = Recycler([SklearnSource(PCA(16).fit(X), source_id="pca.doc")], m=1,
...                strategy="linear_probe").fit(X[:300], y[:300])
>>> rep = deployment_report(rec, X[300:500], y[300:500], single_rows=3)
>>> rep["quality"]["accuracy"] > 0.8, rep["export"]["fp32"]["agreement"] >= 0.99
(True, True)
>>> [r["corruption"] for r in rep["robustness"]]
['feature_noise', 'missing_values']
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from recycle.deploy.corrupt import corruptions
from recycle.deploy.licences import licence_view
from recycle.deploy.onnx_export import input_shape, model_sources
from recycle.deploy.text_export import text_feeds, tokenizer_json
from recycle.errors import IncompatibleError

#: Rows timed one at a time for the single-row latency (median over them).
SINGLE_ROWS = 20
#: Rows per onnxruntime call (as recycle's own batches): one call on every test row holds all
#: their activations at once (gigabytes for a CNN or a transformer on 500 rows).
ONNX_BATCH = 64


def _timed(fn: Callable[[Any], np.ndarray], X: Any) -> tuple[np.ndarray, float]:
    start = time.perf_counter()
    out = fn(X)
    return out, time.perf_counter() - start


def _latency(fn: Callable[[Any], np.ndarray], X: Any, single_rows: int) -> dict[str, float]:
    """Milliseconds per row in one batch, and the median of one-row calls."""
    _, batch = _timed(fn, X)
    singles = [_timed(fn, X[i : i + 1])[1] for i in range(min(single_rows, len(X)))]
    return {
        "batch_ms_per_row": 1e3 * batch / max(len(X), 1),
        "single_row_ms": 1e3 * float(np.median(singles)) if singles else float("nan"),
    }


@contextlib.contextmanager
def _cold_feature_cache() -> Iterator[None]:
    """Point recycle's feature cache at an empty temporary folder while timing ``predict``.

    Every ``embed`` goes through the on-disk feature cache; timing rows it has already seen
    would measure a cache read, not the model. The previous ``$RECYCLE_CACHE`` comes back after.
    """
    before = os.environ.get("RECYCLE_CACHE")
    with tempfile.TemporaryDirectory(prefix="recycle-report-cache-") as tmp:
        os.environ["RECYCLE_CACHE"] = tmp
        try:
            yield
        finally:
            if before is None:
                os.environ.pop("RECYCLE_CACHE", None)
            else:
                os.environ["RECYCLE_CACHE"] = before


def _session(model: bytes) -> Any:
    import onnxruntime as ort
    import torch

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = torch.get_num_threads()  # the same threads as recycle's torch
    opts.log_severity_level = 3
    return ort.InferenceSession(model, opts, providers=["CPUExecutionProvider"])


def _accuracy(proba: np.ndarray, y: np.ndarray, classes: np.ndarray) -> float:
    return float(np.mean(classes[np.asarray(proba).argmax(axis=1)].astype(str) == y.astype(str)))


def _feeder(rec: Any) -> Callable[[Any], dict[str, np.ndarray]]:
    """Rows -> the exported graph's inputs (text: through the exported tokenizer)."""
    if input_shape(rec):
        return lambda A: {"input": A}
    from tokenizers import Tokenizer

    tok = Tokenizer.from_str(tokenizer_json(model_sources(rec))[1])
    return lambda A: text_feeds(tok, A)


def _export_part(rec: Any, X: Any, y: np.ndarray, reference: np.ndarray, single_rows: int,
                 int8_method: str) -> dict[str, Any]:  # fmt: skip
    from recycle.deploy.onnx_export import build_onnx
    from recycle.deploy.quantize import quantize_int8

    try:
        fp32 = build_onnx(rec).SerializeToString()
    except IncompatibleError as exc:
        return {"error": str(exc)}
    out: dict[str, Any] = {}
    feeds = _feeder(rec)
    X32 = np.asarray(X, dtype=np.float32) if input_shape(rec) else list(X)
    for name, data in (("fp32", fp32), ("int8", quantize_int8(fp32, method=int8_method))):
        sess = _session(data)

        def run(A: Any, sess: Any = sess) -> np.ndarray:
            chunks = (A[i : i + ONNX_BATCH] for i in range(0, len(A), ONNX_BATCH))
            return np.concatenate([sess.run(["probabilities"], feeds(c))[0] for c in chunks])

        proba = run(X32)
        out[name] = {
            "bytes": len(data),
            "accuracy": _accuracy(proba, y, rec.classes_),
            "agreement": float(np.mean(proba.argmax(axis=1) == reference)),
            **_latency(run, X32, single_rows),
        }
    out["int8"]["method"] = int8_method
    return out


def _folder_bytes(model_dir: str | Path | None) -> int | None:
    if model_dir is None:
        return None
    return sum(p.stat().st_size for p in Path(model_dir).rglob("*") if p.is_file())


def _source_bytes(rec: Any) -> int | None:
    """Bytes of the zoo entries the model loads its sources from (None when unknown)."""
    zoo = rec.zoo
    if isinstance(zoo, str | Path):
        from recycle.zoo import Zoo

        zoo = Zoo.open(zoo) if Path(zoo).exists() else None
    if zoo is None or not hasattr(zoo, "get"):
        return None
    total = 0
    for record in rec.report_.get("sources", []):
        if not record.get("entry_id"):
            return None
        entry = zoo.get(record["entry_id"])
        total += entry.size_bytes + sum(zoo.get(p).size_bytes for p in entry.parents)
    return total or None  # builtin entries point at their package: nothing stored


def deployment_costs(
    rec: Any,
    X: Any,
    y: Any,
    *,
    model_dir: str | Path | None = None,
    single_rows: int = SINGLE_ROWS,
    int8_method: str = "weights",
) -> dict[str, Any]:
    """Probabilities, accuracy, ONNX export (fp32/int8), latency and size of ``rec`` on
    ``(X, y)``: the deployment part of :func:`deployment_report` (no robustness, no plots).

    Returns
    -------
    dict
        ``{"proba", "accuracy", "export", "latency", "size"}`` (``proba`` an array).
    """
    y = np.asarray(y)
    with _cold_feature_cache():  # the first batch and every single row are cache misses
        latency = {"recycle": _latency(rec.predict_proba, X, single_rows)}
        proba = rec.predict_proba(X)
    export = _export_part(rec, X, y, proba.argmax(axis=1), single_rows, int8_method)
    latency.update({k: {m: v[m] for m in latency["recycle"]} for k, v in export.items()
                    if isinstance(v, dict)})  # fmt: skip
    size = {
        "folder": _folder_bytes(model_dir),
        "sources_in_zoo": _source_bytes(rec),
        "fp32": export.get("fp32", {}).get("bytes"),
        "int8": export.get("int8", {}).get("bytes"),
    }
    return {
        "proba": proba,
        "accuracy": _accuracy(proba, y, rec.classes_),
        "export": export,
        "latency": latency,
        "size": size,
    }


def deployment_report(
    rec: Any,
    X: Any,
    y: Any,
    *,
    model_dir: str | Path | None = None,
    seed: int = 0,
    single_rows: int = SINGLE_ROWS,
    int8_method: str = "weights",
) -> dict[str, Any]:
    """Measure a fitted Recycler on labelled ``(X, y)``; see the module docstring.

    Parameters
    ----------
    rec : Recycler
        Fitted (or loaded with :meth:`Recycler.load`).
    X, y : labelled held-out data, as ``recycle evaluate`` takes it.
    model_dir : path, optional
        The model folder, for its size.
    seed : int, default 0
        Seed of the corruptions.
    single_rows : int, default 20
        Rows timed one at a time.
    int8_method : {"weights", "dynamic"}, default "weights"

    Returns
    -------
    dict
        JSON-able: ``model``, ``quality``, ``robustness``, ``export``, ``latency``, ``size``,
        ``licences``.
    """
    from recycle.data import infer_modality
    from recycle.deploy.onnx_export import source_records
    from recycle.evaluate import evaluation_report

    y = np.asarray(y)
    costs = deployment_costs(
        rec, X, y, model_dir=model_dir, single_rows=single_rows, int8_method=int8_method
    )
    classes = rec.classes_
    quality = evaluation_report(y, costs["proba"], classes.tolist())
    rng = np.random.default_rng(seed)
    robustness = []
    for name, corrupt in corruptions(infer_modality(X)).items():
        acc = _accuracy(rec.predict_proba(corrupt(X, rng)), y, classes)
        robustness.append({
            "corruption": name, "accuracy": acc, "drop": quality["accuracy"] - acc,
        })  # fmt: skip
    sources = source_records(rec)
    report = rec.report_
    return {
        "model": {
            "strategy": report.get("strategy"),
            "classes": quality["classes"],
            "n_train": report.get("n_train"),
            "trainable_params": report.get("trainable_params"),
            "sources": sources,
            "folder": None if model_dir is None else str(model_dir),
        },
        "quality": quality,
        "robustness": robustness,
        "export": costs["export"],
        "latency": costs["latency"],
        "size": costs["size"],
        "licences": licence_view(sources),
    }
