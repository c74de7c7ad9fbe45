"""feature_mixing on degenerate source outputs (issue #23: auto crashed in 8 tabular fits).

A two-class source's probabilities have one independent direction (the columns sum to 1), and
a column-mapped source whose columns are all imputed outputs a constant. FastICA asked for
more components than that whitened a zero variance: "array must not contain infs or NaNs".
"""

from __future__ import annotations

import numpy as np
import pytest

from recycle.adapt.strategies.feature_mixing import (
    FeatureMixing,
    apply_reducer,
    fit_reducer,
    numerical_rank,
)


class Probabilities:
    """A black-box two-class source: its embedding is its probabilities (rank 1), or a
    constant when ``constant``."""

    modality, access, feature_dim = "tabular", "black-box", 2

    def __init__(self, constant: bool = False) -> None:
        self.source_id = "constant" if constant else "probabilities"
        self.constant = constant

    def embed(self, X: np.ndarray) -> np.ndarray:
        X = np.asarray(X, dtype=np.float64)
        p = np.full(len(X), 0.3) if self.constant else 1 / (1 + np.exp(-X[:, 0]))
        return np.c_[1 - p, p].astype(np.float32)


def _data(n: int = 60) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(n, 4))
    return X, (X[:, 0] + 0.3 * rng.normal(size=n) > 0).astype(int)


@pytest.mark.parametrize("method", ["ica", "pca"])
@pytest.mark.parametrize("constant", [False, True])
def test_reducer_of_two_class_probabilities_is_finite_and_bounded(method, constant):
    X, _ = _data()
    F = Probabilities(constant).embed(X)
    red = fit_reducer(F, 16, method, seed=0)
    assert np.isfinite(red["components"]).all()
    assert np.count_nonzero(np.abs(red["components"]).sum(axis=1)) == (0 if constant else 1)
    Z = apply_reducer(red, F)
    # unit-variance components, not float32 rounding blown up to 1e7
    assert np.abs(Z).max() < 10


def test_numerical_rank_counts_independent_directions():
    rng = np.random.default_rng(1)
    p = rng.dirichlet(np.ones(3), size=50)
    assert numerical_rank(p) == 2
    assert numerical_rank(rng.normal(size=(50, 4))) == 4
    assert numerical_rank(np.zeros((5, 3))) == 0


@pytest.mark.parametrize("constant", [False, True])
def test_feature_mixing_fits_on_two_class_probability_sources(constant):
    X, y = _data()
    src = Probabilities(constant)
    fm = FeatureMixing([src], max_epochs=3, seed=0).fit(X, y)
    proba = fm.predict_proba(X)
    assert np.isfinite(proba).all()
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-5)
