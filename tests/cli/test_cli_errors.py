"""Bad command lines exit 2 with a one-line error, never a traceback."""

from __future__ import annotations

import pytest

from recycle.cli import main


@pytest.mark.parametrize(
    "argv",
    [
        ["bench", "stream28", "--seeds", "three"],  # not an int (typer's own usage error)
        ["bench", "no-such-protocol"],  # a RecycleError from the library
        ["bench", "stream28", "--shard", "2/2"],  # shard index out of range
        ["bench", "stream28", "--shard", "half"],  # not I/N
        ["bench", "text", "--growing-pool"],  # stream28 only
        ["bench", "stream28", "--shard", "0/2", "--growing-pool"],  # cannot combine
        ["no-such-command"],
        ["fit"],  # missing argument
    ],
)
def test_bad_command_lines_exit_2_without_traceback(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "Error" in err and "Traceback" not in err
