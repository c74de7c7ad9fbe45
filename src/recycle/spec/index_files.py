"""On-disk layout of a persistent spec index: immutable segments, an atomically replaced manifest.

One folder per space::

    manifest.json         which segments are live, the common gamma, dropped entry ids, and an
                          opaque ``fingerprint`` of the catalog state the index reflects
    seg-<hex>/Z.npy       the segment's stacked reduced sets, float32 (points x dim), memory-mapped
    seg-<hex>/beta.npy    their weights, float32 (points)
    seg-<hex>/rff.npy     one random-Fourier-feature vector per entry, float32 (entries x D)
    seg-<hex>/entries.npz per entry: id, name, version, created (epoch s), m, n, residual,
                          the spec's own gamma, and its self-term at the manifest's gamma
    tmp-<hex>/            a segment being written (renamed to seg-<hex> when complete)

Invariant: a segment is written whole into ``tmp-<hex>``, fsynced, and renamed; the manifest is
written to a temp name, fsynced and renamed over the old one. Readers only follow the manifest, so
a crash at any point leaves the previous manifest and the segments it names intact; anything else
in the folder is garbage that the next writer (holding the folder's lock) deletes.

Examples
--------
>>> import tempfile
>>> folder = Path(tempfile.mkdtemp())
>>> read_manifest(folder) is None
True
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from recycle.errors import SpecError

#: Format name and version written in every manifest.
FORMAT = "recycle-spec-index/1"
MANIFEST = "manifest.json"
#: Rows of reduced points copied at once when a segment is written.
COPY_ROWS = 65536
#: Per-entry arrays of a segment (``entries.npz``), with their dtypes.
ENTRY_FIELDS = {
    "ids": "U32",
    "names": "U128",
    "versions": "U64",
    "created": "f8",
    "sizes": "i8",
    "n": "i8",
    "residual": "f8",
    "gammas": "f8",
    "self_terms": "f8",
}


@dataclass
class Segment:
    """An immutable segment, memory-mapped (``Z``, ``beta``, ``rff``) with its entry arrays."""

    name: str
    Z: np.ndarray
    beta: np.ndarray
    rff: np.ndarray
    entries: dict[str, np.ndarray]

    @property
    def offsets(self) -> np.ndarray:
        """First row of each entry in ``Z``."""
        return starts(self.entries["sizes"])


def starts(sizes: np.ndarray) -> np.ndarray:
    """First row of each of consecutive blocks of ``sizes`` rows (empty for no blocks).

    Examples
    --------
    >>> starts(np.array([3, 2])).tolist(), starts(np.array([], np.int64)).tolist()
    ([0, 3], [])
    """
    sizes = np.asarray(sizes, dtype=np.int64)
    return np.cumsum(sizes) - sizes


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _save(path: Path, array: np.ndarray) -> None:
    with open(path, "wb") as f:
        np.save(f, array, allow_pickle=False)
        f.flush()
        os.fsync(f.fileno())


#: A part of a new segment's reduced sets: an array (maybe memory-mapped) and the rows to copy
#: from it (``None``: all).
Part = tuple[np.ndarray, "np.ndarray | None"]
#: Computes (self-terms, feature vectors) from the written reduced sets when re-basing.
Derive = Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]


def write_segment(
    folder: Path,
    parts: Sequence[Part],
    beta: np.ndarray,
    entries: dict[str, Any],
    rff: np.ndarray | Derive,
) -> str:
    """Write a complete segment (temp folder, fsync, rename); return its name ``seg-<hex>``.

    ``Z`` is copied from ``parts`` in chunks of :data:`COPY_ROWS` rows into a memory-mapped
    file, so merging big segments never holds them in memory. ``rff`` is either the vectors or
    a function of the written ``Z`` returning (self-terms, vectors).
    """
    dim = parts[0][0].shape[1]
    total = sum(a.shape[0] if r is None else r.size for a, r in parts)
    sizes = np.asarray(entries["sizes"], dtype=np.int64)
    if int(sizes.sum()) != total or beta.shape[0] != total:
        raise SpecError("Inconsistent segment arrays; this is a bug in recycle.spec.index.")
    token = uuid.uuid4().hex
    tmp = folder / f"tmp-{token}"
    tmp.mkdir(parents=True)
    Z = np.lib.format.open_memmap(tmp / "Z.npy", mode="w+", dtype=np.float32, shape=(total, dim))
    at = 0
    for array, rows in parts:
        count = array.shape[0] if rows is None else rows.size
        for s in range(0, count, COPY_ROWS):
            block = array[s : s + COPY_ROWS] if rows is None else array[rows[s : s + COPY_ROWS]]
            Z[at : at + block.shape[0]] = block
            at += block.shape[0]
    Z.flush()
    with open(tmp / "Z.npy", "rb+") as f:
        os.fsync(f.fileno())
    if callable(rff):
        entries["self_terms"], rff = rff(np.load(tmp / "Z.npy", mmap_mode="r"))
    del Z
    if rff.shape[0] != len(entries["ids"]):
        raise SpecError("Inconsistent segment vectors; this is a bug in recycle.spec.index.")
    _save(tmp / "beta.npy", np.ascontiguousarray(beta, dtype=np.float32))
    _save(tmp / "rff.npy", np.ascontiguousarray(rff, dtype=np.float32))
    arrays = {k: np.asarray(entries[k], dtype=dt) for k, dt in ENTRY_FIELDS.items()}
    with open(tmp / "entries.npz", "wb") as f:
        np.savez(f, **arrays)  # type: ignore[arg-type]  # numpy stubs: keys vs allow_pickle
        f.flush()
        os.fsync(f.fileno())
    _fsync_dir(tmp)
    name = f"seg-{token}"
    os.rename(tmp, folder / name)
    _fsync_dir(folder)
    return name


def read_segment(folder: Path, name: str) -> Segment:
    """Memory-map a segment; :class:`SpecError` if a file is missing or the shapes disagree."""
    path = folder / name
    try:
        Z = np.load(path / "Z.npy", mmap_mode="r", allow_pickle=False)
        beta = np.load(path / "beta.npy", mmap_mode="r", allow_pickle=False)
        rff = np.load(path / "rff.npy", mmap_mode="r", allow_pickle=False)
        with np.load(path / "entries.npz", allow_pickle=False) as f:
            entries = {k: f[k] for k in ENTRY_FIELDS}
    except (OSError, KeyError, ValueError) as e:
        raise SpecError(
            f"Spec index segment {str(path)!r} is unreadable ({e}); run `recycle zoo reindex`."
        ) from e
    if int(entries["sizes"].sum()) != Z.shape[0] or rff.shape[0] != len(entries["ids"]):
        raise SpecError(
            f"Spec index segment {str(path)!r} is inconsistent; run `recycle zoo reindex`."
        )
    return Segment(name, Z, beta, rff, entries)


def read_manifest(folder: Path) -> dict[str, Any] | None:
    """The folder's manifest, or ``None`` when there is none yet."""
    try:
        data = json.loads((folder / MANIFEST).read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as e:
        raise SpecError(
            f"Spec index manifest in {str(folder)!r} is unreadable ({e}); run "
            "`recycle zoo reindex`."
        ) from e
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise SpecError(
            f"Spec index in {str(folder)!r} is not in format {FORMAT!r}; run `recycle zoo reindex`."
        )
    return data


def write_manifest(folder: Path, manifest: dict[str, Any]) -> None:
    """Replace the manifest atomically (temp name, fsync, rename, fsync the folder)."""
    tmp = folder / f"{MANIFEST}.tmp-{uuid.uuid4().hex}"
    with open(tmp, "w") as f:
        json.dump({"format": FORMAT, **manifest}, f)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, folder / MANIFEST)
    _fsync_dir(folder)


def garbage(folder: Path, manifest: dict[str, Any] | None) -> list[Path]:
    """Paths in ``folder`` that the manifest does not use (dead segments, temp leftovers)."""
    live = {s["name"] for s in (manifest or {}).get("segments", [])}
    out = []
    for path in sorted(folder.iterdir()) if folder.is_dir() else []:
        if path.name in (MANIFEST, "lock") or path.name in live:
            continue
        out.append(path)
    return out


def remove_garbage(folder: Path, manifest: dict[str, Any] | None) -> list[str]:
    """Delete :func:`garbage` (caller holds the folder's lock); return the names deleted."""
    removed = []
    for path in garbage(folder, manifest):
        if path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)
        removed.append(path.name)
    return removed
