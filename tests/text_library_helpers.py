"""The quick text LoRA library (3 source tasks, tiny subsets on the real all-MiniLM-L6-v2),
built once per test session through the CLI (``recycle zoo build-demo --modality text
--quick``) into a fresh zoo and cache.

Shared by ``tests/adapt/test_text_family.py`` and ``tests/bench/test_text_fewshot_lora.py``
(the root conftest imports the ``library`` fixture).
"""

from __future__ import annotations

import contextlib
import io
import json
from typing import Any

import pytest

from recycle.cli import main


@pytest.fixture(scope="session")
def library(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The quick text library built by the CLI into a fresh zoo (and its JSON summary)."""
    root = tmp_path_factory.mktemp("textlib")
    mp = pytest.MonkeyPatch()
    mp.setenv("RECYCLE_CACHE", str(root / "cache"))
    mp.setenv("HF_HUB_OFFLINE", "1")
    zoo = str(root / "zoo")
    out = root / "summary.json"
    argv = ["zoo", "build-demo", "--modality", "text", "--quick", "--zoo", zoo, "--json"]
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        code = main(argv)
    out.write_text(buf.getvalue())
    again, said = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(again):
        code_again = main(argv)
    with contextlib.redirect_stdout(said):  # the sentence a person reads, without --json
        code_said = main(argv[:-1])
    mp.undo()
    return {
        "zoo": zoo,
        "root": root,
        "code": code,
        "summary": json.loads(buf.getvalue()),
        "again": (code_again, json.loads(again.getvalue())),
        "said": (code_said, " ".join(said.getvalue().split())),
    }
