"""CLI command ``recycle select DATA``: rank the zoo's sources for a labelled target."""

from __future__ import annotations

import warnings
from typing import Annotated, Any

import typer

from recycle.cli.app import JsonOption, ZooOption, app, parse_m
from recycle.cli.files import (
    CacheOption,
    card_candidates,
    card_schema,
    collected_warnings,
    open_zoo,
    print_warnings,
)
from recycle.errors import ConfigError, IncompatibleError

SCORE_NAMES = ("knn", "logme", "leep", "nce", "hscore", "gbc", "linear")


@app.command("select")
def select_command(
    data: Annotated[str, typer.Argument(help="Target: .npz (X, y), .csv/.parquet, image folder.")],
    score: Annotated[
        str, typer.Option("--score", help=f"Transferability score: {'|'.join(SCORE_NAMES)}.")
    ] = "knn",
    top: Annotated[int | None, typer.Option("--top", help="Show only the best K sources.")] = None,
    m: Annotated[str, typer.Option("--m", help="Sources to keep: 'auto' or an int.")] = "auto",
    cache: CacheOption = None,
    zoo: ZooOption = None,
    json_out: JsonOption = False,
) -> None:
    """Rank the zoo's sources for the labelled target DATA and choose the subset to recycle."""
    from recycle.cli.render import print_json, print_table, rich_progress
    from recycle.data import load_target
    from recycle.schema import learn_schema
    from recycle.select import select_sources
    from recycle.tabular.market import market_pool

    if score not in SCORE_NAMES:
        raise ConfigError(f"Unknown --score {score!r}; valid scores are {', '.join(SCORE_NAMES)}.")
    m_value = parse_m(m)
    opened = open_zoo(zoo)
    with collected_warnings() as caught, rich_progress(enabled=not json_out) as progress:
        schema = card_schema(data, opened, keep_extra=True)
        target = load_target(data, schema=schema)
        pool: Any = opened
        left_out: list[str] = []
        if schema is None and target.columns:  # named columns, read whole: map them by name
            pool, left_out = market_pool(opened, learn_schema(target.features())[1], target.X)
        if isinstance(pool, list) and not pool:
            raise IncompatibleError(
                f"No source in the zoo is usable for this table ({'; '.join(left_out)})."
            )
        if left_out:
            warnings.warn(f"Sources left out: {'; '.join(left_out)}.", UserWarning, stacklevel=1)
        sel = select_sources(
            pool, target.X, target.y, score=score, m=m_value, top=top, progress=progress,
            candidates=card_candidates(schema, opened), cache=cache,
        )  # fmt: skip
    print_warnings(caught)
    if json_out:
        print_json(sel.to_dict())
        return
    chosen = set(sel.selected)
    rows = [
        [
            i + 1,
            r.name,
            r.score if r.error is None else "-",
            f"{r.seconds:.2f}",
            "yes" if r.source_id in chosen and r.error is None else "",
            r.error or "",
        ]
        for i, r in enumerate(sel.ranking)
    ]
    print_table(
        f"Sources ranked by {score} (m={sel.m}, {sel.m_mode})",
        ["rank", "source", "score", "seconds", "selected", "error"],
        rows,
        optional=["seconds"],
    )
