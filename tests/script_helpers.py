"""Import a file of ``scripts/`` or ``benchmarks/`` (not packages) as a module, for the tests of
its functions."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


def load_script(name: str, folder: str = "scripts") -> Any:
    """``<folder>/<name>.py`` of the repository as a module (``folder``: scripts or benchmarks).

    >>> load_script("update_readme").START
    '<!-- results:start -->'
    >>> load_script("tabular", "benchmarks").__name__
    'tabular'
    """
    path = ROOT / folder / f"{name}.py"
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
