"""Protocol ``text_fewshot``: few-shot text targets against the baselines a user would pick.

Targets (held out from every source of the pool):

- ``rotten_tomatoes``: fresh/rotten review snippets from the half of Rotten Tomatoes that no
  source saw (:func:`recycle.bench.text._rotten_halves`);
- ``fortunes_food_sports``: Debian ``fortunes`` quotes, category food vs sports
  (:data:`FORTUNE_PAIR`); no source of the encoder pool reads fortunes, and both categories are
  held out from the text LoRA library (:data:`recycle.bench.text_library.HELD_OUT`; until
  2026-12-04 the pair was politics/science, which the library's sources train on).

Each at :data:`SHOTS_PER_CLASS` labelled texts per class (the ``shots`` of a row are per class),
tested on :data:`TEST_PER_CLASS` held-out texts per class, one target per seed.

Pool: the ``text`` protocol's sources (two MiniLM encoders, three TF-IDF text classifiers on
speeches, debates and review-vs-plot). Methods (:func:`fewshot_methods`): the no-source
baselines (TF-IDF + LR, frozen MiniLM + LR, SetFit), the recycling strategies, and ``auto``;
any other registered strategy is added by name (``--methods finetune,...``), so strategies
that land later need no code change here.

The LoRA strategies (:data:`LORA_METHODS`) run on the text LoRA library instead
(:mod:`recycle.bench.text_library`: 31 LoRA adapters on all-MiniLM-L6-v2, none trained on a
target's texts), registered into a zoo under the cache (:func:`lora_pool`), and so does
``auto``, with its default time budget (SetFit is then its default reference, fitted without
a race below 64 texts per class: :mod:`recycle.adapt.auto.fidelity`); ``auto_encoders`` is
auto on the encoder pool.

Examples
--------
>>> [m.name for m in fewshot_methods(("tfidf_logreg", "mcw", "lorahub_m3"))]
['tfidf_logreg', 'mcw', 'lorahub_m3']
>>> [m.name for m in fewshot_methods() if is_lora(m)]
['module_mixing_lora_m3', 'lorahub_m3', 'finetune_source_lora', 'auto']
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
#: Seeds of a full run; a table cell over fewer says how many (``(n=1)``).
FULL_SEEDS = 3
#: The quick variant (the test suite's): one target, one shot count, a small test set.
QUICK_SHOTS = (8,)
QUICK_TEST_PER_CLASS = 50
#: Held-out texts per class each target is tested on (fewer where a class is small).
TEST_PER_CLASS = 250
#: Labelled texts per class drawn from a pool this large (the rest of a class is test data).
POOL_PER_CLASS = 200
#: The fortunes categories of the second target: held out from every source (the encoder
#: pool reads no fortunes; the LoRA library's HELD_OUT["fortunes"] starts with these two).
FORTUNE_PAIR = ("food", "sports")
FORTUNE_TARGET = f"fortunes_{FORTUNE_PAIR[0]}_{FORTUNE_PAIR[1]}"  # the target's name
FORTUNES_DIR = "/usr/share/games/fortunes"
#: auto's time budget on the encoder pool (``auto_encoders``; Recycler's default there).
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
    "auto_encoders": {"strategy": "auto", "m": "auto", "time_budget": AUTO_BUDGET},
}
#: Training epochs of the LoRA strategies' adapters, mixing weights and head (early stopping
#: on a validation split as everywhere).
LORA_EPOCHS = 10
#: The strategies on the text LoRA library (the pool of these methods), by protocol name.
LORA_METHODS: dict[str, dict[str, Any]] = {
    "module_mixing_lora_m3": {"strategy": "module_mixing", "m": 3,
                              "strategy_params": {"module_mixing": {"max_epochs": LORA_EPOCHS}}},
    "lorahub_m3": {"strategy": "lorahub", "m": 3},
    "finetune_source_lora": {"strategy": "finetune_source", "m": 1,
                             "strategy_params": {"finetune_source": {"max_epochs": LORA_EPOCHS}}},
    "auto": {"strategy": "auto", "m": "auto"},
}  # fmt: skip
DEFAULT_METHODS.update(LORA_METHODS)
QUICK_METHODS = ("tfidf_logreg", "minilm_logreg", "auto_encoders")


def is_lora(method: Method) -> bool:
    """Whether ``method`` runs on the LoRA library (:data:`LORA_METHODS`)."""
    return method.name in LORA_METHODS


def lora_pool(
    cache_dir: str | None = None, quick: bool = False, progress: Any = None
) -> tuple[Any, list[str]]:
    """The zoo of the text LoRA library (``quick``: the 3-source one), built or loaded from the
    per-source cache, at ``<cache>/text_fewshot_zoo[_quick]``, and the names of this library
    version's entries (its base and adapters); ``<cache>``: ``cache_dir`` or ``$RECYCLE_CACHE``.

    The protocol's methods select among these names only: the zoo keeps the entries of every
    library version built into that cache (on 2026-12-04 it held versions 1 and 2, each of the
    31 tasks twice, so m=3 picked one adapter twice and version 1's leaky review-vs-plot
    adapter was a candidate)."""
    import os
    from pathlib import Path

    from recycle.bench.text_library import TextLibraryRecipe, build_text_library
    from recycle.zoo import Zoo

    root = Path(cache_dir or os.environ.get("RECYCLE_CACHE") or Path.home() / ".cache/recycle")
    zoo = Zoo.open(root / f"text_fewshot_zoo{'_quick' if quick else ''}")
    summary = build_text_library(zoo, TextLibraryRecipe(quick=quick), progress)
    return zoo, [*summary.registered, *summary.present]


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
        FORTUNE_TARGET: fortunes,
    }


def fewshot_targets(
    shots: tuple[int, ...], seeds: int, test_per_class: int = TEST_PER_CLASS,
    only: tuple[str, ...] | None = None, labelled: dict[str, Any] | None = None,
) -> list[Target]:  # fmt: skip
    """Targets at ``shots`` texts per class for seeds ``0..seeds-1``, seed-major (a run that is
    stopped early has every shot count of the first seeds). ``only``: these target names.
    ``labelled``: other tasks' texts and labels (0..C-1), split the same way (development
    targets: ``research/setfit_dev.py``).

    Each class gives :data:`POOL_PER_CLASS` texts to the labelled pool (half its texts when it
    has fewer than twice that: the fortunes categories have 147-198 quotes) and up to
    ``test_per_class`` others to the test set, the same number for every class."""
    if max(shots) > POOL_PER_CLASS:
        raise ConfigError(f"shots per class must be <= {POOL_PER_CLASS}; got {max(shots)}.")
    splits = {}
    for name, (texts, y) in (labelled or _labelled_pool()).items():
        if only and name not in only:
            continue
        rng = np.random.default_rng(1234)
        pool, test = [], []
        smallest = int(np.bincount(y).min())
        n_pool = min(POOL_PER_CLASS, smallest // 2)  # small classes: half pool, half test
        if max(shots) > n_pool:
            raise ConfigError(f"{name}: shots per class must be <= {n_pool}; got {max(shots)}.")
        n_test = min(test_per_class, smallest - n_pool)  # a balanced test set
        for c in np.unique(y):
            idx = rng.permutation(np.flatnonzero(y == c))
            pool.append(idx[:n_pool])
            test.append(idx[n_pool : n_pool + n_test])
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


def _per_class(table: str) -> str:
    """A results table whose shot columns read "N/class" (the protocol's shots are per class)."""
    head, rest = table.split("\n", 1)
    return re.sub(r"(\d+) shots", r"\1/class", head) + "\n" + rest


def _seed_means(
    results: Any, methods: tuple[str, ...], shots: int, what: str = "accuracy"
) -> dict[str, dict[int, float]]:
    """Per method: seed -> mean of ``what`` over the targets, for the seeds where every method
    of ``methods`` has every target at ``shots``."""
    targets = sorted({r.target for r in results.rows})
    value = {(r.method, r.seed, r.target): getattr(r, what) for r in results.rows
             if r.shots == shots}  # fmt: skip
    seeds = [
        seed for seed in sorted({r.seed for r in results.rows})
        if all((m, seed, t) in value for m in methods for t in targets)
    ]  # fmt: skip
    return {
        m: {seed: float(np.mean([value[(m, seed, t)] for t in targets])) for seed in seeds}
        for m in methods
    }


def over_targets_table(results: Any) -> str:
    """Accuracy (%) per method and shots: at each seed the mean over the targets, then mean ±
    std over the seeds that have every target (the targets' levels differ, so a std over
    targets would measure the targets, not the method); params and fit seconds are means over
    all rows; a cell over fewer than :data:`FULL_SEEDS` seeds says how many (``(n=2)``).

    Examples
    --------
    >>> from recycle.bench.results import Results, Row
    >>> res = Results("text_fewshot")
    >>> for seed, (a, b) in enumerate([(0.6, 0.8), (0.62, 0.9)]):
    ...     res.add(Row("rt", "auto", "auto", 8, a, 1.0, 10, seed))
    ...     res.add(Row("fo", "auto", "auto", 8, b, 3.0, 10, seed))
    >>> print(over_targets_table(res).splitlines()[-1])
    | auto | 73.0 ± 4.2 (n=2) | 10 | 2.0 |
    >>> print(over_targets_table(Results("t", res.rows[:2])).splitlines()[-1])
    | auto | 70.0 (n=1) | 10 | 2.0 |
    """
    shots = results.shots()
    lines = [
        "| method | " + " | ".join(f"{k}/class" for k in shots) + " | params | fit s |",
        "|" + "---|" * (len(shots) + 3),
    ]
    for method in results.methods():
        cells = []
        for k in shots:
            per_seed = list(_seed_means(results, (method,), k)[method].values())
            if len(per_seed) == 1:  # no spread to show: say it is one seed
                cells.append(f"{100 * per_seed[0]:.1f} (n=1)")
                continue
            std = float(np.std(per_seed, ddof=1)) if per_seed else 0.0
            few = f" (n={len(per_seed)})" if 1 < len(per_seed) < FULL_SEEDS else ""
            cells.append(
                f"{100 * np.mean(per_seed):.1f} ± {100 * std:.1f}{few}" if per_seed else "–"
            )
        rows = [r for r in results.rows if r.method == method]
        params = np.mean([r.trainable_params for r in rows])
        secs = np.mean([r.fit_seconds for r in rows])
        lines.append(f"| {method} | " + " | ".join(cells) + f" | {params:,.0f} | {secs:.1f} |")
    return "\n".join(lines)


def _said_below(row: Any, baseline: str) -> bool:
    """Whether auto's ``report_`` (as kept in its bench row) says ``baseline`` may do as well:
    auto used it, or it is in the guard's ``close_to``, or it is the reference and the choice
    was flagged."""
    extra = row.extra
    return (
        extra.get("strategy") == baseline
        or baseline in (extra.get("close_to") or [])
        or (extra.get("reference") == baseline and bool(extra.get("flagged")))
    )


def auto_checks(results: Any, margin: float = 0.02) -> list[str]:
    """The issue's claims, checked on ``results``: auto vs SetFit per shots (mean over targets,
    then over the seeds that have every target for both), and every target-seed where auto is
    more than ``margin`` below TF-IDF + LR, with whether its report said so.

    Examples
    --------
    >>> from recycle.bench.results import Results, Row
    >>> res = Results("text_fewshot")
    >>> res.add(Row("t", "tfidf_logreg", 0, 8, 0.70, 0.1, 10, 0))
    >>> res.add(Row("t", "setfit", 0, 8, 0.66, 90.0, 10, 0))
    >>> res.add(Row("t", "auto", "auto", 8, 0.65, 20.0, 10, 0, {"close_to": ["tfidf_logreg"]}))
    >>> first, second = auto_checks(res)
    >>> first
    '- 8/class (1 seeds): auto 65.0% vs SetFit 66.0% (-1.0 points, below), fit 20 s vs 90 s'
    >>> second.split(";")[0]
    '- auto > 2 points below TF-IDF + LR on 1 of 1 target-seeds'
    >>> second.split(": ")[-1]
    't 8/class seed 0 (-5.0, said)'
    """
    by = {(r.method, r.target, r.shots, r.seed): r for r in results.rows}
    lines = []
    for shots in results.shots():
        both = ("auto", "setfit")
        acc = _seed_means(results, both, shots)
        if not acc["auto"]:
            continue
        sec = _seed_means(results, both, shots, "fit_seconds")
        a_acc, s_acc = (float(np.mean(list(acc[m].values()))) for m in both)
        a_sec, s_sec = (float(np.mean(list(sec[m].values()))) for m in both)
        word = "at or above" if a_acc >= s_acc else "below"
        lines.append(
            f"- {shots}/class ({len(acc['auto'])} seeds): auto {100 * a_acc:.1f}% vs SetFit "
            f"{100 * s_acc:.1f}% ({100 * (a_acc - s_acc):+.1f} points, {word}), fit {a_sec:.0f} s "
            f"vs {s_sec:.0f} s"
        )
    below = []
    compared = 0
    for r in (r for r in results.rows if r.method == "auto"):
        base = by.get(("tfidf_logreg", r.target, r.shots, r.seed))
        if base is None:
            continue
        compared += 1
        if r.accuracy < base.accuracy - margin:
            below.append((r, r.accuracy - base.accuracy, _said_below(r, "tfidf_logreg")))
    cases = ", ".join(
        f"{r.target} {r.shots}/class seed {r.seed} ({100 * d:+.1f}, {'said' if s else 'NOT said'})"
        for r, d, s in below
    )
    lines.append(
        f"- auto > {100 * margin:.0f} points below TF-IDF + LR on {len(below)} of {compared} "
        f"target-seeds; report_ said so on {sum(s for _, _, s in below)} of them"
        + (f": {cases}" if cases else "")
    )
    return lines


def render_markdown(results: Any) -> str:
    """The protocol's generated page: tables over all targets and per target, auto's checks
    and choices."""
    from collections import Counter

    from recycle.bench.results import Results

    seeds = sorted({r.seed for r in results.rows})
    out = [
        "# Few-shot text: recycling against the baselines a user would pick",
        "",
        "Generated by `python benchmarks/text_fewshot.py --render` from "
        "`benchmarks/results/text_fewshot.json` (protocol `text_fewshot`, "
        "`src/recycle/bench/text_fewshot.py`). Accuracy in %, mean ± std over seeds "
        f"{seeds}; shots are labelled texts per class; params = trainable parameters "
        "(mean); fit s = mean fit seconds on this machine (2 shared CPU cores; see the run "
        "notes below for the load).",
        "",
        "## All targets",
        "",
        "Mean over the targets at each seed, then mean ± std over the seeds that have every "
        "target.",
        "",
        over_targets_table(results),
        "",
    ]
    for target in dict.fromkeys(r.target for r in results.rows):
        part = Results(results.protocol, [r for r in results.rows if r.target == target])
        out += [f"## {target}", "", _per_class(part.markdown_table(FULL_SEEDS)), ""]
    out += ["## auto against SetFit and TF-IDF + LR", "", *auto_checks(results), ""]
    chosen = Counter(
        (r.shots, str(r.extra.get("strategy"))) for r in results.rows if r.method == "auto"
    )
    out += ["auto's choices (shots per class: strategy x times):", ""]
    for shots in results.shots():
        picks = ", ".join(f"{s} x{n}" for (k, s), n in sorted(chosen.items()) if k == shots)
        if picks:
            out.append(f"- {shots}/class: {picks}")
    notes = results.meta.get("notes")
    if notes:
        out += ["", "## Run notes", "", *[f"- {n}" for n in notes]]
    return "\n".join(out) + "\n"
