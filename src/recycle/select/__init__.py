"""Source selection: transferability scores (pure functions) and the two-phase selector.

>>> from recycle.select import SCORES
>>> sorted(SCORES)
['gbc', 'hscore', 'knn', 'leep', 'linear', 'logme', 'nce']
"""

from recycle.select.auto_m import AutoMResult, choose_m
from recycle.select.quality import selection_quality, top1_regret, weighted_tau
from recycle.select.scores import (
    SCORES,
    ScoreInfo,
    gbc_score,
    hscore,
    knn_score,
    leep_score,
    linear_probe_score,
    logme_score,
    nce_score,
)
from recycle.select.selector import Selection, SourceScore, select_sources

__all__ = [
    "SCORES",
    "AutoMResult",
    "ScoreInfo",
    "Selection",
    "SourceScore",
    "choose_m",
    "gbc_score",
    "hscore",
    "knn_score",
    "leep_score",
    "linear_probe_score",
    "logme_score",
    "nce_score",
    "select_sources",
    "selection_quality",
    "top1_regret",
    "weighted_tau",
]
