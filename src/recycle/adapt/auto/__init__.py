"""``strategy="auto"``: choose a strategy (and m) by repeated stratified cross-validation.

Three steps, one module each, after :mod:`~recycle.adapt.auto.pool` has named the candidate
strategies and the no-source references for the target's modality (on a text LoRA library also
the LoRA strategies, cross-validated at low fidelity: :mod:`~recycle.adapt.auto.fidelity`):

- :mod:`~recycle.adapt.auto.plan`: which candidates ``(strategy, m)`` run, in which order;
- :mod:`~recycle.adapt.auto.cv`: every candidate scored on the same repeated stratified folds
  (accuracy and log-loss per fold), under a time budget;
- :mod:`~recycle.adapt.auto.guard`: the choice, with the negative-transfer guard against the
  no-source references, as a :class:`GuardDecision`.

:func:`choose` runs the three. Studies of the decision rule (``scripts/auto_study.py``) use the
pieces: :func:`cv_splits` and :func:`fit_and_score` to re-score candidates on the same folds,
:func:`cross_validate`, :func:`guard_decision` to replay a rule on stored fold scores.

Examples
--------
>>> guard_decision({"independent": [0.5, 0.6, 0.55], "mcw": [0.8, 0.85, 0.83]}).use
'mcw'
"""

from recycle.adapt.auto.choose import Choice, choose
from recycle.adapt.auto.cv import (
    PROBA_FLOOR,
    CVResult,
    candidate_sources,
    cross_validate,
    cv_splits,
    fit_and_score,
    fold_scores,
)
from recycle.adapt.auto.fidelity import (
    AUTO_TEXT_WHITEBOX,
    LORA_BUDGET,
    LORA_REPEATS,
    LOW_FIDELITY,
)
from recycle.adapt.auto.guard import (
    FLAG_SE_FACTOR,
    GUARD_SE_FACTOR,
    GuardDecision,
    guard_decision,
)
from recycle.adapt.auto.plan import (
    AUTO_MAX_M,
    AUTO_STRATEGIES,
    AUTO_TEXT,
    AUTO_WHITEBOX,
    CHEAP_COST,
    DEFAULT_STRATEGY,
    REFERENCE,
    REFERENCES,
    TABULAR_BASELINES,
    TABULAR_REFERENCE,
    TEXT_REFERENCES,
    WHITEBOX_REFERENCE,
    candidate_key,
    candidate_ms,
    plan,
)
from recycle.adapt.auto.pool import AutoPool, auto_pool
from recycle.adapt.auto.refit import RefitCheck, checked, fall_back, refit_check
from recycle.adapt.split import n_folds

__all__ = [
    "AUTO_MAX_M",
    "AUTO_STRATEGIES",
    "AUTO_TEXT",
    "AUTO_TEXT_WHITEBOX",
    "AUTO_WHITEBOX",
    "CHEAP_COST",
    "DEFAULT_STRATEGY",
    "FLAG_SE_FACTOR",
    "GUARD_SE_FACTOR",
    "LORA_BUDGET",
    "LORA_REPEATS",
    "LOW_FIDELITY",
    "PROBA_FLOOR",
    "REFERENCE",
    "REFERENCES",
    "TABULAR_BASELINES",
    "TABULAR_REFERENCE",
    "TEXT_REFERENCES",
    "WHITEBOX_REFERENCE",
    "AutoPool",
    "CVResult",
    "Choice",
    "GuardDecision",
    "RefitCheck",
    "auto_pool",
    "candidate_key",
    "candidate_ms",
    "candidate_sources",
    "checked",
    "choose",
    "cross_validate",
    "cv_splits",
    "fall_back",
    "fit_and_score",
    "fold_scores",
    "guard_decision",
    "n_folds",
    "plan",
    "refit_check",
]
