"""Scaled specs (``recycle.spec.scaled``): a quantile space per column for reuse without labels."""

from __future__ import annotations

import numpy as np
import pytest

from recycle.adapt.strategies.spec_weighted import SpecWeighted
from recycle.errors import DataError
from recycle.spec import Spec, build_spec
from recycle.spec.scaled import build_scaled_spec, scaled_part, to_quantiles
from recycle.tabular.zoo import RECIPE_VERSION, table, train_source


class _Const:
    """A source that always says the same probabilities over ["no", "yes"]."""

    modality, access, feature_dim = "tabular", "black-box", 2
    source_classes = ("no", "yes")

    def __init__(self, sid: str, p: list[float]) -> None:
        self.source_id, self.p = sid, np.asarray(p)

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        return np.tile(self.p, (len(X), 1))

    embed = predict_proba


def _providers(seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Two providers alike in a heavy-tailed column (a count up to ~1e5) and different only in
    a small one (a rate: 0.1 vs 0.4)."""
    rng = np.random.default_rng(seed)
    heavy = rng.lognormal(5, 2, size=(2, 600))
    a = np.c_[heavy[0], rng.normal(0.1, 0.05, 600)]
    b = np.c_[heavy[1], rng.normal(0.4, 0.05, 600)]
    return a, b


def test_scaled_spec_round_trips_through_json() -> None:
    a, _ = _providers(0)
    spec = build_scaled_spec(a, m=30, seed=0)
    back = Spec.from_json(spec.to_json())
    part, again = scaled_part(spec), scaled_part(back)
    assert part is not None and again is not None
    np.testing.assert_allclose(part["knots"], again["knots"])
    np.testing.assert_allclose(part["Z"], again["Z"], rtol=1e-6)
    assert again["Z"].shape == (30, 2) and again["gamma"] == pytest.approx(part["gamma"])
    # the raw spec is still the plain one (column matching and imputation read it)
    np.testing.assert_allclose(back.Z, build_spec(a, m=30, seed=0).Z)


def test_a_heavy_tailed_column_no_longer_hides_the_others() -> None:
    a, b = _providers(1)
    user_a, user_b = _providers(2)  # new rows of both kinds
    X = np.r_[user_a, user_b]
    truth = np.r_[np.zeros(len(user_a)), np.ones(len(user_b))].astype(int)
    srcs = [_Const("a", [1.0, 0.0]), _Const("b", [0.0, 1.0])]

    def routed(specs: list[Spec]) -> float:
        w = SpecWeighted.from_specs(srcs, specs, ["no", "yes"]).row_weights(X)
        return float(np.mean(w.argmax(axis=1) == truth))

    raw = routed([build_spec(a, m=30, seed=0), build_spec(b, m=30, seed=0)])
    scaled = routed([build_scaled_spec(a, m=30, seed=0), build_scaled_spec(b, m=30, seed=0)])
    assert scaled > 0.95  # the small column separates the providers once columns are ranked
    assert raw < 0.75  # on raw columns the count sets the bandwidth: rows are barely routed


def test_plain_specs_keep_working_and_scaled_models_keep_their_map() -> None:
    a, b = _providers(3)
    srcs = [_Const("a", [1.0, 0.0]), _Const("b", [0.0, 1.0])]
    plain = SpecWeighted.from_specs(srcs, [build_spec(a, m=20), build_spec(b, m=20)], ["no", "yes"])
    assert not any(k.endswith(".knots") for k in plain.arrays_)
    assert plain.predict_proba(a[:5]).shape == (5, 2)
    scaled = SpecWeighted.from_specs(
        srcs, [build_scaled_spec(a, m=20), build_scaled_spec(b, m=20)], ["no", "yes"]
    )
    assert {"s0.knots", "s1.knots"} <= set(scaled.arrays_)  # saved with the model's arrays


def test_rows_of_another_width_are_refused() -> None:
    part = scaled_part(build_scaled_spec(_providers(4)[0], m=10))
    assert part is not None
    with pytest.raises(DataError, match="quantile map has 2 columns"):
        to_quantiles(part["knots"], np.zeros((3, 5)))


def test_the_tabular_zoo_recipe_builds_scaled_specs() -> None:
    assert RECIPE_VERSION >= 2  # caches of unscaled specs are rebuilt
    _, card, spec = train_source(table("spam7"), "logreg")
    part = scaled_part(spec)
    assert part is not None and part["knots"].shape[0] == len(card.input.columns)
