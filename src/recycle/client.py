"""Python client of ``recycle serve``: ``Client(url, key)``.

Mirrors the library: ``register`` / ``list`` / ``show`` / ``remove`` like a :class:`Zoo`,
``search_spec`` like ``zoo.search``, ``embed`` / ``predict`` for black-box queries, jobs with
``submit_select`` / ``submit_fit`` / ``poll`` / ``wait`` / ``cancel`` / ``download``, and
``sources()`` returning :class:`~recycle.sources.remote.RemoteSource` objects so ``Recycler``
runs unchanged against the remote zoo. Server errors come back as the same
:mod:`recycle.errors` classes.

Examples
--------
>>> c = Client("http://127.0.0.1:8000", key="rk_...")  # doctest: +SKIP
>>> hits = c.search_spec(spec, top=3)  # doctest: +SKIP
>>> job = c.submit_fit(X, y, params={"seed": 0}); c.wait(job["id"])  # doctest: +SKIP
"""

from __future__ import annotations

import builtins
import io
import json
import os
import tarfile
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from recycle.errors import DataError, RecycleError
from recycle.sources.remote import (
    RemoteSource,
    decode_npy,
    encode_npy,
    make_http,
    raise_for_response,
    request_with_retry,
)

FINAL_STATES = ("done", "failed", "cancelled")


def _json_text(obj: Any) -> str:
    if obj is None or isinstance(obj, str):
        return obj  # type: ignore[return-value]
    if hasattr(obj, "to_json"):
        return str(obj.to_json())
    if hasattr(obj, "to_dict"):
        return json.dumps(obj.to_dict())
    return json.dumps(obj)


def _npz(X: Any, y: Any, X_test: Any = None) -> bytes:
    buf = io.BytesIO()
    arrays: dict[str, Any] = {"X": np.asarray(X), "y": np.asarray(y)}
    if X_test is not None:
        arrays["X_test"] = np.asarray(X_test)
    np.savez(buf, **arrays)
    return buf.getvalue()


class Client:
    """HTTP client of the model-as-a-service API.

    Parameters
    ----------
    url : str
        Base URL, e.g. ``http://127.0.0.1:8000``.
    key : str, optional
        API key; default ``$RECYCLE_API_KEY``.
    timeout : float
        Seconds per request.
    """

    def __init__(self, url: str, key: str | None = None, timeout: float = 120.0) -> None:
        self.url = url.rstrip("/")
        self.key = key or os.environ.get("RECYCLE_API_KEY")
        self.http = make_http(self.url, self.key, timeout)

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _req(self, method: str, path: str, idempotent: bool = True, **kw: Any) -> Any:
        resp = request_with_retry(self.http, method, path, idempotent=idempotent, **kw)
        raise_for_response(resp)
        if resp.status_code == 204:
            return None
        return resp.json()

    # catalog ------------------------------------------------------------------------------
    def register(
        self,
        model: Any,
        card: Any,
        spec: Any = None,
    ) -> dict[str, Any]:
        """Serialize ``model`` locally and upload it with its card (and spec)."""
        from recycle.sources import serialize

        config, files = serialize(model)
        return self.register_files(card, files, config=config, spec=spec)

    def register_files(
        self,
        card: Any,
        files: Mapping[str, bytes | str | Path],
        config: dict[str, Any] | None = None,
        spec: Any = None,
    ) -> dict[str, Any]:
        """Upload artifact ``files`` (name -> bytes or path) with a card, config and spec."""
        parts = []
        for name, content in files.items():
            data = content if isinstance(content, bytes) else Path(content).read_bytes()
            parts.append(("files", (name, data, "application/octet-stream")))
        form: dict[str, str] = {"card": _json_text(card)}
        if config is not None:
            form["config"] = json.dumps(config)
        if spec is not None:
            form["spec"] = _json_text(spec)
        return self._req("POST", "/models", idempotent=False, data=form, files=parts)  # type: ignore[no-any-return]

    def list(self, **filters: Any) -> list[dict[str, Any]]:
        """Entries, filtered like ``zoo.list`` (``modality``, ``provider``, ``q``, ...)."""
        params = {k: v for k, v in filters.items() if v is not None}
        return self._req("GET", "/models", params=params)["items"]  # type: ignore[no-any-return]

    def show(self, model_id: str) -> dict[str, Any]:
        return self._req("GET", f"/models/{model_id}")  # type: ignore[no-any-return]

    def remove(self, model_id: str) -> None:
        self._req("DELETE", f"/models/{model_id}", idempotent=False)

    def search_spec(
        self, spec: Any, top: int = 5, space: str | None = None
    ) -> builtins.list[dict[str, Any]]:
        """Rank the zoo by similarity to ``spec`` (a Spec or its dict); no raw data is sent."""
        spec_dict = spec.to_dict() if hasattr(spec, "to_dict") else spec
        body = {"spec": json.loads(json.dumps(spec_dict)), "top": top, "space": space}
        return self._req("POST", "/specs/search", json=body)["hits"]  # type: ignore[no-any-return]

    # black-box inference ------------------------------------------------------------------
    def _infer(self, model_id: str, endpoint: str, X: Any) -> np.ndarray:
        if isinstance(X, list) and X and isinstance(X[0], str):
            body: dict[str, Any] = {"texts": X, "format": "npy"}
        else:
            body = {"npy_b64": encode_npy(np.asarray(X)), "format": "npy"}
        out = self._req("POST", f"/models/{model_id}/{endpoint}", json=body)
        return decode_npy(out["npy_b64"])

    def embed(self, model_id: str, X: Any) -> np.ndarray:
        """Features of one batch from a served model."""
        return self._infer(model_id, "embed", X)

    def predict(self, model_id: str, X: Any) -> np.ndarray:
        """Probabilities over the served model's own classes."""
        return self._infer(model_id, "predict", X)

    def sources(
        self, ids: builtins.list[str] | None = None, **filters: Any
    ) -> builtins.list[RemoteSource]:
        """Served entries (``ids`` in that order, else all matching ``filters``) as sources."""
        entries = self.list(**filters) if ids is None else [self.show(i) for i in ids]
        return [RemoteSource(self.url, e["id"], card=e, http=self.http) for e in entries]

    # jobs ---------------------------------------------------------------------------------
    def _submit(self, kind: str, X: Any, y: Any, params: dict | None, X_test: Any) -> dict:
        files = {"data": ("target.npz", _npz(X, y, X_test), "application/octet-stream")}
        data = {"params": json.dumps(params or {})}
        return self._req("POST", f"/jobs/{kind}", idempotent=False, files=files, data=data)  # type: ignore[no-any-return]

    def submit_select(self, X: Any, y: Any, params: dict | None = None) -> dict[str, Any]:
        """Queue a selection job; returns the job (``id``, ``status``)."""
        return self._submit("select", X, y, params, None)

    def submit_fit(
        self, X: Any, y: Any, params: dict | None = None, X_test: Any = None
    ) -> dict[str, Any]:
        """Queue a fit job; with ``X_test`` its result carries predictions for it."""
        return self._submit("fit", X, y, params, X_test)

    def poll(self, job_id: str) -> dict[str, Any]:
        """The job's status, progress and result summary."""
        return self._req("GET", f"/jobs/{job_id}")  # type: ignore[no-any-return]

    def wait(self, job_id: str, timeout: float = 600.0, every: float = 0.2) -> dict[str, Any]:
        """Poll until the job ends; raise if it failed or did not end in ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while True:
            job = self.poll(job_id)
            if job["status"] in FINAL_STATES:
                if job["status"] == "failed":
                    raise RecycleError(f"Job {job_id} failed: {job['error']}")
                return job
            if time.monotonic() > deadline:
                raise RecycleError(f"Job {job_id} still {job['status']} after {timeout} s.")
            time.sleep(every)

    def cancel(self, job_id: str) -> dict[str, Any]:
        return self._req("POST", f"/jobs/{job_id}/cancel", idempotent=False)  # type: ignore[no-any-return]

    def download(self, job_id: str, out: str | Path) -> Path:
        """Fetch a fit job's recycled model and unpack it into ``out`` (returns ``out/model``)."""
        resp = request_with_retry(self.http, "GET", f"/jobs/{job_id}/result")
        raise_for_response(resp)
        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        with tarfile.open(fileobj=io.BytesIO(resp.content), mode="r:gz") as tar:
            for member in tar.getmembers():
                if not (member.isfile() or member.isdir()) or not member.name.startswith("model"):
                    raise DataError(f"Refusing archive member {member.name!r}.")
            tar.extractall(out, filter="data")  # no absolute paths, no '..', no links out
        return out / "model"

    def submit_export(self, job_id: str, quantize: str | None = None) -> dict[str, Any]:
        """Queue an ONNX export of a done fit job's model (``quantize="int8"`` for int8
        weights); returns the export job, whose file :meth:`download_onnx` fetches."""
        data = {"params": json.dumps({"quantize": quantize} if quantize else {})}
        return self._req("POST", f"/jobs/{job_id}/export", idempotent=False, data=data)  # type: ignore[no-any-return]

    def download_onnx(self, job_id: str, out: str | Path) -> Path:
        """Fetch a done export job's ONNX file to ``out`` (never over an existing file)."""
        out = Path(out)
        if out.exists():
            raise DataError(f"{str(out)!r} already exists; give a new file name.")
        resp = request_with_retry(self.http, "GET", f"/jobs/{job_id}/result")
        raise_for_response(resp)
        tmp = out.with_name(f".{out.name}.part")
        tmp.write_bytes(resp.content)
        tmp.rename(out)
        return out
