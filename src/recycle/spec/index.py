"""A persistent spec index: the specs of one space on disk, searched without parsing JSON.

What :class:`~recycle.spec.search.SpecIndex` builds in memory per call, this keeps in a folder
(layout, crash safety: :mod:`recycle.spec.index_files`): per entry a random-Fourier-feature
vector (:mod:`recycle.spec.rff`), its self-term at the index's bandwidth, weights and ids; each
reduced set in its own file, read only when that entry is scored exactly.

Which path a query takes (exact scan, one or two vector stages, IVF lists from 200,000 specs)
and the score every stage ranks by: :mod:`recycle.spec.cascade`. Reduced sets are read through
``PersistentIndex.read_sets`` (default: the set files, :func:`recycle.spec.index_files.read_sets`;
benchmarks may generate them instead), only for the specs scored exactly.

Both take the thread limit of :mod:`recycle.spec.threads` (``RECYCLE_SEARCH_THREADS``, default 1).

Common bandwidth: every score uses the index's ``gamma``, the geometric mean of its specs' gammas
at the last re-base. An update re-bases when the live specs' mean log-gamma (kept in the
segments' entry arrays) moves by more than :data:`GAMMA_DRIFT`: self-terms and vectors are
recomputed from every set file (31 GB at 100,000 specs of m=100 at 784-d). Bound: with added
log-gammas within ``spread`` of the base mean, k additions to N specs move it by at most
``k * spread / (N + k)``, so re-bases read on average at most ``spread / GAMMA_DRIFT`` set
files per added spec (tests/spec/test_spec_index_upgrade.py). Specs on a new scale (0-255 pixels:
gammas 65,000x off) make re-bases frequent: keep such spaces apart.

Examples
--------
>>> import tempfile
>>> import numpy as np
>>> from recycle.spec import build_spec
>>> rng = np.random.default_rng(0)
>>> specs = [build_spec(rng.normal(loc=mu, size=(200, 2)), m=10) for mu in (0.0, 3.0)]
>>> folder = Path(tempfile.mkdtemp())
>>> infos = [EntryInfo(f"id{i}", f"model{i}", "1.0.0", 0.0) for i in range(2)]
>>> _ = update(folder, "input:2", list(zip(infos, specs)), set(), fingerprint=[2])
>>> index = PersistentIndex.load(folder)
>>> res = index.rank(build_spec(rng.normal(loc=3.0, size=(200, 2)), m=10))
>>> [str(index.ids[i]) for i in res.order]
['id1', 'id0']
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from recycle.errors import IncompatibleError, SpecError
from recycle.spec import index_files as files
from recycle.spec import ivf
from recycle.spec.cascade import EXACT_WORK, RERANK, SCORE_ENTRIES, Stages
from recycle.spec.cascade import rank as cascade_rank
from recycle.spec.format import Spec, parse_space
from recycle.spec.rff import FEATURES, RffBasis
from recycle.spec.search import SearchResult, self_terms
from recycle.spec.threads import limited

#: Re-base the index when the geometric mean of its gammas moves by more than this (log scale).
GAMMA_DRIFT = 0.05
#: Share of dropped entries above which all segments are rewritten without them.
PURGE_FRACTION = 0.5


@dataclass(frozen=True)
class EntryInfo:
    """What the index stores about the owner of a spec (a zoo entry)."""

    id: str
    name: str
    version: str
    #: registration time, seconds since the epoch
    created: float


class PersistentIndex:
    """A loaded (memory-mapped) persistent index of one space; see the module docstring.

    Use :meth:`load`. ``ids``, ``names``, ``versions``, ``created`` hold one value per stored
    entry (dropped ones included); ``searchable`` marks the entries not dropped.
    """

    def __init__(self, folder: Path, manifest: dict[str, Any], segments: list[files.Segment]):
        self.folder = folder
        self.manifest = manifest
        self.space = str(manifest["space"])
        self.dim = parse_space(self.space)[1]
        self.gamma = float(manifest["gamma"])
        self.fingerprint = manifest.get("fingerprint")
        self.segments = segments
        cat = {k: np.concatenate([s.entries[k] for s in segments]) if segments else np.array([])
               for k in files.ENTRY_FIELDS}  # fmt: skip
        self.ids, self.names, self.versions = cat["ids"], cat["names"], cat["versions"]
        self.created, self.sizes = cat["created"], cat["sizes"].astype(np.int64)
        self.n, self.residual = cat["n"].astype(np.float64), cat["residual"]
        self.self_terms = cat["self_terms"]
        self.seg_of = np.concatenate(
            [np.full(len(s.entries["ids"]), i) for i, s in enumerate(segments)] or [np.array([])]
        ).astype(np.int64)
        self.row_of = np.concatenate([s.offsets for s in segments] or [np.zeros(0)]).astype(int)
        self.entry_row = np.concatenate(  # row of each entry in its segment's ``rff``
            [np.arange(len(s.entries["ids"])) for s in segments] or [np.zeros(0, np.int64)]
        ).astype(np.int64)
        self.searchable = ~np.isin(self.ids, list(manifest.get("dropped", [])))
        self._basis: RffBasis | None = None
        #: reads reduced sets ``(folder, ids, sizes, dim) -> stacked float32``; None: the files
        self.read_sets: Callable[[Path, np.ndarray, np.ndarray, int], np.ndarray] | None = None
        #: what searches keep between calls (contiguous vectors, loaded IVF lists)
        self.cache: dict[Any, Any] = {}

    @classmethod
    def load(cls, folder: Path) -> PersistentIndex | None:
        """Map the index in ``folder`` (``None`` if there is none); SpecError if damaged."""
        manifest = files.read_manifest(folder)
        if manifest is None:
            return None
        segments = [files.read_segment(folder, s["name"]) for s in manifest["segments"]]
        for seg in segments:
            if seg.rff.shape[1] != int(manifest["features"]):
                raise SpecError(f"Spec index {str(folder)!r} has the wrong features; reindex.")
        return cls(folder, manifest, segments)

    def __len__(self) -> int:
        return int(self.searchable.sum())

    @property
    def basis(self) -> RffBasis:
        """The random-feature basis of this space at the index's gamma."""
        if self._basis is None:
            dim = parse_space(self.space)[1]
            self._basis = RffBasis.draw(self.space, dim, self.gamma, self.manifest["features"])
        return self._basis

    def rows(self, entries: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Reduced sets (through :attr:`read_sets`) and weights of ``entries`` (positions),
        stacked in that order."""
        read = self.read_sets or files.read_sets
        Z = read(self.folder, self.ids[entries], self.sizes[entries], self.dim)
        beta = np.concatenate([
            self.segments[self.seg_of[e]].beta[self.row_of[e] : self.row_of[e] + self.sizes[e]]
            for e in entries
        ])  # fmt: skip
        return Z, beta.astype(np.float32)

    def ivf_list(self, s: int) -> ivf.IvfList | None:
        """Segment ``s``'s IVF list (:mod:`recycle.spec.ivf`), or None where it has no usable
        one; loaded once."""
        seg = self.segments[s]
        key = ("ivf", seg.name)
        if key not in self.cache:
            self.cache[key] = ivf.read(self.folder / seg.name, len(seg.entries["ids"]))
        return self.cache[key]  # type: ignore[no-any-return]

    def rank(
        self,
        query: Spec,
        among: np.ndarray | None = None,
        candidates: int = RERANK,
        exact_work: int = EXACT_WORK,
        stages: Stages | None = None,
    ) -> SearchResult:
        """The closest specs to ``query``, best first; ``order`` holds positions in ``ids``.

        Parameters
        ----------
        query : Spec
            In this index's space.
        among : ndarray of bool, optional
            Which stored entries may be returned (default: all not dropped).
        candidates : int
            Specs scored exactly after the vector pass.
        exact_work : int
            Largest exact scan (reduced points x dimension of all searchable specs); above it,
            and with more than ``candidates`` specs, the vector stages pick who is scored.
        stages : Stages, optional
            Sizes of the vector stages (default :class:`recycle.spec.cascade.Stages`).

        Returns
        -------
        SearchResult
            Only the exactly scored specs (``n_exact`` of them), sorted by squared MMD.
        """
        if query.space != self.space:
            raise IncompatibleError(
                f"Query spec lives in {query.space!r} but the index in {self.space!r}; "
                "build the query in the same space (see recycle.spec.embed_for_space)."
            )
        mask = self.searchable if among is None else (self.searchable & among)
        with limited():
            return cascade_rank(self, query, mask, candidates, exact_work, stages)


def _terms_and_vectors(
    Z: np.ndarray, beta: np.ndarray, sizes: np.ndarray, gamma: float, basis: RffBasis
) -> tuple[np.ndarray, np.ndarray]:
    """Self-terms at ``gamma`` and feature vectors of the specs stacked in ``Z``."""
    offsets = files.starts(sizes)
    norms = np.einsum("ij,ij->i", Z, Z)
    return self_terms(Z, norms, beta, offsets, sizes, gamma), basis.embed_many(Z, beta, offsets)


def _rebased(
    folder: Path, ids: np.ndarray, sizes: np.ndarray, beta: np.ndarray, gamma: float,
    basis: RffBasis, dim: int,
) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
    """Self-terms and vectors of stored entries recomputed from their sets, a block at a time."""
    terms, vectors = np.empty(len(ids)), np.empty((len(ids), basis.features), np.float32)
    offsets = files.starts(sizes)
    for s in range(0, len(ids), SCORE_ENTRIES):
        part = slice(s, s + SCORE_ENTRIES)
        Z = files.read_sets(folder, ids[part], sizes[part], dim)
        first, count = int(offsets[s]), int(sizes[part].sum())
        terms[part], vectors[part] = _terms_and_vectors(
            Z, beta[first : first + count], sizes[part], gamma, basis
        )
    return terms, vectors


def _new_segment(
    folder: Path, items: Sequence[tuple[EntryInfo, Spec]], gamma: float, basis: RffBasis
) -> files.Segment:
    """The set files of ``items`` (written), and a segment holding them in memory (self-terms
    and vectors at ``gamma``; unnamed until :func:`recycle.spec.index_files.write_segment`)."""
    Z = np.concatenate([s.Z for _, s in items]).astype(np.float32)
    beta = np.concatenate([s.beta for _, s in items]).astype(np.float32)
    entries: dict[str, Any] = {
        "ids": [e.id for e, _ in items],
        "names": [e.name for e, _ in items],
        "versions": [e.version for e, _ in items],
        "created": [e.created for e, _ in items],
        "sizes": [s.m for _, s in items],
        "n": [s.n for _, s in items],
        "residual": [s.residual or 0.0 for _, s in items],
        "gammas": [s.gamma for _, s in items],
    }
    files.write_sets(folder, entries["ids"], (s.Z for _, s in items))
    sizes = np.asarray(entries["sizes"], dtype=np.int64)
    entries["self_terms"], rff = _terms_and_vectors(Z, beta, sizes, gamma, basis)
    typed = {k: np.asarray(entries[k], dtype=dt) for k, dt in files.ENTRY_FIELDS.items()}
    return files.Segment("", beta, rff, typed)


def _merged(
    folder: Path, segs: list[files.Segment], dropped: set[str], gamma: float | None,
    basis: RffBasis | None,
) -> files.Segment:  # fmt: skip
    """One segment (in memory, unnamed) with the live entries of ``segs``; self-terms and
    vectors recomputed from the sets when re-basing (``gamma`` given), else copied."""
    keeps = [~np.isin(s.entries["ids"], list(dropped)) for s in segs]
    entries = {k: np.concatenate([s.entries[k][kp] for s, kp in zip(segs, keeps, strict=True)])
               for k in files.ENTRY_FIELDS}  # fmt: skip
    beta = np.concatenate([
        np.asarray(seg.beta[np.concatenate(
            [np.arange(a, a + m) for a, m in zip(seg.offsets[keep], seg.entries["sizes"][keep],
                                                 strict=True)] or [np.array([], np.int64)])])
        for seg, keep in zip(segs, keeps, strict=True)
    ]).astype(np.float32)  # fmt: skip
    if gamma is None or basis is None:
        rff = np.concatenate([seg.rff[keep] for seg, keep in zip(segs, keeps, strict=True)])
    else:
        sizes = entries["sizes"].astype(np.int64)
        dim = basis.W.shape[0]
        entries["self_terms"], rff = _rebased(
            folder, entries["ids"], sizes, beta, gamma, basis, dim
        )
    return files.Segment("", beta, rff, entries)


def update(
    folder: Path,
    space: str,
    add: Sequence[tuple[EntryInfo, Spec]],
    drop: set[str],
    fingerprint: Any,
    checkpoint: Callable[[str], None] | None = None,
    features: int = FEATURES,
) -> dict[str, Any]:
    """Add ``add`` and drop the ids ``drop`` (caller holds the folder's lock); return the manifest.

    New specs go into a new segment; the last segments are merged while the newest is at least
    as big as the one before (so there are O(log n) segments and each spec is copied O(log n)
    times), in memory, so an update writes (and fsyncs) one new segment, not every step; all
    segments are rewritten when more than :data:`PURGE_FRACTION` of the entries are dropped,
    or re-based when the geometric mean of the gammas drifts (:data:`GAMMA_DRIFT`).
    Segments of at least :func:`recycle.spec.ivf.segment_min` entries get an IVF list before
    the manifest names them. ``checkpoint(name)`` is called between the steps (crash tests).
    """
    folder.mkdir(parents=True, exist_ok=True)
    for _, spec in add:
        if spec.space != space:
            raise IncompatibleError(f"A spec in {spec.space!r} cannot join the {space!r} index.")
    manifest = files.read_manifest(folder) or {"segments": [], "dropped": []}
    segs = [files.read_segment(folder, s["name"]) for s in manifest["segments"]]
    stored = _stored(segs)
    dropped = (set(manifest["dropped"]) | set(drop)) & stored
    log_gammas = [np.log(s.entries["gammas"][~np.isin(s.entries["ids"], list(dropped))])
                  for s in segs] + [np.log([sp.gamma for _, sp in add])]  # fmt: skip
    all_logs = np.concatenate(log_gammas)
    gamma = float(manifest.get("gamma", 1.0))
    rebase = "gamma" not in manifest or (
        all_logs.size > 0 and abs(float(all_logs.mean()) - np.log(gamma)) > GAMMA_DRIFT
    )
    if rebase and all_logs.size:
        gamma = float(np.exp(all_logs.mean()))
    basis = RffBasis.draw(space, parse_space(space)[1], gamma, features)
    n_stored = sum(len(s.entries["ids"]) for s in segs)
    if segs and len(dropped) == n_stored:  # every stored spec dropped: start empty
        segs, dropped = [], set()
    elif segs and (rebase or len(dropped) > PURGE_FRACTION * n_stored):
        segs = [_merged(folder, segs, dropped, gamma if rebase else None, basis)]
        dropped = set()
    if add:
        segs.append(_new_segment(folder, add, gamma, basis))
    while len(segs) >= 2 and len(segs[-1].entries["ids"]) >= len(segs[-2].entries["ids"]):
        gone = set(segs[-2].entries["ids"]) | set(segs[-1].entries["ids"])
        segs[-2:] = [_merged(folder, segs[-2:], dropped, None, None)]  # in memory: one write
        dropped -= gone
    names = []
    for seg in segs:  # new segments are written once, whatever merges made them
        name = seg.name or files.write_segment(folder, seg.beta, seg.entries, seg.rff, False)
        if ivf.needs(folder / name, len(seg.entries["ids"])):  # big segments get IVF lists
            ivf.write(folder / name, seg.rff, seg.entries["self_terms"], checkpoint)
        names.append(name)
    files.sync_dir(folder)  # every new segment's rename is durable before the manifest's
    if checkpoint is not None:
        checkpoint("index_segments")
    manifest = {
        "space": space,
        "gamma": gamma,
        "features": features,
        "segments": [
            {"name": n, "entries": len(s.entries["ids"])} for n, s in zip(names, segs, strict=True)
        ],
        "dropped": sorted(dropped),
        "fingerprint": fingerprint,
    }  # fmt: skip
    files.write_manifest(folder, manifest)
    if checkpoint is not None:
        checkpoint("index_manifest")
    files.remove_garbage(folder, files.read_manifest(folder))
    files.remove_sets(folder, stored - _stored(segs))  # entries no live segment names
    return manifest


def _stored(segs: list[files.Segment]) -> set[str]:
    """Ids of every entry the segments hold (dropped ones included)."""
    return set(np.concatenate([s.entries["ids"] for s in segs]).tolist()) if segs else set()
