"""The Typer application object and the options every command shares.

Command modules (``recycle/cli/<group>.py``) import :data:`app` (or create a sub-app and add it
here) and register their commands; :func:`recycle.cli.main` runs it with the error policy of
DESIGN.md: a :class:`~recycle.errors.RecycleError` becomes one line on stderr and exit code 2.
"""

from __future__ import annotations

import os
from typing import Annotated

import typer

from recycle.errors import ConfigError

app = typer.Typer(
    name="recycle",
    help="Model recycling: find related pre-trained models and recycle them for a new task.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
zoo_app = typer.Typer(
    help="Manage a model zoo: init, list, show, add, remove.", no_args_is_help=True
)
spec_app = typer.Typer(help="Data-free specifications (RKME).", no_args_is_help=True)
keys_app = typer.Typer(help="API keys of the HTTP service.", no_args_is_help=True)
app.add_typer(zoo_app, name="zoo")
app.add_typer(spec_app, name="spec")
app.add_typer(keys_app, name="keys")

DEFAULT_ZOO = "zoo"


def zoo_location(value: str | None) -> str:
    """The zoo to use: ``--zoo``, else ``$RECYCLE_ZOO``, else ``./zoo``."""
    return value or os.environ.get("RECYCLE_ZOO") or DEFAULT_ZOO


ZooOption = Annotated[
    str | None,
    typer.Option("--zoo", help="Zoo folder or SQLAlchemy URL (default: $RECYCLE_ZOO, else ./zoo)."),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")]


def parse_m(value: str) -> int | str:
    """The ``--m`` option: ``"auto"`` or an int >= 1 (ConfigError otherwise).

    Examples
    --------
    >>> parse_m("auto"), parse_m("3")
    ('auto', 3)
    """
    if value == "auto":
        return "auto"
    try:
        m = int(value)
    except ValueError:
        m = 0
    if m < 1:
        raise ConfigError(f"--m must be 'auto' or an int >= 1. Got {value!r} instead.")
    return m
