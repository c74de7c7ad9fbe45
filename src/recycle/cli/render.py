"""Rendering for the CLI: JSON, Rich tables and Rich progress bars (the library never prints)."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from rich.console import Console
from rich.measure import Measurement
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from recycle.progress import ProgressCallback

console = Console()
#: Width to measure a table's natural width with (wider than any terminal).
UNBOUNDED_WIDTH = 10_000
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


def _table(title: str, columns: Sequence[str], rows: list[list[str]]) -> Table:
    """The first column never wraps (names stay whole); the others wrap where they must."""
    table = Table(title=title)
    for i, col in enumerate(columns):
        longest = max([len(col), *(len(r[i]) for r in rows)])
        if i == 0:
            table.add_column(col, no_wrap=True, min_width=longest)
        else:
            table.add_column(col, overflow="fold")
    for row in rows:
        table.add_row(*row)
    return table


def print_table(
    title: str,
    columns: Sequence[str],
    rows: Sequence[Sequence[Any]],
    optional: Sequence[str] = (),
) -> None:
    """Print a Rich table that fits the terminal; floats are shown with 4 significant digits.

    The ``optional`` columns are left out, first named first, while the table's natural width
    exceeds the terminal; the first column is never wrapped or truncated, the others wrap.
    """
    text = [[f"{v:.4g}" if isinstance(v, float) else str(v) for v in row] for row in rows]
    keep = list(range(len(columns)))
    drop = [columns.index(c) for c in optional if c in columns]
    unbounded = console.options.update_width(UNBOUNDED_WIDTH)
    while True:
        table = _table(title, [columns[i] for i in keep], [[r[i] for i in keep] for r in text])
        if not drop or Measurement.get(console, unbounded, table).maximum <= console.width:
            break
        keep.remove(drop.pop(0))
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
