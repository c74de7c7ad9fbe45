"""Helpers of the service tests (tests/service/): a real uvicorn server in a thread."""

from __future__ import annotations

import socket
import threading
import time
from typing import Any

import numpy as np
import uvicorn

STARTUP_TIMEOUT_S = 30


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class ServerThread:
    """Run ``app`` with uvicorn on a free 127.0.0.1 port in a background thread."""

    def __init__(self, app: Any) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_config=None)
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> ServerThread:
        self.thread.start()
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.05)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=30)


def mlp_model(name: str, seed: int, in_features: int = 64, dim: int = 16) -> tuple[Any, Any]:
    """A small tabular MLP source (for the digits dataset's 64 features) and its card."""
    import torch

    from recycle.sources import TorchSource
    from recycle.sources.arch import build_architecture
    from recycle.zoo import ModelCard

    torch.manual_seed(seed)
    net = build_architecture("mlp", in_features=in_features, hidden=[32], out_features=dim)
    src = TorchSource(net, "tabular:identity", feature_dim=dim, source_id=name)
    card = ModelCard(
        name=name,
        modality="tabular",
        task="feature-extraction",
        input={"shape": [in_features], "dtype": "float32", "value_range": [0, 16]},
        output={"feature_dim": dim},
        license="MIT",
    )
    return src, card


def digits_rows(n: int = 32, seed: int = 0) -> np.ndarray:
    """Real rows of scikit-learn's digits (8x8 images flattened to 64 float32 features)."""
    from sklearn.datasets import load_digits

    X = load_digits().data.astype(np.float32)
    idx = np.random.default_rng(seed).choice(len(X), size=n, replace=False)
    return X[idx]


class Served:
    """A running server and its keys."""

    def __init__(self, url: str, zoo: Any, db: Any, keys: dict[str, str], jobs: Any) -> None:
        self.url, self.zoo, self.db, self.keys, self.jobs = url, zoo, db, keys, jobs

    def client(self, who: str | None) -> Any:
        import httpx

        headers = {"Authorization": f"Bearer {self.keys[who]}"} if who else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=120)


def upload_form(name: str, seed: int = 0, card_extra: dict | None = None) -> dict[str, Any]:
    """The multipart form of ``POST /models`` for a small MLP (see :func:`mlp_model`)."""
    import json

    from recycle.sources import serialize

    src, card = mlp_model(name, seed)
    config, files = serialize(src)
    card_dict = {**card.to_dict(), **(card_extra or {})}
    return {
        "data": {"card": json.dumps(card_dict), "config": json.dumps(config)},
        "files": [("files", (n, b, "application/octet-stream")) for n, b in files.items()],
    }


def npz_bytes(**arrays: np.ndarray) -> bytes:
    """``numpy.savez`` of ``arrays`` into bytes."""
    import io

    buf = io.BytesIO()
    np.savez(buf, **arrays)  # type: ignore[arg-type]
    return buf.getvalue()


def wait_until(check: Any, timeout: float, every: float = 0.1) -> float:
    """Call ``check()`` until it is true; return the seconds it took (raise after ``timeout``)."""
    start = time.monotonic()
    while not check():
        if time.monotonic() - start > timeout:
            raise TimeoutError(f"condition not met within {timeout} s")
        time.sleep(every)
    return time.monotonic() - start
