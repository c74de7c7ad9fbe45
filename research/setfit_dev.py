"""Does SetFit beat auto's cross-validated choice below 64 texts per class on tasks the
text_fewshot protocol does not test? (issue #22, a development-target check)

``research/setfit-cv.md`` found that auto's 3-fold CV cannot rank SetFit below 64 labelled
texts per class, and that the rule "keep SetFit, without a CV race, below 64 per class" would
meet the issue's clause (auto >= SetFit at every shot count). It was found on the protocol's own
test rows, so it was not adopted. This script checks it on development targets that neither the
protocol nor any source of the LoRA library uses:

``fortunes_kids_love``
    The Debian fortunes categories ``kids`` and ``love`` (150 quotes each), held out from every
    source (``recycle.bench.text_library.HELD_OUT``) and never a text_fewshot target; split as
    the protocol splits its targets (:func:`recycle.bench.text_fewshot.fewshot_targets`: 75 per
    class in the labelled pool, 75 per class for the test).

At 8, 16 and 32 texts per class, seeds 0-2, it runs the protocol's ``setfit``, ``auto`` (on the
LoRA library, unchanged), ``minilm_logreg`` and ``tfidf_logreg``.

Decision rule, fixed before the run (2026-12-04 19:40 UTC): adopt the rule if, on these
targets, SetFit's mean accuracy over seeds is at or above auto's at each of 8, 16 and 32 texts
per class; otherwise do not adopt it and report the rows.

Usage::

    nice -n 5 python research/setfit_dev.py run       # resumable; rows after every fit
    python research/setfit_dev.py table               # the per-shot means, auto's choices
"""

from __future__ import annotations

import argparse
import json
import statistics
from collections import defaultdict
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "research" / "results" / "setfit_dev" / "rows.json"
DEV_PAIR = ("kids", "love")
DEV_TARGET = f"fortunes_{DEV_PAIR[0]}_{DEV_PAIR[1]}"
SHOTS = (8, 16, 32)
PLAIN = ("setfit", "minilm_logreg", "tfidf_logreg")


def dev_labelled() -> dict[str, tuple[list[str], np.ndarray]]:
    """The development target's texts and labels (kids 0, love 1)."""
    from recycle.bench.text_fewshot import read_fortunes

    a, b = (read_fortunes(c) for c in DEV_PAIR)
    return {DEV_TARGET: (a + b, np.array([0] * len(a) + [1] * len(b)))}


def run(seeds: int) -> None:
    """Every method on every (shots, seed), seed-major, resumable through :data:`OUT`."""
    from recycle.bench.runner import run_all
    from recycle.bench.text import text_sources
    from recycle.bench.text_fewshot import fewshot_methods, fewshot_targets, lora_pool
    from recycle.sources.cache import FeatureCache, use_cache

    OUT.parent.mkdir(parents=True, exist_ok=True)
    zoo, names = lora_pool()
    on_library = fewshot_methods(("auto",))
    auto = [replace(m, params={**m.params, "candidates": names}) for m in on_library]
    plain = fewshot_methods(PLAIN)
    meta = {"targets": [DEV_TARGET], "shots_are": "per class", "seeds": seeds}
    with use_cache(FeatureCache()):
        for seed in range(seeds):  # a run stopped early has whole seeds
            for target in fewshot_targets(SHOTS, seed + 1, labelled=dev_labelled()):
                if target.seed != seed:
                    continue
                run_all("setfit_dev", text_sources(), [target], plain,
                        checkpoint=OUT, meta=meta, resume=True)  # fmt: skip
                run_all("setfit_dev", zoo, [target], auto, checkpoint=OUT, meta=meta, resume=True)


def table(rows: list[dict[str, Any]]) -> str:
    """Mean ± sd over seeds per method and shot count, then auto's choice per fit."""
    acc: dict[tuple[str, int], dict[int, float]] = defaultdict(dict)
    for r in rows:
        acc[(r["method"], r["shots"])][r["seed"]] = 100 * r["accuracy"]
    methods = ("setfit", "auto", "minilm_logreg", "tfidf_logreg")
    lines = ["| method | " + " | ".join(f"{s}/class" for s in SHOTS) + " |",
             "|---|" + "---|" * len(SHOTS)]  # fmt: skip
    for m in methods:
        cells = []
        for s in SHOTS:
            v = list(acc.get((m, s), {}).values())
            sd = f" ± {statistics.stdev(v):.1f}" if len(v) > 1 else ""
            cells.append(f"{statistics.mean(v):.1f}{sd} (n={len(v)})" if v else "–")
        lines.append(f"| {m} | " + " | ".join(cells) + " |")
    lines += ["", "| shots | seed | setfit | auto | auto chose | auto - setfit |",
              "|---|---|---|---|---|---|"]  # fmt: skip
    autos = [r for r in rows if r["method"] == "auto"]
    autos.sort(key=lambda r: (r["shots"], r["seed"]))
    for r in autos:
        sf = acc.get(("setfit", r["shots"]), {}).get(r["seed"])
        chose = f"{r.get('strategy')}" + (f"@m={r['m_used']}" if r.get("m_used") else "")
        diff = f"{100 * r['accuracy'] - sf:+.1f}" if sf is not None else "–"
        sf_s = f"{sf:.1f}" if sf is not None else "–"
        cells = [r["shots"], r["seed"], sf_s, f"{100 * r['accuracy']:.1f}", chose, diff]
        lines.append("| " + " | ".join(str(c) for c in cells) + " |")
    return "\n".join(lines)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="command", required=True)
    r = sub.add_parser("run")
    r.add_argument("--seeds", type=int, default=3)
    sub.add_parser("table")
    a = p.parse_args()
    if a.command == "run":
        run(a.seeds)
    else:
        print(table(json.loads(OUT.read_text())["rows"]))


if __name__ == "__main__":
    main()
