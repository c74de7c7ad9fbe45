"""``strategy="auto"``: plan the candidates, cross-validate them, let the guard decide.

Examples
--------
>>> import numpy as np
>>> import recycle.adapt.strategies  # registers the strategies
>>> rng = np.random.default_rng(0)
>>> X = rng.normal(size=(40, 3)); y = (X[:, 0] > 0).astype(int)
>>> c = choose([], X, y, [], {}, m_selected=0, params={"*": {"max_epochs": 2}})
>>> c.strategy, c.guard.use
('independent', 'independent')
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from recycle.adapt.auto.cv import CVResult, cross_validate
from recycle.adapt.auto.fidelity import cv_params as low_fidelity
from recycle.adapt.auto.guard import FLAG_SE_FACTOR, GuardDecision, guard_decision
from recycle.adapt.auto.plan import (
    DEFAULT_STRATEGY,
    REFERENCE,
    TABULAR_REFERENCE,
    WHITEBOX_REFERENCE,
    candidate_ms,
    plan,
)
from recycle.adapt.auto.risk import bound_note, risk_note
from recycle.adapt.base import Features
from recycle.adapt.registry import StrategyParams, check_params, get_strategy, reads_sources
from recycle.adapt.split import n_folds, small_n_folds
from recycle.adapt.strategies.minilm_probe import embeddings_reused
from recycle.progress import ProgressCallback
from recycle.sources.base import SourceModel


@dataclass
class Choice:
    """What :func:`choose` decided: the strategy and m to fit, and why."""

    strategy: str
    m: int
    cv: list[CVResult]  # every candidate's cross-validation, in the order they ran
    guard: GuardDecision | None  # :func:`~recycle.adapt.auto.guard.guard_decision`'s verdict
    notes: list[str]  # skipped candidates, the guard's reason when it overrode or flagged
    #: The guard's arguments, for a decision among the no-source models alone
    #: (:func:`~recycle.adapt.auto.refit.fall_back`).
    guard_args: dict[str, Any] = field(default_factory=dict)


def skip_notes(rows: list[CVResult]) -> list[str]:
    """A note for every candidate the cross-validation skipped (or stopped)."""
    return [f"auto skipped {r.key}: {r.skipped}" for r in rows if r.skipped]


def guard_notes(guard: GuardDecision) -> list[str]:
    """What ``report_["warnings"]`` says of the guard's decision: its reason when it overrode
    or flagged, the no-source models it is close to, the risk warning and the 95 % bound."""
    notes = [guard.reason] if guard.triggered or guard.flagged else []
    if guard.close_to:
        close = ", ".join(f"{k} ({v:+.3f})" for k, v in guard.close_to.items())
        notes.append(
            f"auto's choice {guard.use} is not clearly better than {close} in cross-validation "
            f"(margin under {FLAG_SE_FACTOR:g} standard errors): they may do as well or better "
            "on new data"
        )
    for note in (risk_note(guard.gap_probability or {}, guard.use),
                 bound_note(guard.risk or {}, guard.use)):  # fmt: skip
        if note:
            notes.append(note)
    return notes


def choose(
    names: list[str],
    X: Any,
    y: np.ndarray,
    ranked: list[SourceModel],
    features: Features,
    *,
    m_selected: int,
    m_fixed: bool = False,
    references: tuple[str, ...] = (REFERENCE,),
    baselines: tuple[str, ...] = (),
    seed: int = 0,
    cv: int = 3,
    repeats: int = 2,
    budget_s: float = 60.0,
    params: StrategyParams | None = None,
    cv_params: StrategyParams | None = None,
    m_for: dict[str, int] | None = None,
    default_reference: str | None = None,
    keep: str | None = None,
    progress: ProgressCallback | None = None,
) -> Choice:
    """Cross-validate strategies ``names`` (at the candidate m's) and the no-source
    ``references`` on ``(X, y)`` and pick one with
    :func:`~recycle.adapt.auto.guard.guard_decision`.

    ``ranked``: the selection's sources, best first (candidate m takes the first m);
    ``features``: their train features by source id; ``m_selected``: the selection's m;
    ``m_fixed``: the user fixed m, so only ``m_selected`` is tried; ``references``: the
    no-source baselines the guard compares with (the best-scoring one is its reference);
    ``baselines``: more no-source models scored beside them, only named in the guard's
    ``close_to`` when the choice does not clearly beat them;
    ``params``: strategy parameters, checked first (a typo is a ConfigError, not a candidate
    skipped). Without sources only the references and the no-source ``names`` are scored.
    ``cv_params``: cheaper settings for the cross-validation only, where ``params`` sets
    nothing (:func:`~recycle.adapt.auto.fidelity.cv_params`); the choice is then fitted with
    ``params`` alone, at full fidelity.

    ``cv``: folds; on named tables (``references`` hold ``no_source``) with fewer than
    :data:`~recycle.adapt.split.SMALL_N_ROWS` rows, at least
    :data:`~recycle.adapt.split.SMALL_N_FOLDS` (:func:`~recycle.adapt.split.small_n_folds`).

    ``m_for``: the m of these dear strategies instead of
    the selection's (the LoRA candidates, :func:`~recycle.adapt.auto.fidelity.lora_m`), unless
    the user fixed m. ``default_reference``: the reference the guard keeps unless another
    beats it (:func:`~recycle.adapt.auto.guard.guard_decision`). ``keep``: the no-source model
    to fit without any cross-validation (no guard; the pool says why in its notes).
    """
    check_params(params)
    if keep:
        return Choice(keep, 0, [], None, [])
    cost = {n: get_strategy(n).relative_cost for n in names}
    no_source = tuple(n for n in names if not reads_sources(n))
    if ranked:
        ms = candidate_ms(m_selected, len(ranked), m_fixed)
        m_for = None if m_fixed else m_for
        candidates = plan(names, m_selected, ms, cost, references + baselines, no_source, m_for)
    else:
        references = tuple(r for r in references if r != WHITEBOX_REFERENCE) or (REFERENCE,)
        candidates = plan(list(no_source), 0, [0], cost, references + baselines, no_source)
    # named tables: more folds under SMALL_N_ROWS rows, so models train on nearly all of them
    k = small_n_folds(y, cv) if TABULAR_REFERENCE in references else n_folds(y, cv)
    with embeddings_reused():  # frozen MiniLM embeds each text once, not once per fold
        rows = cross_validate(
            candidates, X, y, ranked, features, seed=seed, cv=k, repeats=repeats,
            budget_s=budget_s, params=low_fidelity(params, cv_params or {}), progress=progress,
            references=references + baselines,
        )  # fmt: skip
    guard_args: dict[str, Any] = {
        "losses": {r.key: r.losses for r in rows if r.losses},
        "folds": k,
        "baselines": baselines,
        "default_reference": default_reference,
        "rows": len(y),
    }
    guard = guard_decision(
        {r.key: r.scores for r in rows if r.scores},
        references,
        default=[r.key for r in rows if r.strategy == DEFAULT_STRATEGY],
        **guard_args,
    )
    chosen = next(r for r in rows if r.key == guard.use)
    notes = skip_notes(rows) + guard_notes(guard)
    return Choice(chosen.strategy, chosen.m, rows, guard, notes,
                  {"reference": references, **guard_args})  # fmt: skip
