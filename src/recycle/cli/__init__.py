"""The ``recycle`` command line: a thin shell over the library.

Every command module registers itself on :data:`recycle.cli.app.app` when imported below.
Library errors (:class:`~recycle.errors.RecycleError`) become a one-line message on stderr and
exit code 2, never a traceback.
"""

from __future__ import annotations

import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

import click
import typer

from recycle.cli import bench as _bench  # noqa: F401

# Command modules register their commands on import (order = order in --help).
from recycle.cli import demo as _demo  # noqa: F401
from recycle.cli import deploy as _deploy  # noqa: F401
from recycle.cli import fit as _fit  # noqa: F401
from recycle.cli import reuse as _reuse  # noqa: F401
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
#: Exit code after Ctrl-C: 128 + SIGINT, as shells report it.
EXIT_INTERRUPTED = 130


class _Interrupted(BaseException):
    """Ctrl-C. Raised instead of KeyboardInterrupt, which typer turns into a silent exit code."""


def _raise_interrupted(_signum: int, _frame: FrameType | None) -> None:
    raise _Interrupted


@contextmanager
def _ctrl_c_raises() -> Iterator[None]:
    """While the CLI runs, Ctrl-C raises :class:`_Interrupted` (main thread only)."""
    if (
        threading.current_thread() is not threading.main_thread()
        or signal.getsignal(signal.SIGINT) is not signal.default_int_handler
    ):
        yield
        return
    previous = signal.signal(signal.SIGINT, _raise_interrupted)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; return its exit code (0 ok, 2 bad input, 130 Ctrl-C; never a traceback
    for bad input).

    Examples
    --------
    >>> main(["bench", "nope"])
    2
    """
    try:
        with _ctrl_c_raises():
            code = app(args=argv, standalone_mode=False)
    except RecycleError as exc:
        typer.echo(f"Error: {exc}", err=True)
        return 2
    except _EXIT as exc:  # older typer raises Exit; newer returns its code (below)
        code = int(getattr(exc, "exit_code", 0) or 0)
    except (_Interrupted, KeyboardInterrupt, *_ABORT):
        code = EXIT_INTERRUPTED
    except _USAGE as exc:
        exc.show()  # type: ignore[attr-defined]
        return 2
    code = code if isinstance(code, int) else 0
    if code == EXIT_INTERRUPTED:
        typer.echo("Error: interrupted (Ctrl-C).", err=True)
    return code


def entry_point() -> None:  # pragma: no cover - thin wrapper for the console script
    sys.exit(main())
