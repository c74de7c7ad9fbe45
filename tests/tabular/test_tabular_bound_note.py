"""``report_`` says the guard's one-sided 95 % bound in words whenever it exceeds 2 points (the
issue's loss size), for the no-source model the choice may be furthest below; not only when the
gap-probability warning fires."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pandas as pd
import pytest

from recycle.adapt import Recycler
from recycle.adapt.auto.risk import RISK_LIMIT, bound_note
from recycle.tabular.zoo import build_tabular_zoo, provider_split, table
from recycle.zoo import Zoo

SAYS = "may be up to"


def test_the_note_names_the_largest_bound_only_above_the_limit() -> None:
    note = bound_note({"gradient_boosting": 0.041, "logistic_regression": 0.03}, "mcw")
    assert note is not None and note.startswith(
        "on new data, gradient_boosting may be up to 4.1 points more accurate than mcw"
    )
    assert "95 % bound" in note
    assert (
        bound_note({"gradient_boosting": RISK_LIMIT, "logistic_regression": -0.01}, "mcw") is None
    )
    assert bound_note({}, "mcw") is None


@pytest.fixture(scope="module")
def zoo(tmp_path_factory: pytest.TempPathFactory) -> Zoo:
    """A zoo whose only source (mlc_churn's) no user below can use: auto scores the no-source
    models and bounds how far below each the choice may be."""
    root = tmp_path_factory.mktemp("bound")
    zoo = Zoo.open(root / "zoo")
    build_tabular_zoo(zoo, tables=["mlc_churn"], quick=True, cache_dir=root / "cache")
    return zoo


def _fit(zoo: Zoo, name: str, n: int) -> dict[str, Any]:
    ds = provider_split(table(name))
    rows = np.random.default_rng(0).permutation(len(ds.y_test))[:n]
    X = pd.DataFrame(ds.X_test[rows], columns=ds.feature_names)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "no source is usable": expected here
        return Recycler(zoo, strategy="auto", seed=0).fit(X, ds.y_test[rows]).report_


@pytest.mark.parametrize(("name", "wide"), [("wa_churn", False), ("default", True)])
def test_report_says_the_bound_exactly_when_it_exceeds_two_points(
    zoo: Zoo, name: str, wide: bool
) -> None:
    """300 rows of default (ISLR): the choice may be several points below logistic regression
    (bound 3.0 points when measured); of wa_churn: no model is more than 2 points better even
    at the 95 % bound (1.6 points at most). With the one-kind ``no_source`` it was the other
    way round (wa_churn 4.9 points below gradient boosting, default 1.2): the blend moved both."""
    report = _fit(zoo, name, 300)
    risk = report["guard"]["risk"]
    worst = max(risk, key=risk.get)
    said = [w for w in report["warnings"] if SAYS in w]
    assert (risk[worst] > RISK_LIMIT) is wide, risk
    if wide:
        assert len(said) == 1 and said[0].startswith(
            f"on new data, {worst} may be up to {100 * risk[worst]:.1f} points more accurate "
            f"than {report['strategy']}"
        ), report["warnings"]
    else:
        assert said == [], report["warnings"]
