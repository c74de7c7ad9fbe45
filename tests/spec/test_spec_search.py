"""RKME build, ranking and mixture search on small synthetic data."""

from __future__ import annotations

import numpy as np
import pytest

from recycle.errors import ConfigError, DataError, IncompatibleError
from recycle.spec import SpecIndex, build_spec, embed_for_space, mixture_search, rank, space_for
from recycle.spec.kernel import gaussian, median_gamma, simplex_qp


def _mmd2(a, b, g):  # reference, float64, straight from the definition
    Za, Zb = a.Z.astype(float), b.Z.astype(float)
    return (
        a.beta @ gaussian(Za, Za, g) @ a.beta
        + b.beta @ gaussian(Zb, Zb, g) @ b.beta
        - 2 * a.beta @ gaussian(Za, Zb, g) @ b.beta
    )


def _clusters(rng, centres, n, scale=1.0):
    d = centres.shape[1]
    return [c + scale * rng.normal(size=(n, d)) for c in centres]


def test_build_flattens_and_fits_the_embedding() -> None:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(400, 2, 3))
    spec = build_spec(X, m=20, seed=0)
    assert spec.space == "input:6" and spec.Z.shape == (20, 6) and spec.n == 400
    assert spec.beta.min() >= 0 and np.isclose(spec.beta.sum(), 1.0)
    # the residual is the true RKHS distance to the data's kernel mean, and the Z steps lower it
    A = X.reshape(400, -1)
    g = spec.gamma
    true = (
        gaussian(A, A, g).mean()
        - 2 * spec.beta @ gaussian(spec.Z.astype(float), A, g).mean(axis=1)
        + spec.beta @ gaussian(spec.Z.astype(float), spec.Z.astype(float), g) @ spec.beta
    )
    assert np.isclose(spec.residual, true, rtol=1e-4, atol=1e-9)
    assert build_spec(X, m=20, seed=0, steps=0).residual > spec.residual
    assert build_spec(X, m=20, seed=0) == spec  # seeded: identical


def test_bandwidth_is_scale_free() -> None:
    X = np.random.default_rng(1).normal(size=(300, 5))
    a, b = build_spec(X, m=15), build_spec(1000.0 * X, m=15)
    assert np.isclose(b.gamma * 1e6, a.gamma)
    np.testing.assert_allclose(b.Z / 1000.0, a.Z, rtol=1e-4, atol=1e-4)
    assert np.isclose(median_gamma(3 * X), median_gamma(X) / 9)


def test_no_reduced_point_equals_a_training_row() -> None:
    rng = np.random.default_rng(2)
    # 60 rows, m = 30: k-means leaves clusters of one row; with steps=0 nothing moves them
    X = rng.integers(0, 5, size=(60, 8)).astype(float)
    for m, steps in ((5, 3), (30, 3), (30, 0)):
        spec = build_spec(X, m=m, seed=3, steps=steps)
        d = ((spec.Z[:, None, :].astype(float) - X[None]) ** 2).sum(-1)
        assert d.min() > 1e-6, (m, steps)
    # MNIST-like scale: real digits, default settings
    digits = np.random.default_rng(0).random((300, 64)) < 0.3
    spec = build_spec(digits.astype(float), m=50)
    assert (((spec.Z[:, None, :] - digits[None]) ** 2).sum(-1) > 1e-6).all()


def test_bad_inputs_raise_clear_errors() -> None:
    X = np.random.default_rng(0).normal(size=(50, 3))
    with pytest.raises(ConfigError, match="m <= 25"):
        build_spec(X, m=40)
    with pytest.raises(ConfigError, match="'m'"):
        build_spec(X, m=0)
    with pytest.raises(DataError, match="NaN"):
        build_spec(np.full((50, 3), np.nan), m=5)
    with pytest.raises(DataError, match="dimension 4"):
        build_spec(X, m=5, space="input:4")


def test_mmd_of_a_spec_with_itself_is_zero_and_matches_reference() -> None:
    rng = np.random.default_rng(3)
    specs = [
        build_spec(X, m=12, seed=i)
        for i, X in enumerate(_clusters(rng, rng.normal(size=(4, 5)) * 3, 150))
    ]
    for i, s in enumerate(specs):
        res = rank(s, specs)
        assert res.order[0] == i and res.mmd2[0] < 1e-6
        for j, v in zip(res.order, res.mmd2, strict=True):
            assert np.isclose(v, _mmd2(s, specs[j], res.gamma), atol=1e-5)
    order, scores = rank(specs[0], specs)  # unpacks like the contract's (order, scores)
    assert order[0] == 0 and np.all(np.diff(scores) >= 0)


def test_rank_is_invariant_to_shuffling_rows() -> None:
    rng = np.random.default_rng(4)
    data = _clusters(rng, np.array([[0.0, 0.0], [4.0, 0.0], [0.0, 4.0]]), 200)
    specs = [build_spec(X, m=10) for X in data]
    user = data[1][:120] + 0.01 * rng.normal(size=(120, 2))
    a = rank(build_spec(user, m=10), specs)
    b = rank(build_spec(user[rng.permutation(120)], m=10), specs)
    assert list(a.order) == list(b.order)
    np.testing.assert_allclose(a.mmd2, b.mmd2, rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("scale", [1e-3, 1e3])
def test_identification_at_two_scales(scale: float) -> None:
    rng = np.random.default_rng(5)
    centres = rng.normal(size=(12, 10)) * 2.0
    providers = [
        build_spec(scale * X, m=15, seed=i) for i, X in enumerate(_clusters(rng, centres, 200))
    ]
    index = SpecIndex(providers)
    hits = 0
    for k in range(12):
        user = scale * (centres[k] + rng.normal(size=(100, 10)))
        res = rank(build_spec(user, m=15, seed=100 + k), index)
        hits += int(res.order[0] == k)
        assert res.related[0] and not res.related[1:].any()
        assert not res.notes
    assert hits == 12


def test_query_of_another_scale_is_flagged_and_other_space_refused() -> None:
    rng = np.random.default_rng(6)
    specs = [build_spec(rng.normal(size=(100, 3)), m=5) for _ in range(2)]
    res = rank(build_spec(1e3 * rng.normal(size=(100, 3)), m=5), specs)
    assert res.notes and "scale" in res.notes[0]
    with pytest.raises(IncompatibleError, match="same space"):
        rank(build_spec(rng.normal(size=(100, 4)), m=5), specs)
    with pytest.raises(IncompatibleError, match="share a space"):
        SpecIndex([specs[0], build_spec(rng.normal(size=(100, 4)), m=5)])


@pytest.mark.parametrize("method", ["greedy", "qp"])
def test_mixture_recovers_the_two_sources(method: str) -> None:
    rng = np.random.default_rng(7)
    centres = rng.normal(size=(8, 6)) * 4.0
    data = _clusters(rng, centres, 200)
    specs = [build_spec(X, m=12, seed=i) for i, X in enumerate(data)]
    X = np.concatenate(
        [centres[2] + rng.normal(size=(150, 6)), centres[5] + rng.normal(size=(50, 6))]
    )
    res = mixture_search(build_spec(X, m=20), specs, method=method, X=X)
    assert sorted(res.indices.tolist()) == [2, 5]
    assert res.indices[0] == 2  # the larger share first
    assert np.isclose(res.weights.sum(), 1.0) and (res.weights >= 0).all()
    np.testing.assert_allclose(res.weights, [0.75, 0.25], atol=0.1)
    truth = np.repeat([0, 1], [150, 50])
    assert (res.assignment == truth).mean() > 0.95
    np.testing.assert_allclose(res.coverage, [0.75, 0.25], atol=0.05)
    assert res.mmd2 < res.mmd2_path[0]


def test_mixture_of_one_source_stays_single() -> None:
    rng = np.random.default_rng(8)
    data = _clusters(rng, rng.normal(size=(5, 4)) * 4.0, 200)
    specs = [build_spec(X, m=10, seed=i) for i, X in enumerate(data)]
    user = data[3][:100] + 0.05 * rng.normal(size=(100, 4))
    for method in ("greedy", "qp"):
        res = mixture_search(build_spec(user, m=10), specs, method=method)
        assert res.indices.tolist() == [3]
    with pytest.raises(ConfigError):
        mixture_search(build_spec(user, m=10), specs, method="nope")


def test_simplex_qp_is_exact_on_a_known_problem() -> None:
    rng = np.random.default_rng(9)
    A = rng.normal(size=(6, 6))
    K = A @ A.T + 0.1 * np.eye(6)
    c = rng.normal(size=6)
    w = simplex_qp(K, c)
    assert (w >= 0).all() and np.isclose(w.sum(), 1.0)
    obj = 0.5 * w @ K @ w - c @ w
    for _ in range(200):  # no feasible point does better
        v = rng.dirichlet(np.ones(6) * 0.3)
        assert 0.5 * v @ K @ v - c @ v >= obj - 1e-8


def test_spaces() -> None:
    X = np.arange(24.0).reshape(2, 3, 4)
    assert embed_for_space("input:12", X).shape == (2, 12)
    assert space_for("tabular", np.ones((3, 7))) == "input:7"
    with pytest.raises(DataError):
        embed_for_space("input:5", X)
    with pytest.raises(ConfigError):
        space_for("audio")


def test_prefilter_index_agrees_with_exact_on_the_top() -> None:
    from recycle.spec import Spec

    rng = np.random.default_rng(10)
    centres = rng.normal(size=(400, 20)) * 3.0
    specs = [
        Spec(space="input:20", gamma=0.02, Z=(c + rng.normal(size=(8, 20))).astype(np.float32),
             beta=np.full(8, 1 / 8), n=100)
        for c in centres
    ]  # fmt: skip
    exact, approx = SpecIndex(specs, approx=False), SpecIndex(specs, approx=True)
    assert approx.approx and not exact.approx
    for k in (3, 250):
        q = build_spec(centres[k] + rng.normal(size=(200, 20)), m=10)
        a, b = rank(q, exact), rank(q, approx)
        assert b.n_exact == 32 and a.n_exact is None
        assert list(a.order[:10]) == list(b.order[:10]) and a.order[0] == k
        np.testing.assert_allclose(a.mmd2[:10], b.mmd2[:10], rtol=1e-5, atol=1e-7)
