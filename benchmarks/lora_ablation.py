"""The paper's ablations on the text LoRA library, on Rotten Tomatoes fresh/rotten.

For each seed and shots per class, a stratified sample of the Rotten Tomatoes training split is
the target (the library never saw its labels; its test split is never sampled), and
``module_mixing`` runs with:

- sources chosen by k-NN selection (the paper) or at random among the library's adapters,
- m = 1, 3, 5 sources,
- with or without the new trainable adapter (``new_adapter=False``: sites mix the frozen source
  adapters only).

Accuracy is on the first ``--test`` texts of the test split. Results go to a JSON file in the
benchmark format and a generated markdown table (mean ± std over seeds) in ``docs/``.

    python benchmarks/lora_ablation.py --zoo zoo-text          # full: builds the library first
    python benchmarks/lora_ablation.py --quick --zoo /tmp/z    # tiny: the quick library
    python benchmarks/lora_ablation.py --render                # table from the stored JSON

The full run is 3 seeds x 4 shots x 3 m x 3 variants = 108 fits of MiniLM with LoRA adapters.
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "lora_ablation.json"
DOC = ROOT / "docs" / "lora_ablation.md"
VARIANTS = ("knn+new", "random+new", "knn-new")  # selection + with (+) / without (-) new adapter


@dataclass
class Config:
    """What one run covers."""

    shots: tuple[int, ...] = (8, 16, 32, 64)  # labelled examples per class
    ms: tuple[int, ...] = (1, 3, 5)
    seeds: tuple[int, ...] = (0, 1, 2)
    test: int = 500  # test texts (the first of the test split)
    max_epochs: int = 10
    quick: bool = False  # the quick library and a tiny grid (for tests)
    existing: bool = False  # use the zoo's adapters as they are (e.g. a partly built library)

    @classmethod
    def tiny(cls) -> Config:
        return cls(shots=(4,), ms=(2,), seeds=(0,), test=40, max_epochs=2, quick=True)


def _sample(y: np.ndarray, per_class: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.concatenate(
        [rng.choice(np.flatnonzero(y == c), per_class, replace=False) for c in np.unique(y)]
    )


def run(zoo: Any, config: Config, progress: bool = True) -> list[dict[str, Any]]:
    """All rows of the ablation (benchmark row format plus ``variant`` and ``sources``)."""
    from recycle import datasets
    from recycle.adapt import Recycler
    from recycle.bench.text_library import TextLibraryRecipe, build_text_library

    if config.existing:  # every adapter entry (one with a parent base) of the zoo
        adapters = [e.name for e in zoo.list(modality="text") if e.parents]
    else:
        summary = build_text_library(zoo, TextLibraryRecipe(quick=config.quick))
        adapters = [n for n in summary.registered + summary.present if not n.endswith(".base")]
    rt = datasets.load("rotten-tomatoes")
    y_all = np.asarray(rt.y_train)
    X_test, y_test = list(rt.X_test[: config.test]), np.asarray(rt.y_test[: config.test])
    rows = []
    for seed in config.seeds:
        for shots in config.shots:
            idx = _sample(y_all, shots, seed)
            X, y = [rt.X_train[i] for i in idx], y_all[idx]
            for m in config.ms:
                for variant in VARIANTS:
                    rng = np.random.default_rng(1000 * seed + m)
                    random_pick = [str(n) for n in rng.choice(adapters, m, replace=False)]
                    params = {"max_epochs": config.max_epochs, "new_adapter": "+new" in variant}
                    start = time.perf_counter()
                    rec = Recycler(
                        zoo, m=m, strategy="module_mixing", seed=seed,
                        candidates=random_pick if variant.startswith("random") else adapters,
                        strategy_params={"module_mixing": params},
                    ).fit(X, y)  # fmt: skip
                    seconds = time.perf_counter() - start
                    accuracy = float(np.mean(rec.predict(X_test) == y_test))
                    rows.append({
                        "target": "rotten-tomatoes", "method": f"module_mixing {variant}",
                        "variant": variant, "m": m, "shots": shots, "accuracy": accuracy,
                        "fit_seconds": round(seconds, 2), "seed": seed,
                        "trainable_params": int(rec.strategy_.trainable_params_),
                        "sources": [s.source_id.split("@")[0] for s in rec.strategy_.sources],
                        "library_size": len(adapters),
                    })  # fmt: skip
                    if progress:
                        print(f"seed {seed} shots {shots} m {m} {variant}: {accuracy:.3f}")
    return rows


def render(rows: list[dict[str, Any]], config: dict[str, Any]) -> str:
    """The markdown table: accuracy mean ± std over seeds per shots x m x variant."""
    shots = sorted({r["shots"] for r in rows})
    lines = [
        "# LoRA library ablations (generated by benchmarks/lora_ablation.py)",
        "",
        "module_mixing on the text LoRA library (MiniLM + one LoRA adapter per source task), "
        "target Rotten Tomatoes fresh/rotten; test accuracy (%), mean ± std over seeds "
        f"{sorted({r['seed'] for r in rows})}, {config.get('test')} test texts. "
        "knn = k-NN selection, random = random adapters; +new / -new = with / without the new "
        "adapter.",
        "",
        f"Library: {rows[0]['library_size']} source adapters"
        + (
            " (the zoo as it was: possibly a partly built library)"
            if config.get("existing")
            else ""
        )
        + ".",
        "",
        "| m | variant | " + " | ".join(f"{s}/class" for s in shots) + " | fit s | params |",
        "|---|---|" + "---|" * len(shots) + "---|---|",
    ]
    for m in sorted({r["m"] for r in rows}):
        for variant in VARIANTS:
            sel = [r for r in rows if r["m"] == m and r["variant"] == variant]
            if not sel:
                continue
            cells = []
            for s in shots:
                acc = [100 * r["accuracy"] for r in sel if r["shots"] == s]
                cells.append(f"{np.mean(acc):.1f} ± {np.std(acc):.1f}" if acc else "-")
            fit = np.mean([r["fit_seconds"] for r in sel])
            params = int(np.median([r["trainable_params"] for r in sel]))
            lines.append(
                f"| {m} | {variant} | " + " | ".join(cells) + f" | {fit:.0f} | {params:,} |"
            )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--zoo", default="zoo-text", help="zoo folder (built if missing)")
    parser.add_argument("--quick", action="store_true", help="tiny grid on the quick library")
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--doc", type=Path, default=DOC)
    parser.add_argument("--render", action="store_true", help="only rewrite --doc from --out")
    parser.add_argument(
        "--existing", action="store_true", help="use the zoo's adapters as they are (no build)"
    )
    parser.add_argument("--seeds", type=int, nargs="+", help="override the seeds")
    parser.add_argument("--shots", type=int, nargs="+", help="override the shots per class")
    parser.add_argument("--ms", type=int, nargs="+", help="override m")
    parser.add_argument("--test", type=int, help="override the number of test texts")
    args = parser.parse_args(argv)
    if not args.render:
        from recycle import Zoo

        config = Config.tiny() if args.quick else Config()
        config.existing = args.existing
        for key in ("seeds", "shots", "ms"):
            if getattr(args, key):
                setattr(config, key, tuple(getattr(args, key)))
        config.test = args.test or config.test
        rows = run(Zoo.open(args.zoo), config)
        payload = {"protocol": "lora_ablation", "config": asdict(config), "rows": rows}
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(payload, indent=1) + "\n")
    payload = json.loads(args.out.read_text())
    args.doc.parent.mkdir(parents=True, exist_ok=True)
    args.doc.write_text(render(payload["rows"], payload["config"]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
