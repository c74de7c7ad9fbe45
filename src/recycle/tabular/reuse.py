"""Reuse without labels: a model for an unlabelled table from the zoo's sources that know its
classes (``recycle reuse DATA --classes A,B``).

:func:`reuse` keeps the zoo's tabular sources that can read the table
(:func:`~recycle.tabular.market.market_sources`: columns matched by name, type and
distribution), that have their own head over classes including every one the user names
(compared without case), and that have an RKME spec in their own column space; of those, only
the ones that see the largest share of their own columns (measured: on the creditcard table,
sources of other tables that share one or two column names got per-row weights from densities
on those few columns and took reuse from 98.1 % to 50.0 %; nothing without labels can check
them). The model is
the ``spec_weighted`` strategy (:mod:`recycle.adapt.strategies.spec_weighted`): each row
weighted towards the sources whose specs it resembles. The result is an ordinary fitted
:class:`~recycle.adapt.Recycler` (``predict``, ``save``, ``evaluate``, ``export``); its
``report_`` says which sources were used and why the others were not.

Examples
--------
>>> import tempfile, pandas as pd
>>> from recycle.zoo import Zoo
>>> reuse(Zoo.open(tempfile.mkdtemp()), pd.DataFrame({"a": [1.0]}), ["x", "y"])
... # doctest: +ELLIPSIS
Traceback (most recent call last):
    ...
recycle.errors.IncompatibleError: No source can be reused for this table: the zoo has no ...
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from recycle.adapt import Recycler
from recycle.adapt.source_records import source_records
from recycle.adapt.strategies.spec_weighted import SpecWeighted, class_map
from recycle.errors import ConfigError, DataError, IncompatibleError
from recycle.schema import learn_schema
from recycle.tabular.market import entry_spec, market_sources


def parse_classes(text: str) -> list[str]:
    """``"A,B"`` -> ``["A", "B"]``; at least two distinct, non-empty names.

    >>> parse_classes(" no, yes ")
    ['no', 'yes']
    """
    names = [c.strip() for c in text.split(",")]
    if len(names) < 2 or any(not c for c in names) or len(set(names)) != len(names):
        raise ConfigError(
            f"--classes must name at least two distinct classes, comma-separated (e.g. no,yes); "
            f"got {text!r}."
        )
    return names


def _usable(zoo: Any, sources: list[Any], classes: list[str]) -> tuple[list[Any], list[str]]:
    kept, notes = [], []
    for src in sources:
        known = list(src.source_classes)
        if not known:
            notes.append(f"{src.entry_name}: has no classes of its own (no head)")
        elif (class_map(known, classes) < 0).any():
            notes.append(f"{src.entry_name}: knows {known}, not all of {classes}")
        elif (spec := entry_spec(zoo, zoo.get(src.entry_id))) is None or np.shape(spec.Z)[1] != len(
            src.column_map.source_columns
        ):
            notes.append(f"{src.entry_name}: has no spec in its own column space")
        else:
            kept.append((src, spec))
    if kept:  # only the sources that see the largest share of their own columns
        best = max(_coverage(s) for s, _ in kept)
        notes += [f"{s.entry_name}: sees {_coverage(s):.0%} of its columns, others {best:.0%}"
                  for s, _ in kept if _coverage(s) < best - 1e-9]  # fmt: skip
        kept = [(s, sp) for s, sp in kept if _coverage(s) >= best - 1e-9]
    return kept, notes


def _coverage(source: Any) -> float:
    """Share of the source's columns the table feeds."""
    return source.column_map.n_matched / len(source.column_map.source_columns)


def reuse(zoo: Any, X: Any, classes: list[str]) -> Recycler:
    """A fitted Recycler for the unlabelled table ``X`` over ``classes``, without labels.

    Parameters
    ----------
    zoo : Zoo
    X : pandas.DataFrame
        The user's rows, with named columns.
    classes : list of str
        The user's label space; every class must be known to the sources used.

    Returns
    -------
    Recycler
        Fitted (``strategy_`` is a :class:`SpecWeighted`), ready to predict and save.

    Raises
    ------
    DataError
        ``X`` is not a table with named columns.
    IncompatibleError
        No source can read the table, or none knows all of ``classes`` (the message says
        which classes the readable sources know).
    """
    start = time.perf_counter()
    arr, schema = learn_schema(X)
    if schema["modality"] != "tabular" or not schema.get("columns"):
        raise DataError("reuse takes a table with named columns (a CSV or parquet file).")
    readable, left_out = market_sources(zoo, list(schema["columns"]), arr)
    if not readable:
        raise IncompatibleError(
            f"No source can be reused for this table: {'; '.join(left_out)}. Add tabular "
            "sources whose cards name their columns (recycle zoo build-demo --modality tabular)."
        )
    kept, notes = _usable(zoo, readable, classes)
    if not kept:
        known = sorted({c for s in readable for c in s.source_classes})
        unknown = [c for c in classes if c.strip().lower() not in {k.lower() for k in known}]
        what = f"classes {unknown} are known by no source" if unknown else "no source knows all"
        raise IncompatibleError(
            f"No source can be reused for classes {classes}: {what} that reads this table (they "
            f"know {known}). Name classes as the sources do, or fit with labels (recycle fit)."
        )
    sources = [s for s, _ in kept]
    rec = Recycler(zoo, strategy="spec_weighted")
    rec.strategy_ = SpecWeighted.from_specs(sources, [sp for _, sp in kept], classes)
    rec.classes_ = np.asarray(classes)
    rec.selection_ = None
    rec._set_schema(schema)
    weights = rec.strategy_.row_weights(arr).mean(axis=0)
    rec.report_ = {
        "strategy": "spec_weighted", "strategy_param": "spec_weighted", "m": len(sources),
        "m_param": len(sources), "score": None, "seed": 0,
        "zoo": getattr(zoo, "location", None), "sources": source_records(None, sources, zoo),
        "ranking": [], "m_selected": None, "cv": {}, "guard": None, "trainable_params": 0,
        "classes": list(classes), "n_train": 0, "n_unlabelled": len(arr),
        "input_shape": [arr.shape[1]], "mean_row_weights": np.round(weights, 4).tolist(),
        "warnings": [], "sources_left_out": left_out + notes,
        "fit_seconds": round(time.perf_counter() - start, 3),
    }  # fmt: skip
    return rec
