"""Transferability scores: reference values, degenerate inputs, invariances, ordering."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from recycle.errors import DataError
from recycle.select import SCORES, knn_score, leep_score, logme_score, nce_score
from recycle.select.scores import (
    LOGME_EPS,
    LOGME_MAX_ITER,
    LOGME_TOL,
    gbc_score,
    hscore,
    ledoit_wolf_shrinkage,
    linear_probe_score,
)

FEATURE_SCORES = [name for name, info in SCORES.items() if info.needs == "features"]
PROB_SCORES = [name for name, info in SCORES.items() if info.needs == "probs"]


def _logme_reference(F: np.ndarray, y: np.ndarray) -> float:
    """Direct d x d LogME (You et al. 2021, the original `each_evidence` form), per class."""
    F = F.astype(np.float64)
    n, d = F.shape
    evals = np.linalg.eigvalsh(F.T @ F)
    evals = np.clip(evals, 0, None)
    out = []
    for c in np.unique(y):
        t_y = (y == c).astype(np.float64)
        alpha, beta = 1.0, 1.0
        for _ in range(LOGME_MAX_ITER):
            t = alpha / beta
            A = alpha * np.eye(d) + beta * F.T @ F
            m = beta * np.linalg.solve(A, F.T @ t_y)
            gamma = float(np.sum(beta * evals / (alpha + beta * evals)))
            m2 = float(m @ m)
            res2 = float(np.sum((t_y - F @ m) ** 2))
            alpha = gamma / (m2 + LOGME_EPS)
            beta = (n - gamma) / (res2 + LOGME_EPS)
            if abs(alpha / beta - t) / t <= LOGME_TOL:
                break
        logdet = np.linalg.slogdet(alpha * np.eye(d) + beta * F.T @ F)[1]
        ev = (
            d / 2 * np.log(alpha)
            + n / 2 * np.log(beta)
            - 0.5 * logdet
            - beta / 2 * res2
            - alpha / 2 * m2
            - n / 2 * np.log(2 * np.pi)
        )
        out.append(ev / n)
    return float(np.mean(out))


def _separable(rng: np.random.Generator, n_per: int, C: int, d: int, gap: float) -> tuple:
    y = np.repeat(np.arange(C), n_per)
    F = rng.normal(size=(y.size, d))
    F[:, :C] += gap * np.eye(C)[y]
    return F, y


@pytest.mark.parametrize(("n", "d"), [(60, 10), (20, 50), (40, 40), (200, 16)])
def test_logme_matches_direct_reference(n: int, d: int) -> None:
    rng = np.random.default_rng(n + d)
    y = rng.integers(0, 4, n)
    F = rng.normal(size=(n, d)) + np.eye(4, d)[y]
    assert logme_score(F, y) == pytest.approx(_logme_reference(F, y), rel=1e-6, abs=1e-6)


def test_ledoit_wolf_matches_sklearn() -> None:
    from sklearn.covariance import ledoit_wolf

    rng = np.random.default_rng(0)
    for n, d in [(20, 50), (200, 30)]:
        F = rng.normal(size=(n, d)) @ rng.normal(size=(d, d))
        F -= F.mean(axis=0)
        assert ledoit_wolf_shrinkage(F) == pytest.approx(ledoit_wolf(F, assume_centered=True)[1])


def test_hscore_matches_covariance_formula() -> None:
    from sklearn.covariance import ledoit_wolf

    rng = np.random.default_rng(1)
    F, y = _separable(rng, 15, 3, 40, 2.0)  # n < d
    Fc = F - F.mean(axis=0)
    means = np.stack([Fc[y == c].mean(axis=0) for c in range(3)])[y]
    cov_g = means.T @ means / len(y)
    cov, a = ledoit_wolf(Fc, assume_centered=True)
    expected = np.trace(np.linalg.pinv(cov) @ ((1 - a) * cov_g))
    assert hscore(F, y) == pytest.approx(expected, rel=1e-6)
    raw = np.trace(np.linalg.pinv(Fc.T @ Fc / len(y), rcond=1e-10) @ cov_g)
    assert hscore(F, y, shrinkage=False) == pytest.approx(raw, rel=1e-5)


def test_leep_and_nce_match_definitions() -> None:
    rng = np.random.default_rng(2)
    P = rng.dirichlet(np.ones(4), size=30)
    y = rng.integers(0, 3, 30)
    joint = np.zeros((3, 4))
    for p, t in zip(P, y, strict=True):
        joint[t] += p / 30
    cond = joint / joint.sum(axis=0)
    leep = np.mean(
        [np.log(sum(cond[t, z] * p[z] for z in range(4))) for p, t in zip(P, y, strict=True)]
    )
    assert leep_score(P, y) == pytest.approx(leep)
    z = P.argmax(axis=1)
    pj = np.zeros((3, 4))
    for a, b in zip(y, z, strict=True):
        pj[a, b] += 1 / 30
    nce = sum(
        pj[a, b] * np.log(pj[a, b] / pj[:, b].sum())
        for a in range(3)
        for b in range(4)
        if pj[a, b] > 0
    )
    assert nce_score(P, y) == pytest.approx(nce)


@pytest.mark.parametrize("name", FEATURE_SCORES)
def test_informative_features_score_higher(name: str) -> None:
    rng = np.random.default_rng(3)
    good, y = _separable(rng, 20, 5, 32, 3.0)
    bad = rng.normal(size=good.shape)
    fn = SCORES[name].fn
    assert fn(good, y) > fn(bad, y)


@pytest.mark.parametrize("name", PROB_SCORES)
def test_informative_head_scores_higher(name: str) -> None:
    rng = np.random.default_rng(4)
    y = np.repeat(np.arange(3), 20)
    good = 0.1 * rng.dirichlet(np.ones(6), size=60) + 0.9 * np.eye(6)[2 * y]
    bad = rng.dirichlet(np.ones(6), size=60)
    fn = SCORES[name].fn
    assert fn(good, y) > fn(bad, y)


def _degenerate_cases() -> list[tuple[str, np.ndarray, np.ndarray]]:
    rng = np.random.default_rng(5)
    y5 = np.array([0, 1, 2, 3, 4, 0, 1, 2, 3, 4])
    return [
        ("n<d", rng.normal(size=(12, 300)), np.repeat([0, 1, 2], 4)),
        ("one-per-class", rng.normal(size=(4, 8)), np.array([0, 1, 2, 3])),
        ("two-per-class", rng.normal(size=(10, 64)), y5),
        ("constant", np.ones((20, 5)), np.repeat([0, 1], 10)),
        ("zeros", np.zeros((20, 5)), np.repeat([0, 1], 10)),
        (
            "one-constant-column",
            np.c_[rng.normal(size=(20, 3)), np.full(20, 7.0)],
            np.repeat([0, 1], 10),
        ),
        ("single-column", rng.normal(size=(9, 1)), np.repeat([0, 1, 2], 3)),
        ("duplicated-rows", np.repeat(rng.normal(size=(5, 4)), 4, axis=0), np.tile([0, 1], 10)),
        ("huge-scale", 1e8 * rng.normal(size=(20, 6)), np.repeat([0, 1], 10)),
        ("tiny-scale", 1e-9 * rng.normal(size=(20, 6)), np.repeat([0, 1], 10)),
    ]


@pytest.mark.parametrize("name", FEATURE_SCORES)
@pytest.mark.parametrize(
    ("case", "F", "y"), _degenerate_cases(), ids=[c[0] for c in _degenerate_cases()]
)
def test_feature_scores_finite_on_degenerate_input(name: str, case: str, F, y) -> None:
    value = SCORES[name].fn(F, y)
    assert np.isfinite(value), (name, case, value)


@pytest.mark.parametrize("name", PROB_SCORES)
@pytest.mark.parametrize(
    "P",
    [
        np.eye(3)[[0, 1, 2, 0, 1, 2]],
        np.full((6, 3), 1 / 3),
        np.zeros((6, 3)),
        np.eye(3)[[0, 0, 0, 0, 0, 0]],
    ],
    ids=["one-hot", "uniform", "all-zero-rows", "one-source-class"],
)
def test_prob_scores_finite_on_degenerate_input(name: str, P: np.ndarray) -> None:
    assert np.isfinite(SCORES[name].fn(P, np.array([0, 1, 2, 0, 1, 2])))


@settings(max_examples=20, deadline=None)
@given(
    F=arrays(
        np.float64,
        st.tuples(st.integers(4, 24), st.integers(1, 40)),
        elements=st.floats(-1e3, 1e3, allow_nan=False, allow_infinity=False),
    ),
    seed=st.integers(0, 2**16),
)
def test_feature_scores_never_nan(F: np.ndarray, seed: int) -> None:
    y = np.arange(F.shape[0]) % 3
    y = np.random.default_rng(seed).permutation(y)
    for name in FEATURE_SCORES:
        if name != "linear":  # the slowest; covered by the parametrized degenerate cases
            assert np.isfinite(SCORES[name].fn(F, y)), name


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 2**16))
def test_scores_invariant_to_row_order(seed: int) -> None:
    rng = np.random.default_rng(seed)
    F, y = _separable(rng, 8, 3, 12, 1.5)
    perm = rng.permutation(len(y))
    for fn in (logme_score, hscore, gbc_score, knn_score):
        assert fn(F[perm], y[perm]) == pytest.approx(fn(F, y), rel=1e-6, abs=1e-9)
    P = rng.dirichlet(np.ones(4), size=len(y))
    for fn in (leep_score, nce_score):
        assert fn(P[perm], y[perm]) == pytest.approx(fn(P, y), rel=1e-9, abs=1e-12)


def test_knn_modes() -> None:
    rng = np.random.default_rng(6)
    F, y = _separable(rng, 30, 5, 16, 4.0)
    loo = knn_score(F, y)
    split = knn_score(F, y, val=0.1, seed=1)
    cv = knn_score(F, y, cv=3)
    explicit = knn_score(F[::2], y[::2], val=(F[1::2], y[1::2]))
    for v in (loo, split, cv, explicit):
        assert 0.8 <= v <= 1.0
    assert knn_score(rng.normal(size=F.shape), y, cv=3) < 0.5
    # the paper's k=1 on two tight clusters is perfect; k larger than a class still works
    assert knn_score(F, y, k=1) >= loo - 0.05
    # k beyond the rows: every other row votes, and with 2 rows per class the held-out row's
    # class has 1 vote against 2 for each other class, so k-NN is always wrong
    few, labels = F[::15], y[::15]
    assert np.bincount(labels).tolist() == [2] * 5
    assert knn_score(few, labels, k=50) == knn_score(few, labels, k=9) == 0.0


def test_linear_probe_beats_chance_only_with_signal() -> None:
    rng = np.random.default_rng(7)
    F, y = _separable(rng, 12, 4, 30, 3.0)
    assert linear_probe_score(F, y) > 0.8
    assert linear_probe_score(rng.normal(size=F.shape), y) < 0.6


@pytest.mark.parametrize("name", list(SCORES))
def test_bad_input_is_a_data_error(name: str) -> None:
    fn = SCORES[name].fn
    with pytest.raises(DataError, match="at least 2 classes"):
        fn(np.full((5, 3), 0.3), np.zeros(5))
    with pytest.raises(DataError, match="rows but y has"):
        fn(np.full((5, 3), 0.3), np.array([0, 1]))
    bad = np.full((4, 3), 0.3)
    bad[0, 0] = np.nan
    with pytest.raises(DataError):
        fn(bad, np.array([0, 1, 0, 1]))
