"""Reading uploads safely: ``.npz`` targets with size and shape limits, bounded JSON.

An ``.npz`` is a zip of ``.npy`` files. Before anything is inflated, :func:`check_npz` reads
each member's size from the zip's central directory and its ``.npy`` header (dtype and shape,
a few hundred bytes), and refuses: more than :data:`MAX_MEMBERS` members, an inflated total
above the server's limit (413), object dtypes (pickles), or a header whose shape does not
match the member's size (422). Reading a member never yields more than its declared size, so
the declared sizes bound the memory. JSON from requests (form fields and bodies) passes
:func:`check_json_depth` (a linear scan, no recursion) before it is parsed, so deep nesting is
a 422, not a ``RecursionError``.

Examples
--------
>>> check_json_depth('{"a": [[1]]}', 8)
>>> check_json_depth("[" * 100 + "]" * 100, 32)
Traceback (most recent call last):
...
recycle.errors.DataError: JSON is nested 100 levels deep; the limit is 32 ...
"""

from __future__ import annotations

import io
import json
import re
import zipfile
from typing import Any

import numpy as np

from recycle.errors import DataError, PayloadTooLargeError

MAX_MEMBERS = 8  # arrays in a target .npz (X, y, X_test and a few spare)
NPY_HEADER_MAX = 65_536  # bytes read to parse one .npy header (numpy's own cap is 10 kB in v1)
TOKENS = re.compile(rb'"(?:[^"\\]|\\.)*"|[\[\]{}]')  # strings (skipped) and brackets


def check_json_depth(text: str | bytes, max_depth: int, what: str = "JSON") -> None:
    """Raise :class:`DataError` if ``text`` nests arrays/objects deeper than ``max_depth``."""
    data = text.encode() if isinstance(text, str) else text
    depth = deepest = 0
    for match in TOKENS.finditer(data):
        token = match.group()
        if token in (b"[", b"{"):
            depth += 1
            if depth > deepest:
                deepest = depth
                if deepest > max_depth:
                    break
        elif token in (b"]", b"}"):
            depth -= 1
    if deepest > max_depth:
        raise DataError(
            f"{what} is nested {_count_depth(data)} levels deep; the limit is {max_depth} (too "
            "deep). Send flatter JSON."
        )


def _count_depth(data: bytes) -> int:
    depth = deepest = 0
    for match in TOKENS.finditer(data):
        token = match.group()
        depth += token in (b"[", b"{")
        depth -= token in (b"]", b"}")
        deepest = max(deepest, depth)
    return deepest


def parse_json(text: str, max_depth: int, what: str, error: type[Exception] = DataError) -> Any:
    """``json.loads`` after :func:`check_json_depth`; ``error`` names ``what`` on bad JSON."""
    try:
        check_json_depth(text, max_depth, f"The '{what}' field")
    except DataError as exc:
        raise error(str(exc)) from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise error(f"The '{what}' field is not valid JSON: {exc.msg} at char {exc.pos}.") from None


def _npy_header(zf: zipfile.ZipFile, info: zipfile.ZipInfo) -> tuple[np.dtype, tuple, int]:
    try:
        with zf.open(info) as f:
            buf = io.BytesIO(f.read(NPY_HEADER_MAX))
        version = np.lib.format.read_magic(buf)
        if version == (1, 0):
            shape, _, dtype = np.lib.format.read_array_header_1_0(buf)
        else:
            shape, _, dtype = np.lib.format.read_array_header_2_0(buf)
    except Exception as exc:  # a broken zip stream, or numpy's header parser: many types
        raise DataError(
            f"Array {info.filename[:80]!r} has no valid .npy header ({type(exc).__name__}); "
            "save the target with numpy.savez."
        ) from None
    return dtype, shape, buf.tell()


def check_npz(raw: bytes, max_bytes: int) -> None:
    """Refuse an ``.npz`` that would inflate past ``max_bytes`` or whose headers lie."""
    try:
        zf = zipfile.ZipFile(io.BytesIO(raw))
    except zipfile.BadZipFile:
        raise DataError(
            "Target data is not a readable .npz; save it with numpy.savez(path, X=X, y=y)."
        ) from None
    with zf:
        members = zf.infolist()
        if len(members) > MAX_MEMBERS:
            raise DataError(f"Target .npz has {len(members)} arrays; at most {MAX_MEMBERS}.")
        total = sum(m.file_size for m in members)
        if total > max_bytes:
            raise PayloadTooLargeError(
                f"Target .npz inflates to {total} bytes; the limit is {max_bytes} "
                "(RECYCLE_MAX_ARRAY_BYTES). Send fewer rows or features."
            )
        for info in members:
            dtype, shape, header = _npy_header(zf, info)
            if dtype.hasobject:
                raise DataError(f"Array {info.filename!r} holds Python objects (a pickle).")
            want = int(np.prod(shape, dtype=object)) * dtype.itemsize + header
            if want != info.file_size:
                raise DataError(
                    f"Array {info.filename!r} declares shape {shape} {dtype} ({want} bytes) but "
                    f"holds {info.file_size}; the header lies. Save it with numpy.savez."
                )


def read_target(raw: bytes, max_bytes: int) -> dict[str, Any]:
    """Parse an uploaded ``.npz`` with ``X``, ``y`` (and optional ``X_test``); no pickles.

    Examples
    --------
    >>> buf = io.BytesIO(); np.savez(buf, X=np.zeros((2, 3)), y=np.array([0, 1]))
    >>> sorted(read_target(buf.getvalue(), 10_000))
    ['X', 'y']
    """
    check_npz(raw, max_bytes)
    try:
        with np.load(io.BytesIO(raw), allow_pickle=False) as npz:
            arrays = {k: npz[k] for k in npz.files}
    except Exception as exc:
        raise DataError(
            f"Target data is not a readable .npz without pickles ({type(exc).__name__}); "
            "save it with numpy.savez(path, X=X, y=y)."
        ) from exc
    if "X" not in arrays or "y" not in arrays:
        raise DataError(f"Target .npz needs arrays 'X' and 'y'; got {sorted(arrays)}.")
    out: dict[str, Any] = {}
    for name in ("X", "X_test"):
        if name in arrays:
            a = arrays[name]
            out[name] = [str(t) for t in a.tolist()] if a.dtype.kind in "US" else a
    out["y"] = arrays["y"]
    return out
