"""A tabular zoo built from the project's own tables, for the tests of tests/tabular."""

from __future__ import annotations

import pytest

from recycle.tabular.zoo import build_tabular_zoo
from recycle.zoo import Zoo


def built_zoo(factory: pytest.TempPathFactory, name: str, tables: list[str],
              kinds: list[str]) -> Zoo:  # fmt: skip
    """A new zoo under a temporary folder ``name`` with the sources of ``tables`` x ``kinds``.

    >>> built_zoo.__name__
    'built_zoo'
    """
    root = factory.mktemp(name)
    zoo = Zoo.open(root / "zoo")
    build_tabular_zoo(zoo, tables=tables, kinds=kinds, cache_dir=root / "cache")
    return zoo
