"""On-disk layout of a persistent spec index: immutable segments, an atomically replaced manifest.

One folder per space::

    manifest.json         which segments are live, the common gamma, dropped entry ids, and an
                          opaque ``fingerprint`` of the catalog state the index reflects
    seg-<hex>/beta.npy    the weights of its entries' reduced points, float32 (points)
    seg-<hex>/rff.npy     one random-Fourier-feature vector per entry, float32 (entries x D)
    seg-<hex>/entries.npz per entry: id, name, version, created (epoch s), m, n, residual,
                          the spec's own gamma, and its self-term at the manifest's gamma
    tmp-<hex>/            a segment being written (renamed to seg-<hex> when complete)
    sets/<id[:2]>/<id>.npy  one entry's reduced set ``Z``, float32 (m x dim): written once when
                          the entry is added, read only when the entry is scored exactly, and
                          never copied when segments merge

A segment is small (4 KiB of features plus ~100 bytes per entry at D = 1,024), so what a search
scans and what a registration copies does not grow with m x dim; the reduced sets (m x dim x 4
bytes per entry) are read only for the entries a query scores exactly.

Invariant: a segment is written whole into ``tmp-<hex>``, fsynced, and renamed; a set file is
written to a temp name, fsynced and renamed before the segment naming its entry; the manifest is
written to a temp name, fsynced and renamed over the old one. Readers only follow the manifest, so
a crash at any point leaves the previous manifest, the segments it names and their set files
intact; anything else in the folder is garbage that the next writer (holding the folder's lock)
deletes, or, for set files of entries no segment names, ``fsck --repair``
(:func:`check_sets`).

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
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from recycle.errors import SpecError

#: Format name and version written in every manifest (1: reduced sets inside the segments).
FORMAT = "recycle-spec-index/2"
MANIFEST = "manifest.json"
#: Folder of the per-entry reduced sets.
SETS = "sets"
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
    """An immutable segment, memory-mapped (``beta``, ``rff``) with its entry arrays."""

    name: str
    beta: np.ndarray
    rff: np.ndarray
    entries: dict[str, np.ndarray]

    @property
    def offsets(self) -> np.ndarray:
        """First element of each entry's weights in ``beta``."""
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


def sync_dir(path: Path) -> None:
    """fsync a folder (its entries: renames and new files in it are durable after)."""
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


def set_path(folder: Path, entry_id: str) -> Path:
    """Where the reduced set of entry ``entry_id`` lives."""
    return folder / SETS / entry_id[:2] / f"{entry_id}.npy"


def write_sets(folder: Path, ids: Iterable[str], sets: Iterable[np.ndarray]) -> None:
    """Write each entry's reduced set (float32) to its own file: temp name, fsync, rename."""
    touched = set()
    for entry_id, Z in zip(ids, sets, strict=True):
        path = set_path(folder, entry_id)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f"{path.name}.tmp-{uuid.uuid4().hex}")
        _save(tmp, np.ascontiguousarray(Z, dtype=np.float32))
        os.replace(tmp, path)
        touched.add(path.parent)
    for parent in sorted(touched):
        sync_dir(parent)


def read_sets(folder: Path, ids: Iterable[str], sizes: np.ndarray, dim: int) -> np.ndarray:
    """The reduced sets of ``ids`` (``sizes`` rows each) stacked into one float32 array.

    Each file is read straight into its rows of the result (one copy from the page cache).
    """
    sizes = np.asarray(sizes, dtype=np.int64)
    out = np.empty((int(sizes.sum()), dim), dtype=np.float32)
    at = 0
    for entry_id, m in zip(ids, sizes, strict=True):
        path = set_path(folder, str(entry_id))
        try:
            with open(path, "rb") as f:
                fmt = np.lib.format
                major, _ = fmt.read_magic(f)
                read = fmt.read_array_header_1_0 if major == 1 else fmt.read_array_header_2_0
                shape, fortran, dtype = read(f)
                if shape != (m, dim) or fortran or dtype != np.float32:
                    raise ValueError(f"holds {shape} {dtype}, expected ({m}, {dim}) float32")
                if f.readinto(out[at : at + m].data.cast("B")) != m * dim * 4:
                    raise ValueError("is truncated")
        except (OSError, ValueError) as e:
            raise SpecError(
                f"Spec index set {str(path)!r} is unreadable ({e}); run `recycle zoo reindex`."
            ) from e
        at += int(m)
    return out


def remove_sets(folder: Path, ids: Iterable[str]) -> None:
    """Delete the set files of ``ids`` (those of entries no live segment names any more)."""
    for entry_id in ids:
        set_path(folder, str(entry_id)).unlink(missing_ok=True)


def check_sets(folder: Path, stored: dict[str, int], dim: int) -> tuple[int, list[Path]]:
    """Set files that are missing or too short for ``stored`` (id -> m), and the files (and
    temp leftovers) of entries not stored: one scan of the folder, no file read."""
    root = folder / SETS
    found = {}
    for sub in sorted(root.iterdir()) if root.is_dir() else []:
        for path in sorted(sub.iterdir()) if sub.is_dir() else [sub]:
            found[path] = path.stem if path.suffix == ".npy" else ""
    stray = [path for path, stem in found.items() if stem not in stored]
    sizes = {stem: path.stat().st_size for path, stem in found.items() if stem in stored}
    bad = sum(sizes.get(i, -1) < m * dim * 4 for i, m in stored.items())
    return bad, stray


def write_segment(
    folder: Path, beta: np.ndarray, entries: dict[str, Any], rff: np.ndarray, sync: bool = True
) -> str:
    """Write a complete segment (temp folder, fsync, rename); return its name ``seg-<hex>``.

    With ``sync=False`` the caller fsyncs ``folder`` (:func:`sync_dir`) before any manifest
    names the segment (one fsync for the segments of one update)."""
    sizes = np.asarray(entries["sizes"], dtype=np.int64)
    if int(sizes.sum()) != beta.shape[0] or rff.shape[0] != len(entries["ids"]):
        raise SpecError("Inconsistent segment arrays; this is a bug in recycle.spec.index.")
    token = uuid.uuid4().hex
    tmp = folder / f"tmp-{token}"
    tmp.mkdir(parents=True)
    _save(tmp / "beta.npy", np.ascontiguousarray(beta, dtype=np.float32))
    _save(tmp / "rff.npy", np.ascontiguousarray(rff, dtype=np.float32))
    arrays = {k: np.asarray(entries[k], dtype=dt) for k, dt in ENTRY_FIELDS.items()}
    with open(tmp / "entries.npz", "wb") as f:
        np.savez(f, **arrays)  # type: ignore[arg-type]  # numpy stubs: keys vs allow_pickle
        f.flush()
        os.fsync(f.fileno())
    sync_dir(tmp)
    name = f"seg-{token}"
    os.rename(tmp, folder / name)
    if sync:
        sync_dir(folder)
    return name


def read_segment(folder: Path, name: str) -> Segment:
    """Memory-map a segment; :class:`SpecError` if a file is missing or the shapes disagree."""
    path = folder / name
    try:
        beta = np.load(path / "beta.npy", mmap_mode="r", allow_pickle=False)
        rff = np.load(path / "rff.npy", mmap_mode="r", allow_pickle=False)
        with np.load(path / "entries.npz", allow_pickle=False) as f:
            entries = {k: f[k] for k in ENTRY_FIELDS}
    except (OSError, KeyError, ValueError) as e:
        raise SpecError(
            f"Spec index segment {str(path)!r} is unreadable ({e}); run `recycle zoo reindex`."
        ) from e
    if int(entries["sizes"].sum()) != beta.shape[0] or rff.shape[0] != len(entries["ids"]):
        raise SpecError(
            f"Spec index segment {str(path)!r} is inconsistent; run `recycle zoo reindex`."
        )
    return Segment(name, beta, rff, entries)


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


def older_format(folder: Path) -> str | None:
    """The format named by the folder's manifest when it is a readable manifest of another
    format than :data:`FORMAT` (an index written by an older recycle), else ``None``.

    Examples
    --------
    >>> import tempfile
    >>> folder = Path(tempfile.mkdtemp())
    >>> _ = (folder / MANIFEST).write_text('{"format": "recycle-spec-index/1"}')
    >>> older_format(folder)
    'recycle-spec-index/1'
    """
    try:
        data = json.loads((folder / MANIFEST).read_text())
    except (OSError, ValueError):
        return None
    found = data.get("format") if isinstance(data, dict) else None
    return str(found) if found is not None and found != FORMAT else None


def write_manifest(folder: Path, manifest: dict[str, Any]) -> None:
    """Replace the manifest atomically (temp name, fsync, rename, fsync the folder)."""
    tmp = folder / f"{MANIFEST}.tmp-{uuid.uuid4().hex}"
    with open(tmp, "w") as f:
        json.dump({"format": FORMAT, **manifest}, f)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, folder / MANIFEST)
    sync_dir(folder)


def garbage(folder: Path, manifest: dict[str, Any] | None) -> list[Path]:
    """Paths in ``folder`` that the manifest does not use (dead segments, temp leftovers, also
    inside live segments; set files are checked by :func:`check_sets`)."""
    live = {s["name"] for s in (manifest or {}).get("segments", [])}
    out = []
    for path in sorted(folder.iterdir()) if folder.is_dir() else []:
        if path.name in live:  # a list added to a live segment may leave a temp file there
            out += [p for p in sorted(path.iterdir()) if ".tmp-" in p.name]
        elif path.name not in (MANIFEST, "lock", SETS):
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
