"""CLI: ``recycle bench PROTOCOL [--quick] [--seeds N] [--out DIR]``."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer

from recycle.cli.app import JsonOption, app
from recycle.cli.render import console, print_json, rich_progress


@app.command()
def bench(
    protocol: Annotated[
        str, typer.Argument(help="stream28, realzoo, text, text_fewshot, tabular, or all.")
    ],
    quick: Annotated[bool, typer.Option("--quick", help="Small variant (minutes).")] = False,
    seeds: Annotated[int, typer.Option("--seeds", help="Number of seeds.")] = 3,
    out: Annotated[Path, typer.Option("--out", help="Output folder.")] = Path("results"),
    methods: Annotated[
        str | None, typer.Option("--methods", help="Comma-separated subset of the methods.")
    ] = None,
    max_targets: Annotated[
        int | None, typer.Option("--max-targets", help="Run only the first N targets.")
    ] = None,
    shots: Annotated[
        str | None, typer.Option("--shots", help="Comma-separated subset of the shot counts.")
    ] = None,
    quick_pool: Annotated[
        bool, typer.Option("--quick-pool", help="Full targets, but the quick stream28 zoo.")
    ] = False,
    resume: Annotated[
        bool,
        typer.Option("--resume", help="Keep the rows already in --out and run only the rest."),
    ] = False,
    growing_pool: Annotated[
        bool,
        typer.Option(
            "--growing-pool",
            help="stream28: each finished target's model joins the pool of later targets.",
        ),
    ] = False,
    shard: Annotated[
        str | None,
        typer.Option(
            "--shard",
            help="I/N: run I of N side-by-side runs (targets dealt by shots; each uses "
            "cores/N threads).",
        ),
    ] = None,
    base_tasks: Annotated[
        int | None,
        typer.Option(
            "--base-tasks",
            help="stream28: train the shared base on the first N source tasks only (1: EFT).",
        ),
    ] = None,
    json_out: JsonOption = False,
) -> None:
    """Run a benchmark protocol; write results.json and report.html under --out."""
    from recycle.bench.protocols import protocol_names, run_protocol
    from recycle.bench.report import write_report
    from recycle.errors import ConfigError
    from recycle.sources.cache import FeatureCache, use_cache

    names = protocol_names() if protocol == "all" else [protocol]
    method_list = tuple(m.strip() for m in methods.split(",") if m.strip()) if methods else None
    try:
        shot_list = tuple(int(v) for v in shots.split(",")) if shots else None
    except ValueError as exc:
        raise ConfigError(f"--shots must be comma-separated integers; got {shots!r}.") from exc
    shard_pair = _parse_shard(shard) if shard else None
    summary = []
    for name in names:
        start = time.perf_counter()
        folder = out / name if len(names) > 1 else out
        # benchmarks embed the same offline data again and again: they ask for the cache
        with rich_progress(enabled=not json_out) as progress, use_cache(FeatureCache()):
            results = run_protocol(
                name, quick=quick, seeds=seeds, progress=progress, methods=method_list,
                max_targets=max_targets, shots=shot_list, quick_pool=quick_pool,
                checkpoint=str(folder / "results.json"), resume=resume,
                growing_pool=growing_pool, shard=shard_pair, base_tasks=base_tasks,
            )  # fmt: skip
        results.meta["wall_seconds"] = round(time.perf_counter() - start, 1)
        results_path = results.save(folder / "results.json")
        report_path = write_report(results, folder / "report.html")
        summary.append(
            {
                "protocol": name,
                "results": str(results_path),
                "report": str(report_path),
                "wall_seconds": results.meta["wall_seconds"],
            }
        )
        if not json_out:
            console.print(f"[bold]{name}[/bold] ({results.meta['wall_seconds']:.0f} s)")
            console.print(results.markdown_table())
            console.print(f"wrote {results_path} and {report_path}")
    if json_out:
        print_json(summary)


def _parse_shard(text: str) -> tuple[int, int]:
    """``"0/2"`` -> ``(0, 2)``; a one-line ConfigError otherwise."""
    from recycle.errors import ConfigError

    i, sep, n = text.partition("/")
    if not sep or not i.strip().isdigit() or not n.strip().isdigit():
        raise ConfigError(f"--shard must look like I/N (e.g. 0/2); got {text!r}.")
    return int(i), int(n)
