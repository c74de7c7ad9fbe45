"""Shared test fixtures. Keep this small; fixtures used by one module live in that module."""

from __future__ import annotations

import os

import numpy as np
import pytest

from family_helpers import family  # noqa: F401  (a small real white-box family)
from pg import pg_server, pg_url  # noqa: F401  (PostgreSQL fixtures, see tests/pg.py)
from text_library_helpers import library  # noqa: F401  (the quick text LoRA library)

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("RAY_AUTH_MODE", "disabled")


@pytest.fixture(autouse=True, scope="session")
def _one_torch_thread() -> None:
    import torch

    torch.set_num_threads(1)


@pytest.fixture(autouse=True)
def _isolated_cache(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each test session gets its own feature cache so tests never see a stale one."""
    root = tmp_path_factory.getbasetemp() / "feature-cache"
    monkeypatch.setenv("RECYCLE_CACHE", str(root))


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(0)
