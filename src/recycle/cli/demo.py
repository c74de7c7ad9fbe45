"""CLI: ``recycle demo`` (what ``make demo`` runs) and ``recycle zoo build-demo``.

The logic lives in :mod:`recycle.bench.demo`; this module only renders its results.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated, Any

import typer

from recycle.cli.app import JsonOption, ZooOption, app, zoo_app, zoo_location
from recycle.cli.render import console, print_json, print_table, rich_progress
from recycle.errors import ConfigError
from recycle.progress import ProgressCallback

QuickOption = Annotated[
    bool,
    typer.Option(
        "--quick",
        help="Tiny variant (image: 8 quick stream28 sources, one CNN; tabular: the two churn "
        "tables, gradient boosting only).",
    ),
]


def _open(zoo: str | None) -> Any:
    from recycle.zoo import Zoo

    return Zoo.open(zoo_location(zoo))


MODALITIES = ("image", "text", "tabular")
ModalityOption = Annotated[
    str,
    typer.Option(
        "--modality",
        help="image: stream28 CNN family + pre-trained models; text: the LoRA library on MiniLM "
        "(31 source tasks; --quick: 3); tabular: models trained on R tables.",
    ),
]


@zoo_app.command("build-demo")
def build_demo(
    quick: QuickOption = False,
    modality: ModalityOption = "image",
    zoo: ZooOption = None,
    json_out: JsonOption = False,
) -> None:
    """Train (cached) and register the demo zoo: stream28 sources + real pre-trained models."""
    if modality not in MODALITIES:
        raise ConfigError(f"--modality must be one of {', '.join(MODALITIES)}; got {modality!r}.")
    build = {"image": _build_image, "text": _build_text, "tabular": _build_tabular}[modality]
    opened = _open(zoo)
    with rich_progress(enabled=not json_out) as progress:
        where, summary = build(opened, quick, progress)
    if json_out:
        print_json(summary)
        return
    more = f", {len(summary['trained'])} trained" if "trained" in summary else ""
    if summary.get("updated"):  # entries an older recipe made, registered as new versions
        more += f", {len(summary['updated'])} updated to the current recipe"
    console.print(
        f"{where}: {len(summary['registered'])} registered, {len(summary['present'])} already "
        f"there{more} ({summary['seconds']:.0f} s)."
    )


# Each builder returns the summary's opening words and the summary (what --json prints).
def _build_image(
    zoo: Any, quick: bool, progress: ProgressCallback | None
) -> tuple[str, dict[str, Any]]:
    from recycle.bench.demo import DemoConfig, build_demo_zoo

    summary = build_demo_zoo(zoo, DemoConfig(quick=quick), progress)
    return f"Demo zoo at {summary.location}", summary.to_dict()


def _build_tabular(
    zoo: Any, quick: bool, progress: ProgressCallback | None
) -> tuple[str, dict[str, Any]]:
    from recycle.tabular.zoo import build_tabular_zoo

    start = time.perf_counter()
    build = build_tabular_zoo(zoo, quick=quick, progress=progress)
    seconds = round(time.perf_counter() - start, 3)
    summary = {"location": str(zoo.location), "registered": build.registered,
               "updated": build.updated, "present": build.present, "seconds": seconds}  # fmt: skip
    return f"Tabular demo zoo at {zoo.location}", summary


def _build_text(
    zoo: Any, quick: bool, progress: ProgressCallback | None
) -> tuple[str, dict[str, Any]]:
    from recycle.bench.text_library import TextLibraryRecipe, build_text_library

    summary = build_text_library(zoo, TextLibraryRecipe(quick=quick), progress)
    return f"Text LoRA library at {summary.location} ({summary.prefix})", summary.to_dict()


@app.command()
def demo(
    shots: Annotated[int, typer.Option("--shots", help="Labelled target images.")] = 25,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the target sample.")] = 0,
    out: Annotated[Path, typer.Option("--out", help="Report folder.")] = Path("out/demo"),
    quick: QuickOption = False,
    zoo: ZooOption = None,
    json_out: JsonOption = False,
) -> None:
    """Recycle a held-out few-shot target from the demo zoo end to end (builds it if missing)."""
    from recycle.bench.demo import DemoConfig, run_demo

    config = DemoConfig(quick=quick, shots=shots, seed=seed)  # checks the options first
    opened = _open(zoo)
    with rich_progress(enabled=not json_out) as progress:
        result = run_demo(opened, out, config, progress)
    if json_out:
        print_json(result)
        return
    _render(result)


def _render(result: dict[str, Any]) -> None:
    t = result["target"]
    console.print(
        f"[bold]Target[/bold] {t['name']}: {t['shots']} labelled images of "
        f"{', '.join(t['classes'])} ({t['test_size']} test images)"
    )
    print_table(
        "Spec search: closest providers' data (squared MMD, lower = closer)",
        ["rank", "entry", "MMD²"],
        [[h["rank"], h["name"], h["score"]] for h in result["search"]],
    )
    print_table(
        "Selection: k-NN accuracy of each source's features on the target",
        ["source", "score", "seconds"],
        [[r["name"], r["score"], r["seconds"]] for r in result["ranking"][:10]],
    )
    guard = result.get("guard") or {}
    console.print(
        f"[bold]Chosen[/bold]: {result['strategy']} with m = {result['m']} "
        f"(sources: {', '.join(result['selected']) or 'none'})"
        + (f"; guard: {guard.get('reason')}" if guard.get("triggered") else "")
    )
    if result["strategy"] in ("independent", "independent_adapters"):
        console.print(
            "No recycled strategy beat training without source adapters beyond noise, so the "
            "model below uses none (only the zoo's shared frozen base, if any)."
        )
    print_table(
        "Recycle's choice vs independent small network (test accuracy)",
        ["model", "strategy", "accuracy", "fit s", "trainable params"],
        [
            [
                k,
                result[k]["strategy"],
                f"{100 * result[k]['accuracy']:.1f}%",
                result[k]["fit_seconds"],
                f"{result[k]['trainable_params']:,}",
            ]
            for k in ("recycled", "independent")
        ],
    )
    console.print(
        f"Gain over the independent small network: {100 * result['gain']:+.1f} points; "
        f"total {result['seconds']:.0f} s."
    )
    console.print(f"Wrote {result['files']['results']} and {result['files']['report']}")
