"""Running ``recycle`` commands in-process from tests."""

from __future__ import annotations

import pytest

from recycle.cli import main


def run_cli(capsys: pytest.CaptureFixture, argv: list[str]) -> tuple[int, str, str]:
    """``recycle ARGV`` in this process: ``(exit code, stdout, stderr)``."""
    code = main(argv)
    captured = capsys.readouterr()
    return code, captured.out, captured.err
