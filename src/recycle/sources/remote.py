"""RemoteSource: a zoo entry served over HTTP, used as a black-box source.

``RemoteSource(url, model_id, key)`` looks like any other :class:`~recycle.sources.base.
SourceModel`: ``embed(X)`` sends ``X`` in batches to ``POST {url}/models/{id}/embed`` (base64
``.npy``, no pickles) and returns the features; ``predict_proba`` calls ``/predict`` when the
model has a head. The weights never leave the server, so ``Recycler`` and ``select_sources``
run unchanged against a remote zoo (black-box mode).

``source_id`` is ``remote:<url>/models/<id>@<version>``: stable across processes, so the
feature cache works for remote sources too. Transient failures (connection refused or reset,
429, 502-504) are retried with exponential backoff.

Examples
--------
>>> src = RemoteSource("http://127.0.0.1:8000", "0" * 32, key="rk_...")  # doctest: +SKIP
>>> src.embed(X).shape  # doctest: +SKIP
(100, 1280)
"""

from __future__ import annotations

import base64
import io
import os
import time
from typing import Any

import httpx
import numpy as np

from recycle import errors
from recycle.errors import RecycleError, SourceFailedError

DEFAULT_BATCH = 256  # rows per request; keep below the server's RECYCLE_MAX_BATCH
RETRY_STATUS = (429, 502, 503, 504)
DEFAULT_RETRIES = 6  # backoff 0.1 s * 2**i: about 6 s in all before giving up


def raise_for_response(resp: httpx.Response) -> None:
    """Raise the library error the server reported (same class name), or a generic one."""
    if resp.status_code < 400:
        return
    try:
        body = resp.json()
        name, detail = str(body.get("error", "")), str(body.get("detail", resp.text))
    except ValueError:
        name, detail = "", resp.text[:500]
    cls = getattr(errors, name, None)
    if isinstance(cls, type) and issubclass(cls, RecycleError):
        raise cls(detail)
    if resp.status_code == 422:
        raise errors.DataError(detail)
    raise RecycleError(f"HTTP {resp.status_code} from {resp.request.url.path}: {detail}")


def request_with_retry(
    http: httpx.Client,
    method: str,
    path: str,
    retries: int = DEFAULT_RETRIES,
    idempotent: bool = True,
    **kw: Any,
) -> httpx.Response:
    """``http.request`` retrying transient failures; the last failure is raised as is.

    A non-idempotent request (a registration) is retried only when the connection was refused
    (it never reached the server), so it can never be applied twice.
    """
    transient = httpx.TransportError if idempotent else httpx.ConnectError
    for attempt in range(retries + 1):
        try:
            resp = http.request(method, path, **kw)
        except transient:
            if attempt == retries:
                raise
        else:
            retry = resp.status_code in RETRY_STATUS and (idempotent or resp.status_code == 429)
            if not retry or attempt == retries:
                return resp
        time.sleep(0.1 * 2**attempt)
    raise AssertionError("unreachable")  # pragma: no cover


def encode_npy(a: np.ndarray) -> str:
    buf = io.BytesIO()
    np.save(buf, np.ascontiguousarray(a), allow_pickle=False)
    return base64.b64encode(buf.getvalue()).decode()


def decode_npy(s: str) -> np.ndarray:
    return np.load(io.BytesIO(base64.b64decode(s)), allow_pickle=False)


def make_http(url: str, key: str | None, timeout: float = 120.0) -> httpx.Client:
    """An ``httpx.Client`` on ``url`` sending ``key`` as a bearer token."""
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    return httpx.Client(base_url=url.rstrip("/"), headers=headers, timeout=timeout)


class RemoteSource:
    """A served zoo entry as a black-box :class:`SourceModel`.

    Parameters
    ----------
    url : str
        Base URL of a ``recycle serve`` instance.
    model_id : str
        Zoo entry id (32 hex).
    key : str, optional
        API key with the ``user`` role; default ``$RECYCLE_API_KEY``.
    batch_size : int
        Rows per request.
    card : dict, optional
        The entry as ``GET /models/{id}`` returns it (skips that request).
    http : httpx.Client, optional
        A shared client (the :class:`recycle.client.Client` passes its own).
    """

    access = "black-box"

    def __init__(
        self,
        url: str,
        model_id: str,
        key: str | None = None,
        batch_size: int = DEFAULT_BATCH,
        card: dict[str, Any] | None = None,
        http: httpx.Client | None = None,
    ) -> None:
        self.url = url.rstrip("/")
        self.model_id = model_id
        self.batch_size = int(batch_size)
        self._http = http or make_http(self.url, key or os.environ.get("RECYCLE_API_KEY"))
        if card is None:
            resp = request_with_retry(self._http, "GET", f"/models/{model_id}")
            raise_for_response(resp)
            card = resp.json()
        self.entry = card
        c = card["card"]
        self.name = str(card["name"])
        self.version = str(card["version"])
        self.modality = c["modality"]
        self.feature_dim = int(c["output"]["feature_dim"])
        self.source_classes: list[str] = list(c["output"].get("source_classes") or [])
        self.source_id = f"remote:{self.url}/models/{model_id}@{self.version}"

    def __repr__(self) -> str:
        return f"RemoteSource({self.source_id!r}, name={self.name!r})"

    def to_config(self) -> dict[str, Any]:
        """Serialization config (no key: it is read from ``$RECYCLE_API_KEY`` on load)."""
        return {"format": "remote", "url": self.url, "model_id": self.model_id}

    @classmethod
    def from_config(cls, config: dict[str, Any], key: str | None = None) -> RemoteSource:
        """Inverse of :meth:`to_config`."""
        return cls(config["url"], config["model_id"], key=key)

    def _call(self, endpoint: str, X: Any, width: int) -> np.ndarray:
        texts = not isinstance(X, np.ndarray) and (
            isinstance(X, list | tuple) and (len(X) == 0 or isinstance(X[0], str))
        )
        if not texts:
            X = np.asarray(X)
        n = len(X)
        out: list[np.ndarray] = []
        for start in range(0, n, self.batch_size):
            chunk = X[start : start + self.batch_size]
            body: dict[str, Any] = {"format": "npy"}
            if texts:
                body["texts"] = [str(t) for t in chunk]
            else:
                body["npy_b64"] = encode_npy(chunk)
            path = f"/models/{self.model_id}/{endpoint}"
            try:
                resp = request_with_retry(self._http, "POST", path, json=body)
            except httpx.HTTPError as exc:
                raise SourceFailedError(
                    f"Remote source {self.source_id} unreachable: {type(exc).__name__}; check "
                    "that the server runs and the URL is right."
                ) from exc
            raise_for_response(resp)
            out.append(decode_npy(resp.json()["npy_b64"]).astype(np.float32, copy=False))
        if not out:
            return np.zeros((0, width), dtype=np.float32)
        return np.concatenate(out, axis=0)

    def embed(self, X: Any) -> np.ndarray:
        """Features ``(n, feature_dim)`` computed by the server."""
        return self._call("embed", X, self.feature_dim)

    def predict_proba(self, X: Any) -> np.ndarray:
        """Probabilities over the source's own classes (models with a head only)."""
        if not self.source_classes:
            raise errors.DataError(f"{self.source_id} has no classification head; use embed().")
        return self._call("predict", X, len(self.source_classes))
