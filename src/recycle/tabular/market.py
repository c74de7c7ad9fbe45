"""The tabular market: every zoo source a user's named table can feed, with its column map.

:func:`market_sources` goes over the zoo's tabular entries. An entry whose card names its
columns is matched to the user's columns (:func:`recycle.tabular.columns.match_columns`, using
the entry's spec when it is in the entry's own column space); it is kept when at least
:data:`MIN_MATCHED_SHARE` of its columns (and at least one) are fed by the user's table, the
rest imputed with the provider's means. An entry without column names is kept as before only
when it takes exactly as many columns as the table has (matched by position). The notes say
which entries were left out and why; the Recycler puts them in ``report_``.

Examples
--------
>>> import tempfile, numpy as np
>>> from recycle.zoo import Zoo
>>> zoo = Zoo.open(tempfile.mkdtemp())
>>> market_sources(zoo, ["a", "b"], np.zeros((3, 2)))
([], ['the zoo has no tabular source'])
"""

from __future__ import annotations

from typing import Any

import numpy as np

from recycle.errors import IncompatibleError
from recycle.tabular.columns import ColumnMap, match_columns
from recycle.tabular.mapped import MappedSource

#: Share of a source's columns the user's table must feed (by name or distribution) for the
#: source to be used; below it the source sees mostly imputed averages and says little.
MIN_MATCHED_SHARE = 0.25


def entry_spec(zoo: Any, entry: Any) -> Any:
    """The entry's RKME spec, or None when it has none."""
    if not getattr(entry, "spec_sha256", None):
        return None
    from recycle.spec import Spec

    return Spec.from_json(zoo.store.read(entry.spec_sha256))


def column_map_for(zoo: Any, entry: Any, user_columns: list[str], X: np.ndarray) -> ColumnMap:
    """How the user's columns feed ``entry`` (a tabular entry whose card names columns)."""
    inp = entry.card.input
    return match_columns(
        user_columns, X, list(inp.columns), spec=entry_spec(zoo, entry),
        source_types=inp.column_types,
    )  # fmt: skip


def market_sources(
    zoo: Any, user_columns: list[str], X: Any, candidates: list[str] | None = None
) -> tuple[list[MappedSource], list[str]]:
    """The zoo's tabular sources usable on a table with ``user_columns``, and notes on the rest.

    Parameters
    ----------
    zoo : Zoo
    user_columns : list of str
        The table's column names, one per column of ``X``.
    X : array-like of shape (n, len(user_columns))
    candidates : list of str, optional
        Only these entries (names, ``name@version`` or ids).

    Returns
    -------
    (list of MappedSource, list of str)
        The usable sources (each loaded, wrapped with its column map) and one note per entry
        left out.
    """
    A = np.asarray(X, dtype=np.float64)
    entries = list(zoo.list(modality="tabular"))
    if candidates is not None:
        wanted = set(candidates)
        entries = [e for e in entries if {e.name, e.ref, e.id} & wanted]
    if not entries:
        return [], ["the zoo has no tabular source"]
    kept: list[MappedSource] = []
    notes: list[str] = []
    for entry in entries:
        columns = entry.card.input.columns
        if not columns:
            width = entry.card.input.shape
            if list(width) == [len(user_columns)]:
                n = len(user_columns)
                identity = ColumnMap(list(user_columns), list(user_columns), ["position"] * n,
                                     [0.0] * n)  # fmt: skip
                kept.append(
                    MappedSource(zoo.load(entry.id), identity, user_columns, entry.id, entry.name)
                )
            else:
                notes.append(f"{entry.ref}: names no columns and takes {width} values per row")
            continue
        cmap = column_map_for(zoo, entry, user_columns, A)
        if cmap.n_matched == 0 or cmap.n_matched < MIN_MATCHED_SHARE * len(columns):
            notes.append(
                f"{entry.ref}: only {cmap.n_matched} of its {len(columns)} columns match the table"
            )
            continue
        kept.append(MappedSource(zoo.load(entry.id), cmap, user_columns, entry.id, entry.name))
    return kept, notes


#: What ``report_`` says when a named table gets the no-source model because nothing fits.
NO_SOURCE_NOTE = (
    "No source in the zoo is usable for this table ({why}); fitted the no-source model "
    "(gradient boosting and logistic regression, their probabilities averaged) instead."
)


def market_pool(
    zoo: Any, schema: dict[str, Any] | None, X: Any, candidates: list[str] | None = None
) -> tuple[Any, list[str]]:
    """The candidates a Recycler selects from for a fit input with ``schema``.

    A table with named columns and a zoo whose tabular cards name columns gets
    :func:`market_sources` (a list, possibly empty; only ``candidates`` when given); anything
    else gets ``zoo`` unchanged
    (selection then works as for arrays). Returns ``(zoo or list of sources, notes)``.
    """
    columns = (schema or {}).get("columns")
    if not columns or not hasattr(zoo, "list") or not hasattr(zoo, "store"):
        return zoo, []
    if not any(e.card.input.columns for e in zoo.list(modality="tabular")):
        return zoo, []
    return market_sources(zoo, list(columns), X, candidates)


def no_usable_source(pool: Any, left_out: list[str], strategy: str) -> bool:
    """Whether :func:`market_pool` found no usable source (then ``strategy="auto"`` fits the
    no-source model); for another strategy that is an IncompatibleError naming why.

    >>> no_usable_source([], ["a@1: only 0 of its 3 columns match the table"], "auto")
    True
    >>> no_usable_source([], ["a@1: only 0 of its 3 columns match the table"], "stacking")
    ... # doctest: +ELLIPSIS
    Traceback (most recent call last):
        ...
    recycle.errors.IncompatibleError: Strategy 'stacking' needs sources, but no source ...
    """
    if not isinstance(pool, list) or pool:
        return False
    if strategy == "auto":
        return True
    raise IncompatibleError(
        f"Strategy {strategy!r} needs sources, but no source in the zoo is usable for this table "
        f"({'; '.join(left_out)}); use strategy 'auto' or 'no_source'."
    )
