"""What one call of a parallel map returns, shared by the local and the Ray backend.

Examples
--------
>>> value, error, _ = call(int, "12")
>>> value, error
(12, None)
>>> call(int, "x")[1]
"ValueError: invalid literal for int() with base 10: 'x'"
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

R = TypeVar("R")


class _Unset:
    """Marker for "no shared argument" (so ``shared=None`` can still be passed on purpose)."""

    def __repr__(self) -> str:
        return "<unset>"


UNSET: Any = _Unset()


@dataclass
class MapResult(Generic[R]):
    """Outcome of ``fn(item)``: its value, or the error it raised, and how long it took."""

    index: int
    value: R | None
    error: str | None
    seconds: float

    @property
    def ok(self) -> bool:
        return self.error is None


def call(fn: Callable[..., Any], item: Any, shared: Any = UNSET) -> tuple[Any, str | None, float]:
    """``fn(item)`` (or ``fn(item, shared)``) as ``(value, error, seconds)``; an exception of
    ``fn`` becomes its one-line ``error`` (a failing source is reported, not fatal)."""
    start = time.perf_counter()
    try:
        value = fn(item) if shared is UNSET else fn(item, shared)
    except Exception as exc:  # a failing source is reported, not fatal
        return None, f"{type(exc).__name__}: {exc}", time.perf_counter() - start
    return value, None, time.perf_counter() - start
