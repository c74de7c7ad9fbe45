"""The guard's risk bound (``guard["risk"]``), the gap probability (``guard["gap_probability"]``)
and the warning in ``report_`` that rests on it."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats
from sklearn.datasets import load_breast_cancer

import recycle.adapt.strategies  # noqa: F401  (registers the strategies)
from recycle.adapt.auto import TABULAR_BASELINES, TABULAR_REFERENCE, choose, guard_decision
from recycle.adapt.auto.risk import (
    RISK_LIMIT,
    WARN_PROBABILITY,
    gap_probability,
    risk_bound,
    risk_bounds,
    risk_note,
)


def test_bound_is_the_corrected_t_bound_on_a_known_case() -> None:
    chosen = np.array([0.80, 0.90, 0.85, 0.80, 0.95, 0.85])
    other = np.array([0.85, 0.85, 0.90, 0.90, 0.85, 0.90])
    d = other - chosen  # mean 0.0083, by hand
    k, j = 3, len(d)
    se = np.sqrt((1 / j + 1 / (k - 1)) * d.var(ddof=1))  # Nadeau-Bengio: n_test/n_train = 1/2
    expected = d.mean() + stats.t.ppf(0.95, j - 1) * se
    assert risk_bound(other, chosen, folds=k) == pytest.approx(expected, abs=1e-8)
    # the uncorrected bound would be far narrower: the correction is really applied
    naive = d.mean() + stats.t.ppf(0.95, j - 1) * d.std(ddof=1) / np.sqrt(j)
    assert risk_bound(other, chosen, folds=k) > naive + 0.02


def test_bounds_of_every_scored_no_source_model_but_the_chosen_one() -> None:
    scores = {"mcw": [0.9] * 4, "no_source": [0.8, 0.9, 0.8, 0.9], "gb": [0.95] * 4, "lr": []}
    bounds = risk_bounds(scores, "mcw", ["no_source", "gb", "lr", "mcw"], folds=2)
    assert set(bounds) == {"no_source", "gb"}
    assert bounds["gb"] == pytest.approx(0.05)  # no spread: the difference itself


def test_gap_probability_is_the_t_tail_beyond_the_limit_on_a_known_case() -> None:
    chosen = np.array([0.80, 0.90, 0.85, 0.80, 0.95, 0.85])
    other = np.array([0.90, 0.95, 0.90, 0.85, 0.95, 0.90])
    d = other - chosen
    k, j = 3, len(d)
    se = np.sqrt((1 / j + 1 / (k - 1)) * d.var(ddof=1))
    expected = stats.t.sf((RISK_LIMIT - d.mean()) / se, j - 1)
    assert gap_probability(other, chosen, folds=k) == pytest.approx(expected, abs=1e-4)
    # the other way round the no-source model is worse: a small probability
    assert gap_probability(chosen, other, folds=k) < 0.05


def test_warning_present_only_from_the_threshold() -> None:
    below = WARN_PROBABILITY - 0.01
    assert risk_note({"no_source": below, "gb": 0.0}, "mcw") is None
    note = risk_note({"no_source": WARN_PROBABILITY, "gb": 0.0}, "mcw")
    assert note is not None and "likely more than 2 points below no_source" in note
    assert "gb" not in note


def test_no_warning_when_only_the_wide_95_bound_exceeds_the_limit() -> None:
    """The old rule warned whenever the 95 % bound exceeded 2 points: on noisy folds that is
    almost always. A no-source model that is worse on average is no longer warned about."""
    chosen = [0.85, 0.90, 0.80, 0.95, 0.85, 0.90]
    other = [0.90, 0.75, 0.80, 0.80, 0.85, 0.80]  # 5.8 points worse on average, noisy
    scores = {"mcw": chosen, "gradient_boosting": other, "independent": [0.5] * 6}
    out = guard_decision(scores, baselines=("gradient_boosting",), folds=3)
    assert out.use == "mcw"
    assert (out.risk or {})["gradient_boosting"] > RISK_LIMIT  # the wide bound: old warning
    assert (out.gap_probability or {})["gradient_boosting"] < WARN_PROBABILITY
    assert risk_note(out.gap_probability or {}, out.use) is None


def test_guard_decision_carries_risk_when_folds_are_known() -> None:
    scores = {"independent": [0.70, 0.80, 0.60, 0.90], "mcw": [0.85, 0.86, 0.84, 0.85],
              "gradient_boosting": [0.90, 0.70, 0.95, 0.75]}  # fmt: skip
    out = guard_decision(scores, baselines=("gradient_boosting",), folds=2)
    assert out.use == "mcw"
    assert set(out.risk or {}) == {"independent", "gradient_boosting"}
    assert out.risk["gradient_boosting"] > RISK_LIMIT  # noisy and sometimes far better
    assert "risk" in out.to_dict() and "gap_probability" in out.to_dict()
    assert guard_decision(scores, baselines=("gradient_boosting",)).risk is None


def test_choose_on_a_real_table_warns_exactly_when_a_gap_is_likely() -> None:
    X, y = load_breast_cancer(return_X_y=True)
    rng = np.random.default_rng(0)
    rows = rng.choice(len(y), 40, replace=False)
    c = choose(
        [], X[rows], y[rows], [], {}, m_selected=0,
        references=(TABULAR_REFERENCE,), baselines=TABULAR_BASELINES, seed=0,
    )  # fmt: skip
    risk = c.guard.risk or {}
    assert set(risk) == ({TABULAR_REFERENCE, *TABULAR_BASELINES} - {c.guard.use})
    gap = c.guard.gap_probability or {}
    assert set(gap) == set(risk)
    warned = [n for n in c.notes if "likely more than 2 points below" in n]
    assert bool(warned) == any(v >= WARN_PROBABILITY for v in gap.values())


def test_bench_counts_a_loss_as_said_by_the_warning_on_the_winning_kind() -> None:
    from script_helpers import load_script

    bench = load_script("tabular", "benchmarks")
    base = {"shots": 25, "seed": 0}

    def fit(target: str, gap: dict[str, float], acc: float = 0.80) -> list[dict[str, object]]:
        return [
            {**base, "target": target, "method": "gb", "accuracy": 0.90},
            {**base, "target": target, "method": "logreg", "accuracy": 0.70},
            {**base, "target": target, "method": "auto", "accuracy": acc, "strategy": "mcw",
             "gap_probability": gap},
        ]  # fmt: skip

    hi, lo = WARN_PROBABILITY, WARN_PROBABILITY / 2
    rows = [*fit("a", {"gradient_boosting": hi}), *fit("b", {"logistic_regression": hi}),
            *fit("c", {"gradient_boosting": lo}), *fit("d", {"gradient_boosting": hi}, 0.9),
            *fit("e", {"gradient_boosting": lo}, 0.9)]  # fmt: skip
    table, losses, said = bench.auto_losses(rows)
    assert (losses, said) == (3, 1)  # only the warning about the kind that won on test counts
    assert "likely > 2 points below gradient_boosting" in table
    summary = bench.warning_summary(rows)
    # at the library's threshold: 2 of 3 losses warned, 1 of 2 other fits: precision 2/3
    assert "| [0, 1] (selection) | 25 | 2/3 | 1/2 | 0.67 | 0.67 |" in summary
