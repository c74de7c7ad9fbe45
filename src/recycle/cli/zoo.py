"""CLI ``recycle zoo init|list|show|add|remove|fsck|reindex``: a thin shell over :class:`Zoo`."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer

from recycle.cli.app import JsonOption, ZooOption, zoo_app, zoo_location
from recycle.errors import ConfigError

if TYPE_CHECKING:
    from recycle.zoo import Zoo, ZooEntry

BUILTIN_PREFIX = "builtin:"
VersionOption = Annotated[
    str | None, typer.Option("--version", help="A version (default: latest / all).")
]


def _open(zoo: str | None, create: bool = False) -> Zoo:
    """The zoo; only ``zoo init`` and ``zoo add`` create a missing one."""
    from recycle.zoo import Zoo

    return Zoo.open(zoo_location(zoo), create=create)


def _row(e: ZooEntry) -> list[Any]:
    return [e.name, e.version, e.card.modality, e.card.access, e.card.task,
            e.card.output.feature_dim, e.card.license, e.spec_space or "-", e.id[:8]]  # fmt: skip


COLUMNS = ["name", "version", "modality", "access", "task", "dim", "license", "spec", "id"]
#: Columns ``zoo list`` leaves out, in this order, when the terminal is too narrow.
NARROW_DROP = ["dim", "task", "access", "license", "id", "spec"]


@zoo_app.command("init")
def init_command(zoo: ZooOption = None, json_out: JsonOption = False) -> None:
    """Create an empty zoo (catalog + artifact store), or check that an existing one opens."""
    from recycle.cli.render import console, print_json

    opened = _open(zoo, create=True)
    stats = opened.stats()
    if json_out:
        print_json({"location": opened.location, "artifacts": opened.store.url, **stats})
        return
    console.print(
        f"Zoo ready at {opened.location} (artifacts: {opened.store.url}): "
        f"{stats['entries']} entries, {stats['blobs']} blobs."
    )


@zoo_app.command("list")
def list_command(
    modality: Annotated[str | None, typer.Option(help="image, text or tabular.")] = None,
    task: Annotated[str | None, typer.Option(help="Task, e.g. classification.")] = None,
    access: Annotated[str | None, typer.Option(help="white-box or black-box.")] = None,
    license: Annotated[str | None, typer.Option("--license", help="Licence id.")] = None,
    provider: Annotated[str | None, typer.Option(help="Provider name.")] = None,
    query: Annotated[
        str | None, typer.Option("--query", "-q", help="Text in name or description.")
    ] = None,
    all_versions: Annotated[
        bool, typer.Option("--all-versions", help="Every version, not just the latest.")
    ] = False,
    zoo: ZooOption = None,
    json_out: JsonOption = False,
) -> None:
    """List the zoo's models (latest versions), optionally filtered."""
    from recycle.cli.render import print_json, print_table

    entries = _open(zoo).list(
        modality=modality, task=task, access=access, license=license, provider=provider,
        query=query, all_versions=all_versions,
    )  # fmt: skip
    if json_out:
        print_json([e.to_dict() for e in entries])
        return
    print_table(f"Zoo models ({len(entries)})", COLUMNS, [_row(e) for e in entries], NARROW_DROP)


@zoo_app.command("show")
def show_command(
    name: Annotated[str, typer.Argument(help="Model name, name@version or entry id.")],
    version: VersionOption = None,
    zoo: ZooOption = None,
    json_out: JsonOption = False,
) -> None:
    """Show one model's card and storage details."""
    from recycle.cli.render import print_json, print_table

    entry = _open(zoo).get(name, version or "latest")
    if json_out:
        print_json(entry.to_dict())
        return
    card = entry.card
    rows: list[list[Any]] = [["id", entry.id], ["registered", entry.created.isoformat()],
                             ["artifact sha256", entry.artifact_sha256],
                             ["size (bytes)", entry.size_bytes],
                             ["spec space", entry.spec_space or "-"],
                             ["parents", ", ".join(entry.parents) or "-"]]  # fmt: skip
    for key, value in card.to_dict().items():
        if key == "output" and len(value["source_classes"]) > 10:
            classes = value["source_classes"]
            value = {**value, "source_classes": f"{len(classes)} classes: {classes[:5]}..."}
        rows.append([key, value])
    print_table(f"{entry.name}@{entry.version}", ["field", "value"], rows)


@zoo_app.command("add")
def add_command(
    model: Annotated[
        str,
        typer.Argument(
            help="builtin:NAME, or a .safetensors (with --arch), .onnx, .skops, LightGBM .txt."
        ),
    ],
    card: Annotated[
        str | None, typer.Option("--card", help="Model card JSON (optional for builtins).")
    ] = None,
    arch: Annotated[
        str | None, typer.Option("--arch", help="Architecture JSON for .safetensors/.onnx.")
    ] = None,
    spec_data: Annotated[
        str | None, typer.Option("--spec-data", help=".npz with X: build and store a spec.")
    ] = None,
    version: VersionOption = None,
    no_validate: Annotated[
        bool, typer.Option("--no-validate", help="Skip the checker (trusted models only).")
    ] = False,
    zoo: ZooOption = None,
    json_out: JsonOption = False,
) -> None:
    """Register a model with its card (checked in a separate, limited process first)."""
    from recycle.cli.render import console, print_json
    from recycle.zoo import ModelCard
    from recycle.zoo.importers import read_card, serialized_from_file, spec_from_data

    the_card = read_card(card) if card else None
    opened = _open(zoo, create=True)
    source, payload = None, None
    if model.startswith(BUILTIN_PREFIX):
        from recycle.sources import builtin
        from recycle.zoo.builtin_cards import builtin_card

        name = model[len(BUILTIN_PREFIX) :]
        source = builtin(name)
        the_card = the_card or builtin_card(name, source)
    elif the_card is None:
        raise ConfigError(f"Adding {model!r} needs --card CARD.json (only builtins have one).")
    else:
        payload = serialized_from_file(model, the_card, arch)
    if version:
        the_card = ModelCard.from_dict({**the_card.to_dict(), "version": version})
    spec = spec_from_data(spec_data, the_card.modality) if spec_data else None
    if payload is None:
        entry = opened.register(source, the_card, spec=spec, validate=not no_validate)
    else:
        entry = opened.register_files(*payload, the_card, spec=spec, validate=not no_validate)
    if json_out:
        print_json(entry.to_dict())
        return
    console.print(f"Added {entry.name}@{entry.version} (id {entry.id}).")


@zoo_app.command("remove")
def remove_command(
    name: Annotated[str, typer.Argument(help="Model name, name@version or entry id.")],
    version: VersionOption = None,
    zoo: ZooOption = None,
    json_out: JsonOption = False,
) -> None:
    """Remove a model (every version of NAME unless --version or name@version is given)."""
    from recycle.cli.render import console, print_json

    removed = _open(zoo).remove(name, version)
    if json_out:
        print_json([{"id": e.id, "name": e.name, "version": e.version} for e in removed])
        return
    console.print("Removed " + ", ".join(f"{e.name}@{e.version}" for e in removed) + ".")


@zoo_app.command("fsck")
def fsck_command(
    repair: Annotated[bool, typer.Option("--repair", help="Delete orphans and leftovers.")] = False,
    verify: Annotated[bool, typer.Option("--verify", help="Re-hash every artifact.")] = False,
    zoo: ZooOption = None,
    json_out: JsonOption = False,
) -> None:
    """Check that the catalog and the artifact store agree (exit 2 if problems remain)."""
    from recycle.cli.render import console, print_json

    report = _open(zoo).fsck(repair=repair, verify=verify)
    if json_out:
        print_json(report.to_dict())
    elif report.clean:
        console.print("Zoo is consistent.")
    else:
        for key, value in report.to_dict().items():
            if isinstance(value, list) and value:
                console.print(f"{key}: {len(value)}: {', '.join(map(str, value[:5]))}")
    broken = report.missing_blobs or report.corrupt_blobs
    if broken or (not report.clean and not repair):
        raise ConfigError(
            "The zoo has problems (see above); run `recycle zoo fsck --repair` for leftovers, "
            "and remove and re-register entries with missing or corrupt artifacts."
        )


@zoo_app.command("reindex")
def reindex_command(zoo: ZooOption = None, json_out: JsonOption = False) -> None:
    """Rebuild the zoo's persistent spec indexes (one per space) from the stored specs."""
    from recycle.cli.render import console, print_json
    from recycle.zoo.spec_index import reindex

    counts = reindex(_open(zoo))
    if json_out:
        print_json({"spaces": counts})
        return
    for space, n in counts.items():
        console.print(f"Indexed {n} specs in {space}.")
    if not counts:
        console.print("No entry has a spec; nothing to index.")
