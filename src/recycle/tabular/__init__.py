"""The tabular market: column-aware sources, other feature spaces, and reuse without labels.

- :mod:`~recycle.tabular.columns`: matching a user's columns to a source's (name, then type and
  distribution from the source's spec), imputing the rest;
- :mod:`~recycle.tabular.mapped`: a source fed through such a map;
- :mod:`~recycle.tabular.market`: every zoo source a named table can feed.
"""

from recycle.tabular.columns import ColumnMap, match_columns
from recycle.tabular.mapped import MappedSource
from recycle.tabular.market import market_sources

__all__ = ["ColumnMap", "MappedSource", "market_sources", "match_columns"]
