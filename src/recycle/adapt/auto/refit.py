"""The final refit's check: auto's recycled choice must fit the rows it was trained on.

Cross-validation scores models trained on part of the target's rows; the model auto returns is
trained once more, on all of them, and that refit is never scored. A small network that early-
stops on a 10 % validation split (3 rows at 25 rows) can stop after an epoch or two on the
refit although every fold trained well. Measured on the tabular bench (``rows:default``, 25
rows, seed 19): ``feature_mixing`` scored 100 % on all four folds, its refit got 52 % of its
own 25 training rows right (it stopped at epoch 2 of 12) and 38 % of the test rows, where
logistic regression got 97 % and ``report_`` said nothing.

A refit whose accuracy on its own training rows is clearly below the reference's
*cross-validated* accuracy has not learned what the folds did: it is worse on rows it has seen
than the reference is on rows it has not. "Clearly": by more than the one-sided 95 % normal
quantile times the binomial standard error of an accuracy on ``n`` rows
(:func:`refit_margin`). Without that margin the check also fired on a refit that had trained:
MCW (three sources, ``rows:wa_churn``, 100 rows, seed 2) weights fixed source outputs, so its
training accuracy is no higher than its CV accuracy; it got 71.0 % of its rows against the
reference's 72.0 % CV, and falling back cost 3.6 points on test (81.1 -> 77.5 %).
:func:`refit_check` finds a failed refit; the Recycler then fits the reference instead and
says so in ``report_["warnings"]`` and ``report_["guard"]["refit"]``.
The check costs one prediction on the training rows, with the features already computed;
:func:`fall_back` makes the guard's decision again among the no-source models alone.

Examples
--------
>>> from recycle.adapt.auto.cv import CVResult
>>> from recycle.adapt.auto.guard import guard_decision
>>> rows = [CVResult("no_source", 0, [0.92, 0.92]), CVResult("feature_mixing", 1, [1.0, 1.0])]
>>> guard = guard_decision({r.key: r.scores for r in rows}, "no_source")
>>> check = refit_check(0.52, guard, rows, n=25)
>>> check.failed, check.reference_key, round(check.margin, 3)
(True, 'no_source', 0.089)
>>> print(check.note())  # doctest: +NORMALIZE_WHITESPACE
auto's choice feature_mixing@m=1 got only 52.0 % of its own training rows right after the
final refit, below the cross-validated 92.0 % of no_source (its folds trained, the refit did
not): fitted no_source instead
>>> refit_check(0.96, guard, rows, n=25).failed, refit_check(0.84, guard, rows, n=25).failed
(False, False)
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import numpy as np
from scipy import stats

from recycle.adapt.auto.choose import Choice, guard_notes, skip_notes
from recycle.adapt.auto.cv import CVResult
from recycle.adapt.auto.guard import GuardDecision, guard_decision
from recycle.adapt.auto.risk import RISK_LEVEL


@dataclass(frozen=True)
class RefitCheck:
    """The refit's accuracy on its training rows against the reference's CV accuracy."""

    chosen: str
    train_accuracy: float
    reference_key: str
    reference_cv: float
    margin: float  # how far below reference_cv the training accuracy may be (refit_margin)
    failed: bool

    def to_dict(self) -> dict[str, Any]:
        return {
            "chosen": self.chosen,
            "train_accuracy": round(self.train_accuracy, 4),
            "reference": self.reference_key,
            "reference_cv": round(self.reference_cv, 4),
            "margin": round(self.margin, 4),
            "failed": self.failed,
        }

    def note(self) -> str:
        """The ``report_`` warning when the check failed."""
        return (
            f"auto's choice {self.chosen} got only {100 * self.train_accuracy:.1f} % of its own "
            f"training rows right after the final refit, below the cross-validated "
            f"{100 * self.reference_cv:.1f} % of {self.reference_key} (its folds trained, the "
            f"refit did not): fitted {self.reference_key} instead"
        )


def train_accuracy(estimator: Any, X: Any, y: np.ndarray, features: dict[str, Any]) -> float:
    """Accuracy of a fitted strategy on its own training rows (features reused)."""
    return float(np.mean(estimator.predict(X, features=features) == y))


def refit_margin(reference_cv: float, n: int) -> float:
    """How far below ``reference_cv`` an accuracy measured on ``n`` rows falls with
    probability 5 % when the model is as accurate as that: the one-sided 95 % normal quantile
    (the level of :data:`~recycle.adapt.auto.risk.RISK_LEVEL`) times ``sqrt(p (1 - p) / n)``.

    >>> round(refit_margin(0.92, 25), 4), round(refit_margin(0.72, 100), 4)
    (0.0892, 0.0739)
    """
    p = min(max(reference_cv, 0.0), 1.0)
    return float(stats.norm.ppf(RISK_LEVEL)) * float(np.sqrt(p * (1 - p) / max(n, 1)))


def refit_check(
    accuracy: float, guard: GuardDecision, rows: list[CVResult], n: int
) -> RefitCheck | None:
    """Compare the refit's accuracy on its ``n`` training rows with the CV mean accuracy of the
    reference of ``guard`` (which chose a recycled candidate): failed when it is lower by more
    than :func:`refit_margin`. None when the reference has no CV scores to compare with.
    """
    reference = next((r for r in rows if r.key == guard.reference and r.scores), None)
    if reference is None:
        return None
    margin = refit_margin(reference.mean, n)
    return RefitCheck(guard.use, accuracy, reference.key, reference.mean, margin,
                      accuracy < reference.mean - margin)  # fmt: skip


def fall_back(choice: Choice, check: RefitCheck) -> Choice:
    """``choice`` after its refit failed ``check``: the guard's decision among the no-source
    models alone (the reference, with its own ``close_to``, risk bounds and warnings), the
    check in ``guard.refit`` and its note first among the guard's notes."""
    args = dict(choice.guard_args)
    refs = args.pop("reference")
    no_source = {*refs, *args["baselines"]}
    scores = {r.key: r.scores for r in choice.cv if r.key in no_source and r.scores}
    guard = guard_decision(scores, refs, **args)
    best = choice.guard.best if choice.guard else None
    guard = replace(guard, best=best, refit=check.to_dict(), reason=check.note())
    ref = next(r for r in choice.cv if r.key == guard.use)
    notes = [*skip_notes(choice.cv), check.note(), *guard_notes(guard)]
    return Choice(ref.strategy, ref.m, choice.cv, guard, notes, choice.guard_args)


def checked(estimator: Any, X: Any, y: np.ndarray, features: dict[str, Any], choice: Choice
            ) -> Choice:  # fmt: skip
    """``choice`` after :func:`refit_check` of ``estimator``, its refit on ``(X, y)``:
    unchanged when there is nothing to check (no guard, or the guard chose the reference: the
    no-source models are the fallback, nothing is safer), with ``guard.refit`` set when the
    refit passed, :func:`fall_back` when it failed (the caller then fits the returned strategy).
    """
    guard = choice.guard
    if guard is None or guard.use == guard.reference:
        return choice
    check = refit_check(train_accuracy(estimator, X, y, features), guard, choice.cv, len(y))
    if check is None:
        return choice
    if check.failed:
        return fall_back(choice, check)
    return replace(choice, guard=replace(guard, refit=check.to_dict()))
