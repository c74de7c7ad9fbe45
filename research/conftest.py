"""Fixtures of the research tests (``pytest research/``; never part of ``make test``).

The studies reuse the product's test helpers (``tests/adapt_helpers.py``) and import the study
scripts of this folder as plain modules.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parent / "tests"), str(HERE)]

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


@pytest.fixture(autouse=True)
def _isolated_cache(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each test session gets its own feature cache so tests never see a stale one."""
    monkeypatch.setenv("RECYCLE_CACHE", str(tmp_path_factory.getbasetemp() / "feature-cache"))
