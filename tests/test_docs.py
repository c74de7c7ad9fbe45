"""Every CLI command has help and appears in the README (the docs stay true to the code)."""

from __future__ import annotations

from pathlib import Path

import pytest
import typer.main

from recycle.cli import app, main

README = (Path(__file__).parent.parent / "README.md").read_text()


def _commands() -> list[tuple[str, ...]]:
    root = typer.main.get_command(app)
    out: list[tuple[str, ...]] = []
    for name, cmd in root.commands.items():  # type: ignore[attr-defined]
        if hasattr(cmd, "commands"):  # a group (typer vendors its own click)
            out += [(name, sub) for sub in cmd.commands]
        else:
            out.append((name,))
    return out


COMMANDS = _commands()


def test_the_design_commands_exist() -> None:
    expected = {
        ("demo",), ("search",), ("select",), ("fit",), ("predict",), ("evaluate",), ("bench",),
        ("serve",), ("zoo", "init"), ("zoo", "list"), ("zoo", "show"), ("zoo", "add"),
        ("zoo", "remove"), ("zoo", "build-demo"), ("spec", "build"), ("keys", "create"),
        ("keys", "list"), ("keys", "revoke"),
    }  # fmt: skip
    assert expected <= set(COMMANDS)


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_every_command_has_help(
    command: tuple[str, ...], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main([*command, "--help"]) == 0
    out = capsys.readouterr().out
    assert "Usage" in out and len(out.strip().splitlines()) > 3


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_every_command_is_in_the_readme(command: tuple[str, ...]) -> None:
    if len(command) == 1:
        assert f"recycle {command[0]}" in README
    else:
        group, sub = command
        assert f"recycle {group} " in README and sub in README


def test_readme_shows_the_two_commands() -> None:
    assert "make demo" in README and "make test" in README
