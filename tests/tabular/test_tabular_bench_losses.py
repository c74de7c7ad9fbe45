"""How docs/tabular.md counts auto's losses (issue #23's "never > 2 points below the best
no-source model without report_ saying so"): a loss counts as said only when ``report_``
named the no-source kind that won on the test rows."""

from __future__ import annotations

from typing import Any

from script_helpers import load_script


def _bench() -> Any:
    return load_script("tabular", "benchmarks")


def _rows(target: str, gb: float, logreg: float, auto: dict[str, Any]) -> list[dict[str, Any]]:
    base = {"target": target, "shots": 25, "seed": 0}
    return [
        {**base, "method": "gb", "accuracy": gb},
        {**base, "method": "logreg", "accuracy": logreg},
        {**base, "method": "auto", **auto},
    ]


def test_a_loss_is_said_only_when_the_winning_kind_is_named() -> None:
    rows = [
        # chose logistic regression, gradient boosting won by 6 points and was named: said
        *_rows("a", 0.84, 0.78, {"accuracy": 0.78, "strategy": "logistic_regression",
                                 "close_to": ["gradient_boosting"]}),
        # named only the kind that lost on test: not said
        *_rows("b", 0.70, 0.90, {"accuracy": 0.80, "strategy": "mcw",
                                 "close_to": ["gradient_boosting"],
                                 "reference": "gradient_boosting"}),
        # flagged against the winning kind (its reference): said
        *_rows("c", 0.70, 0.90, {"accuracy": 0.85, "strategy": "mcw", "flagged": True,
                                 "reference": "logistic_regression"}),
        # within 2 points: not a loss
        *_rows("d", 0.80, 0.81, {"accuracy": 0.795, "strategy": "mcw"}),
    ]  # fmt: skip
    table, losses, said = _bench().auto_losses(rows)
    assert (losses, said) == (3, 2)
    assert "| b | 25 | 0 | 80.0 | logreg 90.0 | mcw | close to gradient_boosting only |" in table
