"""Fixtures of the spec index tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from recycle.spec import index_files as files


@pytest.fixture
def set_reads(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """How many reduced sets each call of ``index_files.read_sets`` reads, during the test."""
    reads: list[int] = []
    real = files.read_sets

    def counted(folder: Path, ids: np.ndarray, sizes: np.ndarray, dim: int) -> np.ndarray:
        reads.append(len(ids))
        return real(folder, ids, sizes, dim)

    monkeypatch.setattr(files, "read_sets", counted)
    return reads
