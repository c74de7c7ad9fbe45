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


def print_saved(folder: Path, report: dict[str, Any], json_out: bool, warned: list[str]) -> bool:
    """After a command saved a model folder: with ``--json``, print its report with ``out`` and
    return True (nothing more to render); else print the ``warned`` messages and return False.
    """
    if json_out:
        from recycle.cli.render import print_json

        print_json({"out": str(folder), **report})
        return True
    print_warnings(warned)
    return False


def _named(zoo: Zoo) -> list[Any]:
    """The zoo's tabular entries whose cards name their input columns."""
    return [e for e in zoo.list(modality="tabular") if e.card.input.columns]


def card_schema(data: str, zoo: Zoo | None, keep_extra: bool = False) -> dict[str, Any] | None:
    """The schema a table DATA is read with when the ``zoo``'s cards name columns
    (``input.columns``): the first list of names the table has all of; extra columns are
    dropped with a warning, or with ``keep_extra`` (``fit``, ``select``: a user's own columns
    can help beside the sources' outputs) kept: None is returned for such a superset, as when
    the table has no card's full list, so the table is read whole and :mod:`recycle.tabular`
    maps its columns to the sources' by name. None for other data and when no card names
    columns."""
    from recycle.data import table_columns
    from recycle.schema import align_columns

    columns = table_columns(data)
    if columns is None or zoo is None:
        return None
    lists = list(dict.fromkeys(tuple(e.card.input.columns or ()) for e in _named(zoo)))
    if not lists:
        return None
    usable = [cols for cols in lists if set(columns) >= set(cols)]
    if not usable or (keep_extra and set(columns) > set(usable[0])):
        return None
    chosen = align_columns(columns, list(usable[0]), Path(data).name)
    return {"modality": "tabular", "n_features": len(chosen), "columns": chosen}


def card_candidates(schema: dict[str, Any] | None, zoo: Zoo | None) -> list[str] | None:
    """Entry ids that take the columns of ``schema`` (None: every entry); warns of the rest."""
    if schema is None or zoo is None:
        return None
    skipped = [e.ref for e in _named(zoo) if e.card.input.columns != schema["columns"]]
    if not skipped:
        return None
    warnings.warn(
        f"Skipped sources whose cards name other columns: {', '.join(skipped)}.",
        UserWarning,
        stacklevel=2,
    )
    return [e.id for e in zoo.list() if e.ref not in skipped]
