"""The ``recycle`` command line: a thin shell over the library.

Every command module registers itself on :data:`recycle.cli.app.app` when imported below.
Library errors (:class:`~recycle.errors.RecycleError`) become a one-line message on stderr and
exit code 2, never a traceback.
"""

from __future__ import annotations

import sys

import click
import typer

from recycle.cli import bench as _bench  # noqa: F401

# Command modules register their commands on import (order = order in --help).
from recycle.cli import demo as _demo  # noqa: F401
from recycle.cli import deploy as _deploy  # noqa: F401
from recycle.cli import fit as _fit  # noqa: F401
from recycle.cli import select as _select  # noqa: F401
from recycle.cli import serve as _serve  # noqa: F401
from recycle.cli import spec as _spec  # noqa: F401
from recycle.cli import zoo as _zoo  # noqa: F401
from recycle.cli.app import app
from recycle.errors import RecycleError

__all__ = ["app", "main"]


def _usage_errors() -> tuple[type[Exception], ...]:
    """Usage-error classes: recent typer raises those of its own vendored copy of click."""
    try:
        from typer._click.exceptions import ClickException as Vendored
    except ImportError:  # an older typer that uses click itself
        return (click.ClickException,)
    return (click.ClickException, Vendored)


_EXIT = (click.exceptions.Exit, typer.Exit)
_ABORT = (click.exceptions.Abort, getattr(typer, "Abort", click.exceptions.Abort))
_USAGE = _usage_errors()


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; return its exit code (0 ok, 2 bad input, never a traceback for bad input).

    Examples
    --------
    >>> main(["bench", "nope"])
    2
    """
    try:
        app(args=argv, standalone_mode=False)
    except RecycleError as exc:
        typer.echo(f"Error: {exc}", err=True)
        return 2
    except _EXIT as exc:
        return int(getattr(exc, "exit_code", 0) or 0)
    except _ABORT:
        typer.echo("Aborted.", err=True)
        return 1
    except _USAGE as exc:
        exc.show()  # type: ignore[attr-defined]
        return 2
    except KeyboardInterrupt:
        typer.echo("Interrupted.", err=True)
        return 130
    return 0


def entry_point() -> None:  # pragma: no cover - thin wrapper for the console script
    sys.exit(main())
