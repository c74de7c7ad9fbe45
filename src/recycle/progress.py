"""Progress reporting without printing: library code calls a callback, the CLI renders it.

Long loops in the library accept ``progress: ProgressCallback | None``; they call
``progress(task, done, total)`` as they go (``total`` may be 0 when unknown). The CLI passes
:func:`recycle.cli.render.rich_progress` to draw Rich progress bars; tests and library users
pass nothing.

Examples
--------
>>> seen = []
>>> def record(task, done, total):
...     seen.append((task, done, total))
>>> for i in track(range(3), "embed", record):
...     pass
>>> seen[-1]
('embed', 3, 3)
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sized
from typing import TypeVar

ProgressCallback = Callable[[str, int, int], None]
T = TypeVar("T")


def track(
    items: Iterable[T], task: str, progress: ProgressCallback | None, total: int | None = None
) -> Iterator[T]:
    """Yield ``items``, reporting ``(task, done, total)`` to ``progress`` after each one."""
    if total is None:
        total = len(items) if isinstance(items, Sized) else 0
    if progress is not None:
        progress(task, 0, total)
    for done, item in enumerate(items, start=1):
        yield item
        if progress is not None:
            progress(task, done, total)
