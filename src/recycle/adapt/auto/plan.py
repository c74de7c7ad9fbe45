"""Which candidates ``(strategy, m)`` auto cross-validates, in which order.

Cheap (closed-form / linear) candidates run at every candidate m, the dear ones (torch
training) only at the selection's m, after the no-source references, so that a time budget
skips the dear ones first.

Examples
--------
>>> candidate_ms(3, 8, m_fixed=False)
[1, 3, 5]
>>> plan(["mcw", "module_mixing"], 3, [1, 3], {"mcw": 2.0, "module_mixing": 50.0},
...      references=(WHITEBOX_REFERENCE, REFERENCE))
[('mcw', 1), ('mcw', 3), ('independent_adapters', 1), ('independent', 0), ('module_mixing', 3)]
"""

from __future__ import annotations

#: Black-box strategies auto tries, besides "independent" (always tried). Not
#: "feature_augment": it also reads the raw input with a linear model, so on small targets it can
#: beat independent with useless (even pure-noise) sources, which would defeat the guard.
AUTO_STRATEGIES = ("mcw", "linear_probe", "averaging", "stacking", "feature_mixing")
#: White-box strategies auto also tries when the selected sources are white-box.
AUTO_WHITEBOX = ("module_mixing",)
#: Strategies cheaper than this relative cost are tried at every candidate m; dearer ones only
#: at the selection's m.
CHEAP_COST = 10.0
#: Largest m auto considers besides the selection's own choice.
AUTO_MAX_M = 5
#: The no-source reference of auto's guard: the small network trained from scratch.
REFERENCE = "independent"
#: The no-source reference of white-box pools: new adapters on the sources' shared frozen base
#: (the paper's "Independent"), stronger than the small network trained from scratch.
WHITEBOX_REFERENCE = "independent_adapters"
#: auto's reference on tables with named columns (the tabular market): what a tabular user
#: would train without sources, gradient boosting and logistic regression blended (a soft vote)
#: (also what auto fits when no source is usable).
TABULAR_REFERENCE = "no_source"
#: Scored beside it on named tables, only to be named in ``report_`` (``guard["close_to"]``)
#: when auto's choice does not clearly beat them: in 15 of the 22 tabular bench fits where auto
#: was > 2 points below the better kind on test, it had used ``no_source``'s pick (of one kind
#: by an inner CV, before the blend), unflagged.
#: Not references: the better-scoring of the two kinds is an upward-biased bar (guarded by
#: it, auto lost 0.75 +- 0.29 points at 50 rows, paired over 58 fits).
TABULAR_BASELINES = ("logistic_regression", "gradient_boosting")
#: The no-source references on text: TF-IDF + logistic regression and logistic regression on
#: frozen all-MiniLM-L6-v2 embeddings (instead of the small network on hashed words, which both
#: beat at a few dozen texts and which costs a torch training per fold).
TEXT_REFERENCES = ("tfidf_logreg", "minilm_logreg")
#: No-source candidates auto also tries on text (not references: the guard treats them like a
#: recycled candidate). SetFit is dear; auto's default time budget skips it (and says so).
AUTO_TEXT = ("setfit",)
REFERENCES = (
    REFERENCE,
    WHITEBOX_REFERENCE,
    TABULAR_REFERENCE,
    *TABULAR_BASELINES,
    *TEXT_REFERENCES,
)
#: The recycled strategy auto keeps (at its best cross-validated m) unless another candidate
#: beats it beyond noise: MCW with k-NN selection, the strongest method in Wang & Henao's
#: comparison (METHODS.md section 1: 70.8 vs 54.9 for module mixing on CTrL 5-way 25-shot).
DEFAULT_STRATEGY = "mcw"


def candidate_ms(m_selected: int, n_ranked: int, m_fixed: bool) -> list[int]:
    """The m values auto tries: the selection's m, plus 1 and up to :data:`AUTO_MAX_M`."""
    if m_fixed or n_ranked == 0:
        return [m_selected]
    return sorted({1, m_selected, min(AUTO_MAX_M, n_ranked)})


def candidate_key(strategy: str, m: int) -> str:
    """How a candidate is named in reports: the strategy for references and no-source
    candidates (m=0), else ``name@m=M``.

    >>> candidate_key("mcw", 3), candidate_key("independent", 0), candidate_key("setfit", 0)
    ('mcw@m=3', 'independent', 'setfit')
    """
    return strategy if strategy in REFERENCES or m == 0 else f"{strategy}@m={m}"


def plan(
    names: list[str],
    m_selected: int,
    ms: list[int],
    cost: dict[str, float],
    references: tuple[str, ...] = (REFERENCE,),
    no_source: tuple[str, ...] = (),
    m_for: dict[str, int] | None = None,
) -> list[tuple[str, int]]:
    """Candidates ``(strategy, m)``: cheap ones (every m) first, then the no-source
    ``references``, then the dear ones (the selection's m only, or ``m_for[name]``), cheapest
    first. The white-box reference gets m=1: it takes its frozen base from the top source and
    nothing else. The ``no_source`` strategies (reading no source) run once, at m=0.

    >>> plan(["mcw", "setfit"], 3, [1, 3], {"mcw": 2.0, "setfit": 2000.0},
    ...      references=TEXT_REFERENCES, no_source=("setfit",))
    [('mcw', 1), ('mcw', 3), ('tfidf_logreg', 0), ('minilm_logreg', 0), ('setfit', 0)]
    >>> plan(["mcw", "lorahub"], 1, [1], {"mcw": 2.0, "lorahub": 30.0},
    ...      references=("tfidf_logreg", "setfit"), m_for={"lorahub": 3})
    [('mcw', 1), ('tfidf_logreg', 0), ('setfit', 0), ('lorahub', 3)]
    """
    cheap: list[tuple[str, int]] = []
    dear: list[tuple[str, int]] = []
    m_for = m_for or {}
    own = [n for n in names if n not in REFERENCES and n not in references]
    for name in sorted(own, key=lambda n: cost.get(n, 1.0)):
        if cost.get(name, 1.0) < CHEAP_COST:
            cheap.extend((name, m) for m in ([0] if name in no_source else ms))
        else:
            dear.append((name, 0 if name in no_source else m_for.get(name, m_selected)))
    refs = [(r, 1 if r == WHITEBOX_REFERENCE else 0) for r in references]
    return [*cheap, *refs, *dear]
