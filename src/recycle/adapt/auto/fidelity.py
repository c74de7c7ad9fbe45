"""auto on a text LoRA library: the LoRA strategies and SetFit scored at low fidelity, the
choice refitted at full.

When the selected sources are adapters of one text family (the text LoRA library,
:mod:`recycle.bench.text_library`), auto also cross-validates the white-box strategies on
them (:data:`AUTO_TEXT_WHITEBOX`: per-layer module mixing, LoraHub's gradient-free merge and
fine-tuning the top source's adapter) and SetFit, the no-source method a user would pick for a
few dozen texts. SetFit is then a no-source *reference* beside TF-IDF and frozen MiniLM
(:data:`LORA_REFERENCES`): the guard compares the recycled choice with the best-scoring of the
three. Each of these costs 30-130 s per fit on two CPU cores at full fidelity, so auto scores
them cheaply and refits only the one it chooses at full fidelity:

- :data:`LOW_FIDELITY`: 3 training epochs instead of 30 (with early stopping), 12 LoraHub
  evaluations instead of 40, SetFit's contrastive stage bounded at :data:`SETFIT_CV_SECONDS`
  per fold instead of 120 s; a parameter the user set in ``strategy_params`` is kept as set;
- :data:`LORA_M`: the LoRA strategies that mix adapters (:data:`LORA_MIXING`) run on the 3
  best-ranked adapters (or the selection's m when larger), not at the selection's m, which on
  the text library was 1 in 13 of 16 fits (mixing a single, often unrelated, adapter);
  ``finetune_source`` tunes the top adapter alone, at the selection's m;
- :data:`LORA_REPEATS`: one repeat of the k-fold (3 folds) for every candidate, so all are
  still compared on the same folds;
- :data:`LORA_BUDGET`: auto's default time budget on this path (the whole fit, of which
  70 % for the cross-validation): room for SetFit's three CV fits, the three LoRA candidates
  at m = 3 and a full SetFit refit (~125 s).

Examples
--------
>>> cv_params({"module_mixing": {"max_epochs": 1}}, LOW_FIDELITY)["module_mixing"]
{'max_epochs': 1}
>>> cv_params(None, LOW_FIDELITY)["lorahub"]
{'max_evals': 12}
>>> cv_params({"*": {"max_epochs": 5}}, LOW_FIDELITY)["finetune_source"]
{}
>>> lora_m(1, 5), lora_m(4, 5), lora_m(1, 2)
(3, 4, 1)
"""

from __future__ import annotations

from typing import Any

import numpy as np

from recycle.adapt.registry import ALL, StrategyParams

#: White-box strategies auto also scores when the selected sources are adapters of one text
#: family (the LoRA library); on image families only module mixing (plan.AUTO_WHITEBOX).
AUTO_TEXT_WHITEBOX = ("module_mixing", "lorahub", "finetune_source")
#: Cheaper settings of those strategies for auto's cross-validation only.
#: SetFit's contrastive stage per CV fit (seconds; a full fit: 120 s).
SETFIT_CV_SECONDS = 30.0
LOW_FIDELITY: dict[str, dict[str, Any]] = {
    "module_mixing": {"max_epochs": 3},
    "finetune_source": {"max_epochs": 3},
    "lorahub": {"max_evals": 12},
    "setfit": {"max_seconds": SETFIT_CV_SECONDS},
}
#: The no-source references of auto on a text LoRA library: the text references and SetFit.
LORA_REFERENCES = ("tfidf_logreg", "minilm_logreg", "setfit")
#: ... of which SetFit is *the* reference unless another beats it in the CV (corrected SE):
#: its low-fidelity CV underrates its full fit, and few-shot CV folds of 5-40 texts cannot
#: rank these models (research/setfit_fidelity.py); SetFit is the few-shot text method a
#: practitioner picks (Tunstall et al. 2022; issue #22), as MCW is auto's default candidate.
LORA_DEFAULT_REFERENCE = "setfit"
#: Adapters the LoRA candidates mix (at least; the selection's m when it is larger).
LORA_M = 3
#: The LoRA candidates that mix several adapters (finetune_source reads the top one only).
LORA_MIXING = ("module_mixing", "lorahub")
#: auto's default time budget (seconds, the whole fit) and k-fold repeats; on a text LoRA
#: library instead :data:`LORA_BUDGET` and :data:`LORA_REPEATS`.
DEFAULT_BUDGET = 60.0
DEFAULT_REPEATS = 2
LORA_BUDGET = 420.0
LORA_REPEATS = 1
#: What ``report_`` says about SetFit on this path.
SETFIT_NOTE = (
    "auto scored setfit as a no-source reference at low fidelity (its contrastive stage "
    f"bounded at {SETFIT_CV_SECONDS:g} s per fold); if it is the choice, it is refitted at full "
    "fidelity (~2 minutes)"
)
#: ... and when the user's ``strategies`` leave it out.
SETFIT_LEFT_OUT = (
    "auto did not score setfit (not in strategies); Recycler(strategy='setfit') is the "
    "no-source alternative to compare with"
)


#: Below this many labelled texts in the smallest class, auto keeps SetFit (its default
#: reference on a text LoRA library) without cross-validating the other candidates: there its
#: 3-fold CV did not rank SetFit as the test set did (``research/setfit-cv.md``: the sign of
#: SetFit - frozen MiniLM matched in 8 of 18 text_fewshot fits at 8-32 per class, in 6 of 6 at
#: 64), and SetFit beat auto's CV choice on held-out development targets
#: (``research/setfit-dev.md``).
SETFIT_CV_RELIABLE_PER_CLASS = 64


def setfit_kept(default_reference: str | None, y: Any) -> str | None:
    """What ``report_`` says when auto keeps SetFit without a cross-validation race: its default
    reference is SetFit and the smallest class of ``y`` has fewer than
    :data:`SETFIT_CV_RELIABLE_PER_CLASS` labelled texts (None otherwise: auto races).

    >>> setfit_kept("setfit", ["a"] * 16 + ["b"] * 20).split(":")[0]
    'auto kept setfit without cross-validating the recycled candidates'
    >>> setfit_kept("setfit", ["a"] * 64 + ["b"] * 70) is None
    True
    >>> setfit_kept(None, ["a"] * 16 + ["b"] * 16) is None
    True
    """
    if default_reference != "setfit" or len(y) == 0:
        return None
    smallest = int(np.unique(np.asarray(y), return_counts=True)[1].min())
    if smallest >= SETFIT_CV_RELIABLE_PER_CLASS:
        return None
    return (
        "auto kept setfit without cross-validating the recycled candidates: with "
        f"{smallest} labelled texts in the smallest class (below {SETFIT_CV_RELIABLE_PER_CLASS})"
        " a 3-fold cross-validation cannot rank SetFit, which trains on two thirds of them and "
        "scores far below its fit on all (research/setfit-cv.md), and SetFit was more accurate "
        "than auto's cross-validated choice there (research/setfit-dev.md). To race the "
        "recycled candidates anyway, pass strategies=[...] without 'setfit'"
    )


def lora_m(m_selected: int, n_adapters: int) -> int:
    """The m of the LoRA candidates: :data:`LORA_M` (or ``m_selected`` when larger), when the
    ranking holds that many adapters; else the selection's m."""
    m = max(LORA_M, m_selected)
    return m if n_adapters >= m else m_selected


def cv_params(params: StrategyParams | None, low: StrategyParams) -> dict[str, dict[str, Any]]:
    """``params`` with the ``low``-fidelity settings added where the user set nothing (neither
    under the strategy's name nor under ``"*"``): what auto's cross-validation fits with."""
    out = {name: dict(values) for name, values in (params or {}).items()}
    common = out.get(ALL, {})
    for name, values in low.items():
        mine = out.setdefault(name, {})
        for key, value in values.items():
            if key not in mine and key not in common:
                mine[key] = value
    return out
