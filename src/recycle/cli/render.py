"""Rendering for the CLI: JSON, Rich tables and Rich progress bars (the library never prints)."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from recycle.progress import ProgressCallback

console = Console()
err_console = Console(stderr=True)


def print_json(data: Any) -> None:
    """Print ``data`` as indented JSON on stdout (numpy scalars and paths become plain values)."""
    sys.stdout.write(json.dumps(data, indent=2, default=_plain) + "\n")


def _plain(value: Any) -> Any:
    if hasattr(value, "item"):
        return value.item()
    if hasattr(value, "tolist"):
        return value.tolist()
    return str(value)


def print_table(title: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    """Print a Rich table; floats are shown with 4 significant digits."""
    table = Table(title=title)
    for col in columns:
        table.add_column(col)
    for row in rows:
        table.add_row(*(f"{v:.4g}" if isinstance(v, float) else str(v) for v in row))
    console.print(table)


@contextmanager
def rich_progress(enabled: bool = True) -> Iterator[ProgressCallback | None]:
    """Yield a progress callback drawing one Rich bar per task name (on stderr).

    Examples
    --------
    >>> with rich_progress(enabled=False) as cb:
    ...     cb is None
    True
    """
    if not enabled:
        yield None
        return
    bars = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err_console,
        transient=False,
    )
    ids: dict[str, Any] = {}

    def callback(task: str, done: int, total: int) -> None:
        if task not in ids:
            ids[task] = bars.add_task(task, total=total or None)
        bars.update(ids[task], completed=done, total=total or None)

    with bars:
        yield callback
