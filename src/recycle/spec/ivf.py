"""IVF lists of a spec index segment: faiss inverted lists over its vectors' first features.

From 200,000 searchable specs (:attr:`recycle.spec.cascade.Stages.ivf_min`) the cascade's prefix
stage probes a few k-means cells of each big segment instead of scanning every prefix. faiss
cells are L2 cells, but the cascade ranks by ``self_s - 2 (D / P) q_P . s_P``, not by distance;
"sphere padding" makes the two agree: each entry's prefix gets one more coordinate
``sqrt(self_s - ||s_P||^2 + C)`` (``C`` makes it real for every entry of the segment) and the
query ``y = (D / P) q_P`` a 0, so ``||y - s'||^2 = ||y||^2 + C + self_s - 2 y . s_P``: the
score plus a constant, and faiss's nearest entries are the best scored (:meth:`IvfList.search`
returns the score itself, comparable across segments). With it recall@10 at 1,000,000
synthetic specs is 0.98 (benchmarks/search_index.py, docs/search_zoo.md).

A segment gets its list when it is written with at least :func:`segment_min` entries (16,384,
or ``$RECYCLE_INDEX_IVF_ENTRIES``): ``ivf.npz`` in the segment's folder holds the serialised
faiss index, the pad constant, the prefix length and the entry count; written to a temp name,
fsynced and renamed (like every index file, :mod:`recycle.spec.index_files`). A list that is
missing or does not match its segment is not used (that segment's prefixes are scanned);
``recycle zoo fsck`` reports it and ``fsck --repair`` / ``recycle zoo reindex`` rebuild it.
faiss is imported only when a list is built or read.

Examples
--------
>>> import numpy as np
>>> rng = np.random.default_rng(0)
>>> prefix, terms = rng.normal(size=(500, 16)).astype(np.float32) * 0.1, rng.uniform(1, 2, 500)
>>> x, pad = padded(prefix, terms)
>>> y = 4.0 * rng.normal(size=16)
>>> d = ((np.append(y, 0.0) - x) ** 2).sum(axis=1)  # distance to the padded entries
>>> bool(np.allclose(d - y @ y - pad, terms - 2 * prefix @ y, atol=1e-4))
True
>>> segment_min({"RECYCLE_INDEX_IVF_ENTRIES": "100"}), segment_min({})
(100, 16384)
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from recycle.errors import ConfigError
from recycle.spec.threads import faiss_threads

#: Features of each vector the lists hold (the cascade's prefix stage).
PREFIX = 256
#: Most k-means cells per list (1,000,000 entries: ~1,000 per cell).
LISTS = 1024
#: Fewest training points per cell (faiss's own warning threshold): smaller segments get fewer.
MIN_PER_CELL = 39
#: Entries the cells are trained on (a seeded sample; all of them in smaller segments).
TRAIN = 50_000
#: Segments with at least this many entries get a list.
SEGMENT_MIN = 16_384
ENV = "RECYCLE_INDEX_IVF_ENTRIES"
FILE = "ivf.npz"


def segment_min(environ: Mapping[str, str] | None = None) -> int:
    """Entries from which a segment gets a list: ``$RECYCLE_INDEX_IVF_ENTRIES`` or
    :data:`SEGMENT_MIN` (a lower value lets tests put small indexes on the IVF path)."""
    raw = (os.environ if environ is None else environ).get(ENV, str(SEGMENT_MIN))
    if not raw.strip().isdigit() or int(raw) < 1:
        raise ConfigError(f"{ENV} must be an int >= 1. Got {raw!r} instead.")
    return int(raw)


def padded(prefix: np.ndarray, terms: np.ndarray) -> tuple[np.ndarray, float]:
    """Prefixes with the padding coordinate (float32) and the pad constant ``C``."""
    prefix = np.asarray(prefix, dtype=np.float64)
    gap = np.asarray(terms, dtype=np.float64) - np.einsum("ij,ij->i", prefix, prefix)
    pad = max(0.0, -float(gap.min())) if gap.size else 0.0
    x = np.hstack([prefix, np.sqrt(gap + pad)[:, None]])
    return np.ascontiguousarray(x, dtype=np.float32), pad


@dataclass
class IvfList:
    """A segment's loaded list: the faiss index of its padded prefixes and its pad constant."""

    index: Any
    pad: float
    prefix: int
    entries: int

    def search(self, y: np.ndarray, k: int, nprobe: int) -> tuple[np.ndarray, np.ndarray]:
        """Rows of the ``k`` best entries for the scaled query prefix ``y = (D / P) q_P``
        (probing ``nprobe`` cells) and their scores ``self_s - 2 y . s_P``."""
        self.index.nprobe = min(nprobe, self.index.nlist)
        q = np.append(np.asarray(y, dtype=np.float32), np.float32(0.0))[None, :]
        with faiss_threads():
            dist, rows = self.index.search(q, k)
        ok = rows[0] >= 0
        const = float(np.dot(q[0].astype(np.float64), q[0])) + self.pad
        return rows[0][ok], dist[0][ok].astype(np.float64) - const


def build(prefix: np.ndarray, terms: np.ndarray, seed: int = 0) -> IvfList:
    """Train and fill the list of one segment's prefixes and self-terms."""
    import faiss

    x, pad = padded(prefix, terms)
    n, d = x.shape
    cells = max(1, min(LISTS, n // MIN_PER_CELL))
    index = faiss.IndexIVFFlat(faiss.IndexFlatL2(d), d, cells, faiss.METRIC_L2)
    sample = np.random.default_rng(seed).choice(n, min(n, TRAIN), replace=False)
    index.cp.seed = seed
    index.train(x[np.sort(sample)])
    index.add(x)
    return IvfList(index, pad, prefix.shape[1], n)


def write(
    seg_folder: Path,
    rff: np.ndarray,
    terms: np.ndarray,
    checkpoint: Callable[[str], None] | None = None,
) -> None:
    """Build the list of the segment in ``seg_folder`` (its vectors ``rff``, self-terms
    ``terms``) and write it: temp name, fsync, rename, fsync the folder. ``checkpoint``
    ("index_ivf") runs between the fsync and the rename (crash tests)."""
    import faiss

    built = build(np.asarray(rff[:, :PREFIX]), terms)
    tmp = seg_folder / f"{FILE}.tmp-{uuid.uuid4().hex}"
    with open(tmp, "wb") as f:
        np.savez(f, index=faiss.serialize_index(built.index), pad=built.pad,
                 prefix=built.prefix, entries=built.entries)  # fmt: skip
        f.flush()
        os.fsync(f.fileno())
    if checkpoint is not None:
        checkpoint("index_ivf")
    os.replace(tmp, seg_folder / FILE)
    fd = os.open(seg_folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def status(seg_folder: Path, entries: int) -> str | None:
    """``"missing"``, ``"stale"`` (unreadable or not this segment's) or None (usable); reads
    only the list's small fields."""
    path = seg_folder / FILE
    if not path.exists():
        return "missing"
    try:
        with np.load(path, allow_pickle=False) as f:
            ok = int(f["entries"]) == entries and int(f["prefix"]) == PREFIX and "index" in f
    except (OSError, ValueError, KeyError):
        return "stale"
    return None if ok else "stale"


def read(seg_folder: Path, entries: int) -> IvfList | None:
    """The segment's list, or None when it has no usable one (see :func:`status`)."""
    if status(seg_folder, entries) is not None:
        return None
    import faiss

    with np.load(seg_folder / FILE, allow_pickle=False) as f:
        index = faiss.deserialize_index(f["index"])
        return IvfList(index, float(f["pad"]), int(f["prefix"]), int(f["entries"]))


def needs(seg_folder: Path, entries: int, at_least: int | None = None) -> bool:
    """Whether a segment of ``entries`` entries should have a list and lacks a usable one."""
    return entries >= (segment_min() if at_least is None else at_least) and bool(
        status(seg_folder, entries)
    )
