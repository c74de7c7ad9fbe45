"""auto on a text LoRA library: the LoRA strategies scored at low fidelity, the choice at full.

When the selected sources are adapters of one text family (the text LoRA library,
:mod:`recycle.bench.text_library`), auto also cross-validates the white-box strategies on
them (:data:`AUTO_TEXT_WHITEBOX`: per-layer module mixing, LoraHub's gradient-free merge and
fine-tuning the top source's adapter). Each costs 30-80 s per fit on two CPU cores at full
fidelity, so auto scores them cheaply and refits only the one it chooses at full fidelity:

- :data:`LOW_FIDELITY`: 3 training epochs instead of 30 (with early stopping), 12 LoraHub
  evaluations instead of 40; a parameter the user set in ``strategy_params`` is kept as set;
- :data:`LORA_REPEATS`: one repeat of the k-fold (3 folds) for every candidate, so all are
  still compared on the same folds;
- :data:`LORA_BUDGET`: auto's default time budget on this path (150 s; measured: auto's fit
  took ~75 s on average on the text_fewshot targets).

SetFit stays out of auto's pool here: its six CV fits take ~13 minutes (~130 s each); ``report_``
names it as the no-source alternative a user may fit (:data:`SETFIT_NOTE`).

Examples
--------
>>> cv_params({"module_mixing": {"max_epochs": 1}}, LOW_FIDELITY)["module_mixing"]
{'max_epochs': 1}
>>> cv_params(None, LOW_FIDELITY)["lorahub"]
{'max_evals': 12}
>>> cv_params({"*": {"max_epochs": 5}}, LOW_FIDELITY)["finetune_source"]
{}
"""

from __future__ import annotations

from typing import Any

from recycle.adapt.registry import ALL, StrategyParams

#: White-box strategies auto also scores when the selected sources are adapters of one text
#: family (the LoRA library); on image families only module mixing (plan.AUTO_WHITEBOX).
AUTO_TEXT_WHITEBOX = ("module_mixing", "lorahub", "finetune_source")
#: Cheaper settings of those strategies for auto's cross-validation only.
LOW_FIDELITY: dict[str, dict[str, Any]] = {
    "module_mixing": {"max_epochs": 3},
    "finetune_source": {"max_epochs": 3},
    "lorahub": {"max_evals": 12},
}
#: auto's default time budget (seconds, the whole fit) and k-fold repeats; on a text LoRA
#: library instead :data:`LORA_BUDGET` and :data:`LORA_REPEATS`.
DEFAULT_BUDGET = 60.0
DEFAULT_REPEATS = 2
LORA_BUDGET = 150.0
LORA_REPEATS = 1
#: What ``report_`` says about SetFit on this path.
SETFIT_NOTE = (
    "auto did not score setfit on the text LoRA library (its cross-validation takes ~13 "
    "minutes); Recycler(strategy='setfit') is the no-source alternative to compare with"
)


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
