"""The ``text_fewshot`` protocol: run it (resumable) and render its table into docs/.

Usage::

    nice -n 10 .venv/bin/python benchmarks/text_fewshot.py            # 3 seeds, every method
    nice -n 10 .venv/bin/python benchmarks/text_fewshot.py --methods auto,setfit --seeds 1
    .venv/bin/python benchmarks/text_fewshot.py --render               # docs/text_fewshot.md only
    .venv/bin/python benchmarks/text_fewshot.py --render --note "..."  # with a run note

Rows are saved after every fit to ``benchmarks/results/text_fewshot.json``; a rerun keeps them
and fits only what is missing (``--fresh`` starts over); the saved run notes are kept
(``--note`` replaces them). Methods are the protocol's names or
any registered strategy name (``src/recycle/bench/text_fewshot.py``). Features of the zoo's
encoders and of frozen MiniLM are cached under ``$RECYCLE_CACHE``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from recycle.bench.protocols import run_protocol
from recycle.bench.results import Results
from recycle.bench.text_fewshot import render_markdown
from recycle.sources.cache import FeatureCache, use_cache

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results" / "text_fewshot.json"
PAGE = ROOT / "docs" / "text_fewshot.md"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--methods", default="", help="comma-separated; default: all")
    parser.add_argument("--shots", default="", help="per class, comma-separated")
    parser.add_argument("--render", action="store_true", help="only rewrite the docs page")
    parser.add_argument("--fresh", action="store_true", help="drop the saved rows first")
    parser.add_argument("--note", action="append", default=[], help="a run note for the page")
    args = parser.parse_args()
    if not args.render:
        if args.fresh and RESULTS.exists():
            RESULTS.unlink()
        methods = tuple(m for m in args.methods.split(",") if m) or None
        shots = tuple(int(s) for s in args.shots.split(",") if s) or None
        with use_cache(FeatureCache()):
            results = run_protocol(
                "text_fewshot", seeds=args.seeds, methods=methods, shots=shots,
                checkpoint=str(RESULTS), resume=True,
            )  # fmt: skip
        results.save(RESULTS)
    results = Results.load(RESULTS)
    if args.note:
        results.meta["notes"] = args.note
        results.save(RESULTS)
    PAGE.write_text(render_markdown(results))
    print(f"wrote {PAGE} from {len(results.rows)} rows")


if __name__ == "__main__":
    main()
