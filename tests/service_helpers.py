"""Helpers of the service tests (tests/test_service*.py): a real uvicorn server in a thread."""

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
