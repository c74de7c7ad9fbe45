"""Which strategies auto considers for a target, and which no-source baselines guard it.

- image and tabular targets: the black-box strategies (:data:`AUTO_STRATEGIES`), guarded by
  the small network from scratch (``independent``); with a white-box pool on one shared base
  also module mixing, guarded by the better of new adapters on that base and ``independent``;
- text targets: the same black-box strategies plus SetFit (:data:`AUTO_TEXT`), guarded by the
  better of TF-IDF + logistic regression and logistic regression on frozen all-MiniLM-L6-v2
  (:data:`TEXT_REFERENCES`): at a few dozen texts both beat the small network on hashed words,
  and a recycled model that does not beat them is no gain to the user; with LoRA adapters of
  one text base selected (the text library), also the white-box strategies on them.

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
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from recycle.adapt.auto.plan import (
    AUTO_STRATEGIES,
    AUTO_TEXT,
    AUTO_WHITEBOX,
    REFERENCE,
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


def auto_pool(
    strategies: Sequence[str] | None, selected: Sequence[SourceModel], modality: str
) -> AutoPool:
    """auto's candidates for a target of ``modality`` with the ``selected`` sources.

    ``strategies``: the user's restriction (``Recycler(strategies=...)``), else the defaults
    above; the references are added whatever it says.
    """
    names = list(strategies or AUTO_STRATEGIES)
    registered = strategy_names()
    text = modality == "text"
    if text and strategies is None:
        names += [n for n in AUTO_TEXT if n in registered]
    pool = AutoPool(names, TEXT_REFERENCES if text else (REFERENCE,))
    whitebox = [n for n in AUTO_WHITEBOX if n in registered and n not in names]
    adapters = family_sources(selected, len(selected))
    if adapters and whitebox and all(s.access == "white-box" for s in adapters):
        problem = whitebox_problem(adapters)
        if problem is None:
            pool.names += whitebox
            if WHITEBOX_REFERENCE in registered and not text:
                pool.references = (WHITEBOX_REFERENCE, REFERENCE)
        else:
            pool.notes.append(f"auto skipped white-box strategies: {problem}")
    return pool
