"""Generate ``docs/cli.md``, the command-line reference, from the Typer app (never typed).

Usage: python scripts/gen_cli_docs.py [--check]

Walks every command of :data:`recycle.cli.app` (groups included) and writes one section per
command: its help text, a usage line and a table of its arguments and options with their types,
defaults and help. ``--check`` writes nothing and exits 1 when ``docs/cli.md`` differs from what
the app would generate (``tests/project/test_docs.py`` runs the same comparison), so regenerate
after adding or changing a command.
"""

from __future__ import annotations

import sys
import types
import typing
from pathlib import Path
from typing import Any

import typer.main

from recycle.cli import app

DOCS = Path(__file__).resolve().parents[1] / "docs" / "cli.md"

HEADER = """# Command-line reference

Generated from the `recycle` Typer app by `scripts/gen_cli_docs.py`; do not edit by hand (a test
fails when this file and the app disagree). Every command also prints this with `--help`.

Exit codes: 0 on success, 2 on bad input with a one-line error naming the problem and the fix
(never a traceback). Commands that touch a zoo take `--zoo PATH_OR_URL` (default `$RECYCLE_ZOO`,
else `./zoo`); commands that print results take `--json`.
"""


def command_paths(group: Any, prefix: tuple[str, ...] = ()) -> list[tuple[tuple[str, ...], Any]]:
    """Every leaf command under ``group`` as ``(path, click command)``, in registration order.

    >>> paths = [" ".join(p) for p, _ in command_paths(typer.main.get_command(app))]
    >>> "fit" in paths and "zoo init" in paths
    True
    """
    out: list[tuple[tuple[str, ...], Any]] = []
    for name, cmd in group.commands.items():
        if cmd.hidden:
            continue
        if hasattr(cmd, "commands"):  # a group (typer vendors its own click)
            out += command_paths(cmd, (*prefix, name))
        else:
            out.append(((*prefix, name), cmd))
    return out


def _type_name(annotation: Any) -> str:
    """``int``, ``path``, ``str``...: the annotation without ``| None``.

    >>> _type_name(int | None), _type_name(Path), _type_name(bool)
    ('int', 'path', 'flag')
    """
    if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is typing.Union:
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        return " or ".join(_type_name(a) for a in args)
    if annotation is bool:
        return "flag"
    return getattr(annotation, "__name__", str(annotation)).lower()


def _default(param: Any) -> str:
    if param.required:
        return "required"
    default = param.default
    if default is None or default is False:
        return "–"
    if default is True:
        return "on"
    return f"`{default}`"


def _cell(text: str | None) -> str:
    return " ".join((text or "").split()).replace("|", "\\|")


def render_command(path: tuple[str, ...], cmd: Any) -> str:
    """The Markdown section of one command."""
    args = [p for p in cmd.params if p.param_type_name == "argument"]
    opts = [p for p in cmd.params if p.param_type_name == "option" and not p.hidden]
    usage = " ".join(["recycle", *path, *(["[OPTIONS]"] if opts else [])])
    usage += "".join(f" {p.name.upper()}" for p in args)
    lines = [f"## recycle {' '.join(path)}", "", _cell(cmd.help), "", "```", usage, "```"]
    if args or opts:
        lines += ["", "| argument / option | type | default | description |", "|---|---|---|---|"]
        for p in args + opts:
            name = p.name.upper() if p.param_type_name == "argument" else ", ".join(p.opts)
            kind = _type_name(p.type_descriptor.annotation)
            lines.append(f"| `{name}` | {kind} | {_default(p)} | {_cell(p.help)} |")
    return "\n".join(lines)


def render() -> str:
    """The whole of ``docs/cli.md`` for the current app."""
    root = typer.main.get_command(app)
    paths = command_paths(root)
    index = ["| command | what it does |", "|---|---|"] + [
        f"| [`recycle {' '.join(p)}`](#recycle-{'-'.join(p)}) | {_cell(c.help).split('. ')[0]} |"
        for p, c in paths
    ]
    sections = [render_command(p, c) for p, c in paths]
    return "\n\n".join([HEADER.rstrip(), "\n".join(index), *sections]) + "\n"


def write_or_check(path: Path, text: str, argv: list[str]) -> int:
    """Write ``text`` to ``path``; with ``--check`` in ``argv`` only compare (1 if stale)."""
    if "--check" in argv:
        if not path.exists() or path.read_text() != text:
            print(f"{path} is stale: run python {sys.argv[0]}", file=sys.stderr)
            return 1
        return 0
    path.write_text(text)
    print(f"Wrote {path}")
    return 0


def main(argv: list[str]) -> int:
    return write_or_check(DOCS, render(), argv)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
