"""Which strategies auto considers for a target, and which no-source baselines guard it.

- image and tabular targets: the black-box strategies (:data:`AUTO_STRATEGIES`), guarded by
  the small network from scratch (``independent``); with a white-box pool on one shared base
  also module mixing, guarded by the better of new adapters on that base and ``independent``;
- text targets: the same black-box strategies plus SetFit (:data:`AUTO_TEXT`), guarded by the
  better of TF-IDF + logistic regression and logistic regression on frozen all-MiniLM-L6-v2
  (:data:`TEXT_REFERENCES`): at a few dozen texts both beat the small network on hashed words,
  and a recycled model that does not beat them is no gain to the user; with LoRA adapters of
  one text base selected (the text library), also the white-box strategies on them (on the 3
  best-ranked adapters), and SetFit becomes a third reference
  (:mod:`~recycle.adapt.auto.fidelity`).

A family's base entry (no head, no classes) may be selected with its adapters: white-box
strategies take their base from the adapters (:func:`family_sources`), so it is left out of
the check (it used to make auto skip every white-box strategy).

Examples
--------
>>> import recycle.adapt.strategies  # registers the strategies
>>> pool = auto_pool(None, [], "text")
>>> pool.references, pool.names[-1]
(('tfidf_logreg', 'minilm_logreg'), 'setfit')
>>> auto_pool(None, [], "tabular").references
('independent',)
>>> auto_pool(None, [], "tabular", named_table=True).references
('no_source',)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from recycle.adapt.auto.fidelity import (
    AUTO_TEXT_WHITEBOX,
    DEFAULT_BUDGET,
    DEFAULT_REPEATS,
    LORA_BUDGET,
    LORA_DEFAULT_REFERENCE,
    LORA_M,
    LORA_MIXING,
    LORA_REFERENCES,
    LORA_REPEATS,
    LOW_FIDELITY,
    SETFIT_LEFT_OUT,
    SETFIT_NOTE,
    lora_m,
    setfit_kept,
)
from recycle.adapt.auto.plan import (
    AUTO_STRATEGIES,
    AUTO_TEXT,
    AUTO_WHITEBOX,
    REFERENCE,
    TABULAR_BASELINES,
    TABULAR_REFERENCE,
    TEXT_REFERENCES,
    WHITEBOX_REFERENCE,
)
from recycle.adapt.family.source import family_sources, whitebox_problem
from recycle.adapt.registry import strategy_names
from recycle.sources.base import SourceModel


@dataclass
class AutoPool:
    """The strategies auto cross-validates and the no-source references of its guard."""

    names: list[str]  # candidate strategies besides the references
    references: tuple[str, ...]  # no-source baselines; the best-scoring one guards the choice
    notes: list[str] = field(default_factory=list)  # why a kind of strategy was left out
    baselines: tuple[str, ...] = ()  # scored beside the references, only named in close_to
    budget_s: float = DEFAULT_BUDGET  # default time budget of the whole fit
    repeats: int = DEFAULT_REPEATS  # default repeats of the k-fold
    cv_params: dict[str, dict[str, Any]] = field(default_factory=dict)  # CV-only settings
    m_for: dict[str, int] = field(default_factory=dict)  # a candidate m other than selection's
    default_reference: str | None = None  # the reference kept unless another beats it
    keep: str | None = None  # kept without cross-validation (few texts: fidelity.setfit_kept)

    def choose_options(self) -> dict[str, Any]:
        """What :func:`~recycle.adapt.auto.choose` takes from the pool besides its lists."""
        return {"m_for": self.m_for, "default_reference": self.default_reference, "keep": self.keep}


def auto_pool(
    strategies: Sequence[str] | None,
    selected: Sequence[SourceModel],
    modality: str,
    ranked: Sequence[SourceModel] = (),
    named_table: bool = False,
    y: Any = (),
) -> AutoPool:
    """auto's candidates for a target of ``modality`` with the ``selected`` sources (the first
    of ``ranked``, the selection's whole ranking, best first).

    ``strategies``: the user's restriction (``Recycler(strategies=...)``), else the defaults
    above; the references are added whatever it says. ``named_table``: the target is a table
    with named columns (the tabular market). ``y``: the target's labels; on a text LoRA
    library with fewer than :data:`~recycle.adapt.auto.fidelity.SETFIT_CV_RELIABLE_PER_CLASS`
    texts in the smallest class, auto keeps SetFit without cross-validation (``keep``).
    """
    names = list(strategies or AUTO_STRATEGIES)
    registered = strategy_names()
    text = modality == "text"
    pool = AutoPool(names, TEXT_REFERENCES if text else (REFERENCE,))
    adapters = family_sources(list(ranked) or selected, max(1, len(selected))) if selected else []
    wanted = AUTO_TEXT_WHITEBOX if text else AUTO_WHITEBOX
    whitebox = [n for n in wanted if n in registered and n not in names]
    lora = False
    if adapters and whitebox and all(s.access == "white-box" for s in adapters):
        problem = whitebox_problem(adapters)
        if problem is None:
            pool.names += whitebox
            lora = text
            if WHITEBOX_REFERENCE in registered and not text:
                pool.references = (WHITEBOX_REFERENCE, REFERENCE)
        else:
            pool.notes.append(f"auto skipped white-box strategies: {problem}")
    if lora:
        pool.budget_s, pool.repeats, pool.cv_params = LORA_BUDGET, LORA_REPEATS, LOW_FIDELITY
        m = lora_m(len(selected), len(family_sources(list(ranked) or selected, LORA_M)))
        pool.m_for = {n: m for n in whitebox if n in LORA_MIXING}
        if strategies is None or "setfit" in strategies:
            pool.references = tuple(r for r in LORA_REFERENCES if r in registered)
            pool.names = [n for n in pool.names if n not in pool.references]
            pool.default_reference = LORA_DEFAULT_REFERENCE
            kept = setfit_kept(pool.default_reference, y)
            pool.keep = LORA_DEFAULT_REFERENCE if kept else None
            pool.notes.append(kept or SETFIT_NOTE)
        else:
            pool.notes.append(SETFIT_LEFT_OUT)
    elif text and strategies is None:
        pool.names += [n for n in AUTO_TEXT if n in registered]
    if named_table:
        refs = pool.references
        pool.references = tuple(TABULAR_REFERENCE if r == REFERENCE else r for r in refs)
        pool.baselines = TABULAR_BASELINES
    return pool
