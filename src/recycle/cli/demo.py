"""CLI: ``recycle demo`` (what ``make demo`` runs) and ``recycle zoo build-demo``.

The logic lives in :mod:`recycle.bench.demo`; this module only renders its results.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from recycle.cli.app import JsonOption, ZooOption, app, zoo_app, zoo_location
from recycle.cli.render import console, print_json, print_table, rich_progress
from recycle.errors import ConfigError

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
    from recycle.bench.demo import DemoConfig, build_demo_zoo

    if modality not in MODALITIES:
        raise ConfigError(f"--modality must be one of {', '.join(MODALITIES)}; got {modality!r}.")
    if modality == "tabular":
        _build_tabular(quick, zoo, json_out)
        return
    opened = _open(zoo)
    if modality == "text":
        _build_text(opened, quick, json_out)
        return
    with rich_progress(enabled=not json_out) as progress:
        summary = build_demo_zoo(opened, DemoConfig(quick=quick), progress)
    if json_out:
        print_json(summary.to_dict())
        return
    console.print(
        f"Demo zoo at {summary.location}: {len(summary.registered)} registered, "
        f"{len(summary.present)} already there ({summary.seconds:.0f} s)."
    )


def _build_tabular(quick: bool, zoo: str | None, json_out: bool) -> None:
    import time

    from recycle.tabular.zoo import build_tabular_zoo

    opened, start = _open(zoo), time.perf_counter()
    with rich_progress(enabled=not json_out) as progress:
        registered, present = build_tabular_zoo(opened, quick=quick, progress=progress)
    seconds = time.perf_counter() - start
    if json_out:
        print_json({"location": str(opened.location), "registered": registered,
                    "present": present, "seconds": round(seconds, 3)})  # fmt: skip
        return
    console.print(
        f"Tabular demo zoo at {opened.location}: {len(registered)} registered, "
        f"{len(present)} already there ({seconds:.0f} s)."
    )


def _build_text(zoo: Any, quick: bool, json_out: bool) -> None:
    from recycle.bench.text_library import TextLibraryRecipe, build_text_library

    with rich_progress(enabled=not json_out) as progress:
        summary = build_text_library(zoo, TextLibraryRecipe(quick=quick), progress)
    if json_out:
        print_json(summary.to_dict())
        return
    console.print(
        f"Text LoRA library at {summary.location} ({summary.prefix}): "
        f"{len(summary.registered)} registered, {len(summary.present)} already there, "
        f"{len(summary.trained)} trained ({summary.seconds:.0f} s)."
    )


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
