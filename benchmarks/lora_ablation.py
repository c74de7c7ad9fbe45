"""The paper's ablations on the text LoRA library, on the ``text_fewshot`` targets.

The targets are the protocol's (:func:`recycle.bench.text_fewshot.fewshot_targets`: Rotten
Tomatoes fresh/rotten from the half no source saw, and fortunes food vs sports, held out from
every source; the same labelled draws and test sets as ``benchmarks/text_fewshot.py``), and
``module_mixing`` runs on the library's adapters with:

- sources chosen by k-NN selection (the paper) or at random among the library's adapters,
- m = 1, 3, 5 sources,
- with or without the new trainable adapter (``new_adapter=False``: sites mix the frozen source
  adapters only).

The library is the current version's adapters only (:func:`recycle.bench.text_fewshot.lora_pool`,
the zoo under ``$RECYCLE_CACHE``, built from the per-source cache). Rows are saved after every
fit and a rerun fits only what is missing; the page is a generated markdown table (mean ± std
over seeds, the number of seeds per cell) and the paired contrasts.

    nice -n 10 python benchmarks/lora_ablation.py --seeds 0       # seed 0, both targets, 8 and 32
    python benchmarks/lora_ablation.py --quick --zoo /tmp/z       # tiny: the quick library
    python benchmarks/lora_ablation.py --render                   # the page from the stored JSON

The full run is 3 seeds x 2 targets x 2 shots x 3 m x 3 variants = 108 fits of MiniLM with LoRA
adapters.
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
#: Paired contrasts of the page: (variant, against, what the difference measures).
CONTRASTS = (
    ("knn+new", "random+new", "k-NN selection vs random adapters"),
    ("knn+new", "knn-new", "with vs without the new adapter"),
)


@dataclass
class Config:
    """What one run covers."""

    shots: tuple[int, ...] = (8, 32)  # labelled examples per class
    ms: tuple[int, ...] = (1, 3, 5)
    seeds: tuple[int, ...] = (0, 1, 2)
    targets: tuple[str, ...] = ("rotten_tomatoes", "fortunes_food_sports")
    test_per_class: int = 250  # the protocol's TEST_PER_CLASS (fewer where a class is small)
    max_epochs: int = 10  # the protocol's LORA_EPOCHS
    quick: bool = False  # the quick library and a tiny grid (for tests)

    @classmethod
    def tiny(cls) -> Config:
        return cls(shots=(4,), ms=(2,), seeds=(0,), targets=("fortunes_food_sports",),
                   test_per_class=20, max_epochs=2, quick=True)  # fmt: skip


def _key(row: dict[str, Any]) -> tuple[Any, ...]:
    return (row["target"], row["variant"], row["m"], row["shots"], row["seed"])


def run(
    zoo: Any, config: Config, progress: bool = True, checkpoint: Path | None = None
) -> list[dict[str, Any]]:
    """All rows of the ablation (benchmark row format plus ``variant``, ``sources``,
    ``library_size`` and ``test_texts``). With ``checkpoint``, its rows and run notes are kept
    (their fits are not run again) and the rows so far are saved there after every fit."""
    from recycle.adapt import Recycler
    from recycle.bench.text_fewshot import fewshot_targets
    from recycle.bench.text_library import TextLibraryRecipe, build_text_library

    summary = build_text_library(zoo, TextLibraryRecipe(quick=config.quick))
    adapters = [n for n in summary.registered + summary.present if not n.endswith(".base")]
    rows: list[dict[str, Any]] = []
    notes: list[str] = []  # the stored run notes, kept by a resumed run
    if checkpoint is not None and checkpoint.exists():
        stored = json.loads(checkpoint.read_text())
        rows, notes = stored["rows"], stored.get("config", {}).get("notes") or []
    done = {_key(r) for r in rows}
    targets = fewshot_targets(config.shots, max(config.seeds) + 1, config.test_per_class,
                              config.targets)  # fmt: skip
    for target in (t for t in targets if t.seed in config.seeds):
        for m in config.ms:
            for variant in VARIANTS:
                row = {"target": target.name, "variant": variant, "m": m,
                       "shots": target.shots, "seed": target.seed}  # fmt: skip
                if _key(row) in done:
                    continue
                rng = np.random.default_rng(1000 * target.seed + m)
                random_pick = [str(n) for n in rng.choice(adapters, m, replace=False)]
                params = {"max_epochs": config.max_epochs, "new_adapter": "+new" in variant}
                start = time.perf_counter()
                rec = Recycler(
                    zoo, m=m, strategy="module_mixing", seed=target.seed,
                    candidates=random_pick if variant.startswith("random") else adapters,
                    strategy_params={"module_mixing": params},
                ).fit(target.X_train, target.y_train)  # fmt: skip
                seconds = time.perf_counter() - start
                accuracy = float(np.mean(rec.predict(target.X_test) == target.y_test))
                row.update({
                    "method": f"module_mixing {variant}", "accuracy": accuracy,
                    "fit_seconds": round(seconds, 2),
                    "trainable_params": int(rec.strategy_.trainable_params_),
                    "sources": [s.source_id.split("@")[0] for s in rec.strategy_.sources],
                    "library_size": len(adapters), "test_texts": len(target.y_test),
                })  # fmt: skip
                rows.append(row)
                if checkpoint is not None:
                    saved = {**asdict(config), **({"notes": notes} if notes else {})}
                    payload = {"protocol": "lora_ablation", "config": saved, "rows": rows}
                    checkpoint.write_text(json.dumps(payload, indent=1) + "\n")
                if progress:
                    print(f"{target.name} seed {target.seed} shots {target.shots} m {m} "
                          f"{variant}: {accuracy:.3f} ({seconds:.0f} s)", flush=True)  # fmt: skip
    return rows


def _cell(values: list[float], full: int) -> str:
    """``mean ± std`` in %, with ``(n=K)`` below ``full`` seeds; ``-`` when empty."""
    if not values:
        return "-"
    if len(values) == 1:
        return f"{100 * values[0]:.1f} (n=1)"
    few = f" (n={len(values)})" if len(values) < full else ""
    return f"{100 * np.mean(values):.1f} ± {100 * np.std(values, ddof=1):.1f}{few}"


def contrasts(rows: list[dict[str, Any]]) -> list[str]:
    """Per contrast and m: the mean paired difference in points over the (target, shots,
    seed) cells both variants have, ± the standard deviation of those differences (from two
    cells on), and on how many of them the first variant is ahead, tied and behind.

    Examples
    --------
    >>> r = [{"target": "t", "variant": v, "m": 1, "shots": 8, "seed": s, "accuracy": a + b}
    ...      for v, a in (("knn+new", 0.7), ("random+new", 0.6), ("knn-new", 0.75))
    ...      for s, b in ((0, 0.0), (1, 0.1 if v == "random+new" else 0.0))]
    >>> for line in contrasts(r):
    ...     print(line.split(": ")[1])
    +5.0 ± 7.1 points (ahead on 1, tied on 1, behind on 0 of 2)
    -5.0 ± 0.0 points (ahead on 0, tied on 0, behind on 2 of 2)
    """
    acc = {_key(r): r["accuracy"] for r in rows}
    lines = []
    for first, second, what in CONTRASTS:
        for m in sorted({r["m"] for r in rows}):
            diffs = np.array([
                acc[k] - acc[(k[0], second, *k[2:])]
                for k in acc
                if k[1] == first and k[2] == m and (k[0], second, *k[2:]) in acc
            ])  # fmt: skip
            if not len(diffs):
                continue
            diffs = np.round(100 * diffs, 6)  # points; equal accuracies tie exactly
            spread = f" ± {np.std(diffs, ddof=1):.1f}" if len(diffs) > 1 else ""
            lines.append(
                f"- {what} ({first} - {second}), m={m}: {np.mean(diffs):+.1f}{spread} points "
                f"(ahead on {np.sum(diffs > 0)}, tied on {np.sum(diffs == 0)}, "
                f"behind on {np.sum(diffs < 0)} of {len(diffs)})"
            )
    return lines


def render(rows: list[dict[str, Any]], config: dict[str, Any]) -> str:
    """The page: per target, accuracy mean ± std over seeds per m x variant x shots (the number
    of seeds where below the config's), then the paired contrasts."""
    full = len(Config().seeds)  # a full run's seeds
    sizes = sorted({r["library_size"] for r in rows})
    lines = [
        "# LoRA library ablations (generated by benchmarks/lora_ablation.py)",
        "",
        "module_mixing on the text LoRA library (MiniLM + one LoRA adapter per source task) on "
        "the `text_fewshot` targets (the same labelled draws and test sets); test accuracy "
        f"(%), mean ± std over the seeds {sorted({r['seed'] for r in rows})} (a cell over fewer "
        f"than {full} says how many: `(n=1)`). knn = k-NN selection among the library's "
        "adapters, random = m adapters drawn at random; +new / -new = with / without the new "
        f"trainable adapter. Library: {', '.join(map(str, sizes))} source adapters. fit s: mean "
        "fit seconds on 2 shared CPU cores; params: median trainable parameters.",
        "",
    ]
    for target in dict.fromkeys(r["target"] for r in rows):
        sel_t = [r for r in rows if r["target"] == target]
        shots = sorted({r["shots"] for r in sel_t})
        tests = sorted({r.get("test_texts", config.get("test")) for r in sel_t}, key=str)
        lines += [
            f"## {target} ({', '.join(map(str, tests))} test texts)",
            "",
            "| m | variant | " + " | ".join(f"{s}/class" for s in shots) + " | fit s | params |",
            "|---|---|" + "---|" * len(shots) + "---|---|",
        ]
        for m in sorted({r["m"] for r in sel_t}):
            for variant in VARIANTS:
                sel = [r for r in sel_t if r["m"] == m and r["variant"] == variant]
                if not sel:
                    continue
                cells = [_cell([r["accuracy"] for r in sel if r["shots"] == s], full)
                         for s in shots]  # fmt: skip
                fit = np.mean([r["fit_seconds"] for r in sel])
                params = int(np.median([r["trainable_params"] for r in sel]))
                lines.append(
                    f"| {m} | {variant} | " + " | ".join(cells) + f" | {fit:.0f} | {params:,} |"
                )
        lines.append("")
    lines += ["## Paired contrasts (both targets, every shots count and seed)", "",
              "Mean difference in points ± the standard deviation of the paired differences "
              "over the (target, shots, seed) cells.", "", *contrasts(rows)]  # fmt: skip
    notes = config.get("notes") or []
    if notes:
        lines += ["", "## Run notes", "", *[f"- {n}" for n in notes]]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--zoo", help="zoo folder (default: the text_fewshot cache's LoRA zoo)")
    parser.add_argument("--quick", action="store_true", help="tiny grid on the quick library")
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--doc", type=Path, default=DOC)
    parser.add_argument("--render", action="store_true", help="only rewrite --doc from --out")
    parser.add_argument("--seeds", type=int, nargs="+", help="override the seeds")
    parser.add_argument("--shots", type=int, nargs="+", help="override the shots per class")
    parser.add_argument("--ms", type=int, nargs="+", help="override m")
    parser.add_argument("--targets", nargs="+", help="override the targets")
    parser.add_argument("--note", action="append", default=[], help="a run note for the page")
    args = parser.parse_args(argv)
    if not args.render:
        from recycle import Zoo
        from recycle.bench.text_fewshot import lora_pool

        config = Config.tiny() if args.quick else Config()
        for key in ("seeds", "shots", "ms", "targets"):
            if getattr(args, key):
                setattr(config, key, tuple(getattr(args, key)))
        zoo = Zoo.open(args.zoo) if args.zoo else lora_pool(quick=config.quick)[0]
        args.out.parent.mkdir(parents=True, exist_ok=True)
        run(zoo, config, checkpoint=args.out)
    payload = json.loads(args.out.read_text())
    if args.note:  # kept with the rows, so a later render keeps them
        payload["config"]["notes"] = args.note
        args.out.write_text(json.dumps(payload, indent=1) + "\n")
    args.doc.parent.mkdir(parents=True, exist_ok=True)
    args.doc.write_text(render(payload["rows"], payload["config"]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
