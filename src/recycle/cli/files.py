"""What the CLI reads and writes for the user: zoos that must exist, outputs that never replace
the user's files, warnings printed as one line each, and card column names.

Rules (DESIGN.md, "Contracts added for the second wave"):

- commands that only read a zoo open it with ``create=False``: a mistyped ``--zoo`` is an error
  and nothing is created; ``zoo init``, ``zoo add`` and ``zoo build-demo`` create one;
- an output file (``--out``) is written under a temporary name and renamed; an existing file is
  replaced only with ``--force``, a folder never (model folders: see
  :func:`recycle.adapt.persist.check_writable`).
"""

from __future__ import annotations

import os
import tempfile
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from recycle.cli.app import zoo_location
from recycle.errors import ConfigError, StorageError

if TYPE_CHECKING:
    from recycle.data import TargetData
    from recycle.zoo import Zoo

ForceOption = Annotated[
    bool,
    typer.Option("--force", help="Replace an existing output (a model folder or an output file)."),
]
CacheOption = Annotated[
    str | None,
    typer.Option("--cache", help="Feature cache folder (default: $RECYCLE_CACHE, else none)."),
]
SkipBadOption = Annotated[
    bool,
    typer.Option("--skip-bad-images", help="Skip unreadable image files with a warning."),
]


def open_zoo(zoo: str | None, create: bool = False) -> Zoo:
    """The zoo of ``--zoo`` / ``$RECYCLE_ZOO`` / ``./zoo``; created only with ``create=True``."""
    from recycle.zoo import Zoo

    return Zoo.open(zoo_location(zoo), create=create)


def check_out_file(path: str, force: bool) -> Path:
    """Raise ConfigError unless ``path`` may be written: new, or an existing file and ``force``."""
    target = Path(path)
    if target.is_dir():
        raise ConfigError(f"--out {path!r} is a folder; give a file name, e.g. {path}/out.csv.")
    if target.exists() and not force:
        raise ConfigError(f"{path!r} already exists; give a new file name, or pass --force.")
    return target


def write_file(path: str, text: str, force: bool) -> Path:
    """Write ``text`` to ``path`` atomically (temporary file in the same folder, then rename)."""
    target = check_out_file(path, force)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    except OSError as exc:
        raise StorageError(f"Cannot write {path!r} ({exc}); check the folder.") from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
            fh.write(text)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target


@contextmanager
def collected_warnings() -> Iterator[list[str]]:
    """Collect warnings (deduplicated messages) instead of letting Python print them."""
    messages: list[str] = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        yield messages
        messages.extend(dict.fromkeys(str(w.message) for w in caught))


def print_warnings(messages: list[str]) -> None:
    """Each warning as one ``Warning: ...`` line on stderr."""
    for msg in dict.fromkeys(messages):
        typer.echo(f"Warning: {msg}", err=True)


def card_columns(target: TargetData, zoo: Zoo | None) -> tuple[Any, list[str] | None]:
    """``(X for the Recycler, candidate entry ids or None)`` for a target and the zoo's cards.

    When tabular cards name their columns (``input.columns``), the target's columns are matched
    to them by name: the first list of names the target has decides the order (extra columns
    dropped with a warning), and only the entries with that list (or without names) remain
    candidates. A target with names but none of the lists raises naming the missing columns.
    """
    X = target.features()
    if target.columns is None or zoo is None:
        return X, None
    from recycle.schema import align_columns

    named = [e for e in zoo.list(modality="tabular") if e.card.input.columns]
    if not named:
        return X, None
    lists = list(dict.fromkeys(tuple(e.card.input.columns or ()) for e in named))
    have = set(target.columns)
    usable = [cols for cols in lists if have >= set(cols)]
    chosen = list(usable[0] if usable else lists[0])
    order = align_columns(target.columns, chosen, "The target")
    skipped = [e.ref for e in named if list(e.card.input.columns or ()) != chosen]
    if skipped:
        warnings.warn(
            f"Skipped sources whose cards name other columns: {', '.join(skipped)}.",
            UserWarning,
            stacklevel=2,
        )
    keep = [e.id for e in zoo.list() if e.ref not in skipped]
    return X[order], (keep if skipped else None)
