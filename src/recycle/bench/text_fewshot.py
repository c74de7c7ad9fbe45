"""Protocol ``text_fewshot``: few-shot text targets against the baselines a user would pick.

Targets (held out from every source of the pool):

- ``rotten_tomatoes``: fresh/rotten review snippets from the half of Rotten Tomatoes that no
  source saw (:func:`recycle.bench.text._rotten_halves`);
- ``fortunes_politics_science``: Debian ``fortunes`` quotes, category politics vs science
  (:data:`FORTUNE_PAIR`); no source of the pool is trained on fortunes.

Each at :data:`SHOTS_PER_CLASS` labelled texts per class (the ``shots`` of a row are per class),
tested on :data:`TEST_PER_CLASS` held-out texts per class, one target per seed.

Pool: the ``text`` protocol's sources (two MiniLM encoders, three TF-IDF text classifiers on
speeches, debates and review-vs-plot). Methods (:func:`fewshot_methods`): the no-source
baselines (TF-IDF + LR, frozen MiniLM + LR, SetFit), the recycling strategies, and ``auto``;
any other registered strategy is added by name (``--methods lora_mixing,...``), so strategies
that land later need no code change here.

Examples
--------
>>> [m.name for m in fewshot_methods(("tfidf_logreg", "mcw"))]
['tfidf_logreg', 'mcw']
>>> fewshot_methods(("nope",))
Traceback (most recent call last):
...
recycle.errors.ConfigError: Unknown method 'nope' for text_fewshot; ...
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np

from recycle.bench.runner import Method, Target
from recycle.errors import ConfigError

SHOTS_PER_CLASS = (8, 16, 32, 64)
#: The quick variant (the test suite's): one target, one shot count, a small test set.
QUICK_SHOTS = (8,)
QUICK_TEST_PER_CLASS = 50
#: Held-out texts per class each target is tested on.
TEST_PER_CLASS = 250
#: Labelled texts per class drawn from a pool this large (the rest of a class is test data).
POOL_PER_CLASS = 200
#: The fortunes categories of the second target (held out: no source reads fortunes).
FORTUNE_PAIR = ("politics", "science")
FORTUNES_DIR = "/usr/share/games/fortunes"
#: auto's time budget in the protocol (Recycler's default).
AUTO_BUDGET = 60.0

#: The protocol's methods by name; any other registered strategy name is accepted too.
DEFAULT_METHODS: dict[str, dict[str, Any]] = {
    "tfidf_logreg": {"strategy": "tfidf_logreg"},
    "minilm_logreg": {"strategy": "minilm_logreg"},
    "setfit": {"strategy": "setfit"},
    "independent": {"strategy": "independent"},
    "linear_probe_m1": {"strategy": "linear_probe", "m": 1},
    "linear_probe_m3": {"strategy": "linear_probe", "m": 3},
    "mcw_knn_m3": {"strategy": "mcw", "m": 3},
    "stacking_m3": {"strategy": "stacking", "m": 3},
    "auto": {"strategy": "auto", "m": "auto", "time_budget": AUTO_BUDGET},
}
QUICK_METHODS = ("tfidf_logreg", "minilm_logreg", "auto")


def fewshot_methods(names: tuple[str, ...] | None = None) -> list[Method]:
    """The methods ``names`` (default: :data:`DEFAULT_METHODS`); a registered strategy name
    that is not a default method runs as ``Recycler(strategy=name)`` at the selection's m."""
    from recycle.adapt.registry import strategy_names

    methods = []
    for name in names or tuple(DEFAULT_METHODS):
        if name in DEFAULT_METHODS:
            methods.append(Method(name, dict(DEFAULT_METHODS[name])))
        elif name in strategy_names():
            methods.append(Method(name, {"strategy": name}))
        else:
            raise ConfigError(
                f"Unknown method {name!r} for text_fewshot; valid: "
                f"{', '.join(DEFAULT_METHODS)} or a strategy name "
                f"({', '.join(strategy_names())})."
            )
    return methods


def read_fortunes(category: str) -> list[str]:
    """The quotes of one Debian ``fortunes`` category (``%``-separated), whitespace-normalised."""
    from pathlib import Path

    path = Path(FORTUNES_DIR) / category
    if not path.is_file():
        raise ConfigError(
            f"No fortunes category {category!r} at {path}; install the Debian package "
            "`fortunes` (apt-get install -y fortunes)."
        )
    text = path.read_text(encoding="utf-8", errors="replace")
    quotes = (re.sub(r"\s+", " ", q).strip() for q in text.split("\n%\n"))
    return [q for q in quotes if q]


def _labelled_pool() -> dict[str, tuple[list[str], np.ndarray]]:
    """Each target's texts and labels (0..C-1), before the train/test split."""
    from recycle.bench.text import _rotten_halves

    _, rt_texts, rt_y, _ = _rotten_halves(0)
    a, b = (read_fortunes(c) for c in FORTUNE_PAIR)
    fortunes = (a + b, np.array([0] * len(a) + [1] * len(b)))
    return {
        "rotten_tomatoes": (list(rt_texts), np.asarray(rt_y)),
        f"fortunes_{FORTUNE_PAIR[0]}_{FORTUNE_PAIR[1]}": fortunes,
    }


def fewshot_targets(
    shots: tuple[int, ...], seeds: int, test_per_class: int = TEST_PER_CLASS,
    only: tuple[str, ...] | None = None,
) -> list[Target]:  # fmt: skip
    """Targets at ``shots`` texts per class for seeds ``0..seeds-1``, seed-major (a run that is
    stopped early has every shot count of the first seeds). ``only``: these target names."""
    if max(shots) > POOL_PER_CLASS:
        raise ConfigError(f"shots per class must be <= {POOL_PER_CLASS}; got {max(shots)}.")
    splits = {}
    for name, (texts, y) in _labelled_pool().items():
        if only and name not in only:
            continue
        rng = np.random.default_rng(1234)
        pool, test = [], []
        for c in np.unique(y):
            idx = rng.permutation(np.flatnonzero(y == c))
            pool.append(idx[:POOL_PER_CLASS])
            test.append(idx[POOL_PER_CLASS : POOL_PER_CLASS + test_per_class])
        t_idx = np.concatenate(test)
        splits[name] = (texts, y, pool, [texts[i] for i in t_idx], y[t_idx])
    targets = []
    for seed in range(seeds):
        for name, (texts, y, pool, X_test, y_test) in splits.items():
            for k in shots:
                rng = np.random.default_rng([seed, k])
                idx = rng.permutation(
                    np.concatenate([rng.choice(p, k, replace=False) for p in pool])
                )
                targets.append(
                    Target(name, k, seed, [texts[i] for i in idx], y[idx], X_test, y_test)
                )
    return targets


def quick_sources() -> list[Any]:
    """The quick variant's pool: the two MiniLM ONNX encoders (no source training)."""
    from recycle.sources import builtin

    return [builtin("minilm_l6.onnx"), builtin("paraphrase_minilm_l3.onnx")]
