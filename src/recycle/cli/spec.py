"""CLI commands ``recycle spec build`` (provider side) and ``recycle search`` (user side)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import numpy as np
import typer

from recycle.cli.app import JsonOption, ZooOption, app, spec_app
from recycle.cli.files import (
    ForceOption,
    card_schema,
    check_out_file,
    collected_warnings,
    open_zoo,
    print_warnings,
)
from recycle.errors import ConfigError

SPEC_SUFFIXES = (".json", ".safetensors")
SpaceOption = Annotated[
    str,
    typer.Option(
        "--space",
        help="'input' (raw rows), 'auto' (default space of the data's modality) or a builtin "
        "source name such as effnet_lite0.imagenet / minilm_l6.onnx.",
    ),
]


def load_rows(path: str, zoo: Any = None) -> tuple[Any, str]:
    """Rows of DATA (labels not needed) and their modality, in any format ``predict`` reads;
    a table's columns matched by name to those the ``zoo``'s cards name."""
    from recycle.data import infer_modality
    from recycle.inputs import load_inputs

    X = load_inputs(path, schema=card_schema(path, zoo)).X
    X = X.to_numpy() if hasattr(X, "to_numpy") else X
    return X, infer_modality(X)


def resolve_space_arg(space: str, X: Any, modality: str) -> str:
    """The full space id ``name:dim`` for ``--space``."""
    from recycle.spec import space_for

    if space == "input":
        if modality == "text":
            raise ConfigError("Text has no raw numeric space; use --space auto or minilm_l6.onnx.")
        return f"input:{int(np.prod(np.asarray(X).shape[1:]))}"
    if space == "auto":
        return space_for(modality, X)
    if ":" in space:
        return space
    from recycle.sources import builtin

    return f"{space}:{int(builtin(space).feature_dim)}"


def spec_of_data(path: str, space: str | None, m: int, seed: int, zoo: Any = None) -> Any:
    """Embed DATA into ``space`` and build its spec (rows never leave this machine); a table's
    columns are matched to the ``zoo``'s cards by name.

    ``space=None``: the space among the zoo's spec spaces that fits the data (``choose_space``).
    """
    from recycle.spec import build_spec, choose_space, embed_for_space
    from recycle.zoo.spec_index import spaces

    X, modality = load_rows(path, zoo)
    if space is None:
        space_id = choose_space(spaces(zoo) if zoo is not None else set(), modality, X)
    else:
        space_id = resolve_space_arg(space, X, modality)
    F = embed_for_space(space_id, X)
    m_eff = min(m, max(1, F.shape[0] // 2))
    return build_spec(F, m=m_eff, space=space_id, seed=seed)


@spec_app.command("build")
def build_command(
    data: Annotated[str, typer.Argument(help="DATA: .npz (X), .csv/.parquet or image folder.")],
    out: Annotated[
        Path, typer.Option("--out", help="Where to write the spec (.json or .safetensors).")
    ],
    m: Annotated[
        int, typer.Option("--m", help="Reduced points: fewer = more private, coarser.")
    ] = 100,
    space: SpaceOption = "input",
    seed: Annotated[int, typer.Option("--seed", help="Seed of the build.")] = 0,
    force: ForceOption = False,
    json_out: JsonOption = False,
) -> None:
    """Build a data-free specification (RKME) of DATA; only the spec leaves this machine."""
    from recycle.cli.render import console, print_json

    check_out_file(str(out), force)
    spec = spec_of_data(data, space, m, seed)
    spec.save(out)
    info = {"out": str(out), "space": spec.space, "m": spec.m, "n": spec.n,
            "gamma": spec.gamma, "residual": spec.residual}  # fmt: skip
    if json_out:
        print_json(info)
    else:
        console.print(
            f"Wrote {out}: {spec.m} reduced points summarising {spec.n} rows in {spec.space} "
            f"(gamma {spec.gamma:.3g}, residual {spec.residual:.2g})."
        )


@app.command("search")
def search_command(
    data_or_spec: Annotated[str, typer.Argument(help="A spec file (.json/.safetensors) or DATA.")],
    top: Annotated[int, typer.Option("--top", help="Number of hits to show.")] = 5,
    space: Annotated[
        str | None,
        typer.Option(
            "--space",
            help="Space to embed DATA in (as for `spec build`); default: the space of the zoo's "
            "specs that fits DATA (raw features, else the modality's default embedding).",
        ),
    ] = None,
    mixture: Annotated[
        bool, typer.Option("--mixture", help="Also explain the data as a mixture of sources.")
    ] = False,
    zoo: ZooOption = None,
    json_out: JsonOption = False,
) -> None:
    """Statistical search: zoo entries whose spec is closest (MMD) to the data or spec."""
    from recycle.cli.render import print_json, print_table
    from recycle.spec import Spec, mixture_search
    from recycle.zoo.query import ranked

    if top < 1:
        raise ConfigError(f"--top must be >= 1. Got {top} instead.")
    p = Path(data_or_spec)
    is_spec = p.suffix in SPEC_SUFFIXES and p.is_file()
    opened = open_zoo(zoo)
    with collected_warnings() as caught:
        query = Spec.load(p) if is_spec else spec_of_data(data_or_spec, space, 100, 0, opened)
    print_warnings(caught)
    found, res = ranked(opened, query, top)
    if res is None:
        raise ConfigError(
            f"No zoo entry has a spec in space {query.space!r}; add some with --spec-data "
            "or search another --space."
        )
    hits = [{"rank": h.rank, "name": h.entry.name, "version": h.entry.version, "id": h.entry.id,
             "mmd2": h.score, "ratio": h.ratio, "related": h.related} for h in found]  # fmt: skip
    out: dict[str, Any] = {"space": query.space, "gamma": res.gamma, "hits": hits,
                           "notes": res.notes}  # fmt: skip
    if mixture:
        pairs = opened.specs(query.space)
        mix = mixture_search(query, [s for _, s in pairs])
        out["mixture"] = [
            {"name": pairs[int(i)][0].name, "weight": float(w), "coverage": float(c)}
            for i, w, c in zip(mix.indices, mix.weights, mix.coverage, strict=True)
        ]
        out["mixture_mmd2"] = mix.mmd2
    if json_out:
        print_json(out)
        return
    print_table(
        f"Closest specs in {query.space} (ratio ~1: same distribution; related: ratio <= 2)",
        ["rank", "name", "version", "mmd2", "ratio", "related"],
        [[h["rank"], h["name"], h["version"], h["mmd2"], h["ratio"], h["related"]] for h in hits],
    )
    for note in res.notes:
        typer.echo(f"Note: {note}", err=True)
    if mixture:
        print_table(
            "Mixture of sources",
            ["name", "weight", "coverage"],
            [[r["name"], r["weight"], r["coverage"]] for r in out["mixture"]],
        )
