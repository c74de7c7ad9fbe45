"""Import a file of ``scripts/`` (not a package) as a module, for the tests of its functions."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any


def load_script(name: str) -> Any:
    """``scripts/<name>.py`` as a module.

    >>> load_script("update_readme").START
    '<!-- results:start -->'
    """
    path = Path(__file__).parents[1] / "scripts" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
