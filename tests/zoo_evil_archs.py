"""Test-only architectures that misbehave, for the zoo checker's tests.

Imported by the checker's child process through ``$RECYCLE_EXTRA_ARCH_MODULES=zoo_evil_archs``
(with ``tests/`` on ``PYTHONPATH``); importing it in the test process too is harmless.

- ``evil.hang``: ``forward`` never returns (sleeps in a loop).
- ``evil.hog``: ``forward`` allocates and touches 64 MB blocks until memory runs out.
- ``evil.nan``: ``forward`` returns NaN features.
"""

from __future__ import annotations

import time

import torch
from torch import nn

from recycle.sources.arch import architecture_names, register_architecture

HOG_BLOCK = 16 * 1024 * 1024  # float32 elements per block: 64 MB
HOG_MAX_BLOCKS = 4096  # 256 GB: far more than any test machine has


class _Evil(nn.Module):
    def __init__(self, kind: str, in_features: int = 4, out_features: int = 6) -> None:
        super().__init__()
        self.kind = kind
        self.linear = nn.Linear(in_features, out_features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.kind == "hang":
            while True:
                time.sleep(0.1)
        if self.kind == "hog":
            blocks = [torch.ones(HOG_BLOCK) for _ in range(HOG_MAX_BLOCKS)]
            return self.linear(x) + blocks[-1][0]
        return self.linear(x) * float("nan")


for _kind in ("hang", "hog", "nan"):
    if f"evil.{_kind}" not in architecture_names():
        register_architecture(f"evil.{_kind}", lambda kind=_kind, **kw: _Evil(kind, **kw))
