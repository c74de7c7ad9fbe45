"""A persistent spec index: the specs of one space stacked on disk, searched without parsing JSON.

What :class:`~recycle.spec.search.SpecIndex` builds in memory from a list of specs on every call,
this keeps in a folder (layout and crash safety in :mod:`recycle.spec.index_files`): the stacked
reduced sets (float32, memory-mapped), each spec's self-term at the index's common bandwidth, a
random-Fourier-feature vector per spec (:mod:`recycle.spec.rff`), and the entry ids. Opening it
reads one small JSON manifest and maps the arrays; a query's cost depends on how many reduced
points it compares against, never on the size of the specs' JSON.

Which path a query takes (:meth:`PersistentIndex.rank`):

- up to ``candidates`` searchable specs (default :data:`RERANK`): exact MMD against all of them;
- more: the query's feature vector is matched against every spec's in a faiss index (exact L2
  on the vectors) and the best ``candidates`` are re-scored by exact MMD. Only those carry
  scores (``SearchResult.n_exact``); ``benchmarks/search_zoo.py`` measures recall@10 against
  exact search.

Common bandwidth: every score uses the index's ``gamma``, the geometric mean of its specs' gammas
when it was last re-based. Adding or dropping specs moves that mean only a little; when it moves
by more than :data:`GAMMA_DRIFT` (log scale) the whole index is re-based (self-terms and feature
vectors recomputed from the mapped reduced sets), so scores always use a bandwidth within 5 % of
the current geometric mean.

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
from recycle.spec.format import Spec, parse_space
from recycle.spec.index_files import COPY_ROWS
from recycle.spec.kernel import gaussian
from recycle.spec.rff import FEATURES, RffBasis
from recycle.spec.search import SearchResult, kernel_sums, null_mmd2, scale_notes, self_terms

#: Specs re-scored exactly after the vector pass (all of them when there are no more than this).
RERANK = 128
#: Specs whose reduced sets are gathered at once for exact scoring (bounds memory).
SCORE_ENTRIES = 1024
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
        self.row_of = np.concatenate([s.offsets for s in segments] or [np.array([])]).astype(
            np.int64
        )
        self.searchable = ~np.isin(self.ids, list(manifest.get("dropped", [])))
        self._basis: RffBasis | None = None
        self._vectors: tuple[bytes, Any] | None = None

    @classmethod
    def load(cls, folder: Path) -> PersistentIndex | None:
        """Map the index in ``folder`` (``None`` if there is none); SpecError if damaged."""
        manifest = files.read_manifest(folder)
        if manifest is None:
            return None
        segments = [files.read_segment(folder, s["name"]) for s in manifest["segments"]]
        for seg in segments:
            if seg.Z.shape[1] != parse_space(manifest["space"])[1]:
                raise SpecError(f"Spec index {str(folder)!r} has the wrong dimension; reindex.")
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

    def _rows(self, entries: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Reduced sets and weights of ``entries`` (positions), stacked in that order."""
        Zs, bs = [], []
        for e in entries:
            seg, start = self.segments[self.seg_of[e]], self.row_of[e]
            Zs.append(seg.Z[start : start + self.sizes[e]])
            bs.append(seg.beta[start : start + self.sizes[e]])
        return np.concatenate(Zs).astype(np.float32), np.concatenate(bs).astype(np.float32)

    def _vector_index(self, mask: np.ndarray) -> Any:
        """A faiss flat-L2 index of the feature vectors of the entries in ``mask`` (cached)."""
        import faiss

        key = np.packbits(mask).tobytes()
        if self._vectors is None or self._vectors[0] != key:
            index = faiss.IndexFlatL2(int(self.manifest["features"]))
            which = np.flatnonzero(mask)
            for i, seg in enumerate(self.segments):
                mine = which[self.seg_of[which] == i]
                local = mine - np.flatnonzero(self.seg_of == i)[0] if mine.size else mine
                if mine.size:
                    index.add(np.ascontiguousarray(seg.rff[local], dtype=np.float32))
            self._vectors = (key, index)
        return self._vectors[1]

    def rank(
        self, query: Spec, among: np.ndarray | None = None, candidates: int = RERANK
    ) -> SearchResult:
        """The closest specs to ``query``, best first; ``order`` holds positions in ``ids``.

        Parameters
        ----------
        query : Spec
            In this index's space.
        among : ndarray of bool, optional
            Which stored entries may be returned (default: all not dropped).
        candidates : int
            Specs scored exactly: all of them when there are no more, else the best by the
            vector pass.

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
        pool = np.flatnonzero(mask)
        if pool.size > candidates:
            vec = self.basis.embed(query.Z, query.beta)[None, :]
            _, found = self._vector_index(mask).search(vec, candidates)
            pool = pool[found[0][found[0] >= 0]]
        Zq = query.Z.astype(np.float64)
        qq = float(query.beta @ gaussian(Zq, Zq, self.gamma) @ query.beta)
        cross = np.zeros(pool.size)
        qz = query.Z.astype(np.float32)
        qn, qb = np.einsum("ij,ij->i", qz, qz), query.beta.astype(np.float32)
        for start in range(0, pool.size, SCORE_ENTRIES):  # bounded memory for exact-all runs
            part = pool[start : start + SCORE_ENTRIES]
            Zc, bc = self._rows(part)
            per_point = kernel_sums(qz, qn, qb, Zc, np.einsum("ij,ij->i", Zc, Zc), self.gamma)
            blocks = files.starts(self.sizes[part])
            cross[start : start + SCORE_ENTRIES] = np.add.reduceat(per_point * bc, blocks)
        mmd2 = np.maximum(qq - 2.0 * cross + self.self_terms[pool], 0.0)
        null = null_mmd2(query, qq, cross, self.self_terms[pool], self.n[pool], self.residual[pool])
        order = np.argsort(mmd2, kind="stable")
        notes = scale_notes(query.gamma, self.gamma)
        return SearchResult(
            pool[order], mmd2[order], null[order], self.gamma, self.space, notes, int(pool.size)
        )


def _derive(
    entries: dict[str, Any], beta: np.ndarray, gamma: float, basis: RffBasis
) -> files.Derive:
    """Self-terms and feature vectors of a written reduced set, at ``gamma``."""
    sizes = np.asarray(entries["sizes"], dtype=np.int64)
    offsets = files.starts(sizes)

    def derive(Z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        norms = np.concatenate(
            [np.einsum("ij,ij->i", b, b) for b in (Z[s : s + COPY_ROWS] for s in
             range(0, Z.shape[0], COPY_ROWS))] or [np.array([])]
        )  # fmt: skip
        terms = self_terms(Z, norms, beta, offsets, sizes, gamma)
        return terms, basis.embed_many(Z, beta, offsets)

    return derive


def _write_new(
    folder: Path, items: Sequence[tuple[EntryInfo, Spec]], gamma: float, basis: RffBasis
) -> str:
    """A segment holding ``items`` (self-terms and vectors at ``gamma``)."""
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
    return files.write_segment(
        folder, [(Z, None)], beta, entries, _derive(entries, beta, gamma, basis)
    )


def _merge(
    folder: Path, segs: list[files.Segment], dropped: set[str], gamma: float | None,
    basis: RffBasis | None,
) -> str:  # fmt: skip
    """One segment with the live entries of ``segs``; self-terms and vectors recomputed when
    re-basing (``gamma`` given), else copied."""
    keeps = [~np.isin(s.entries["ids"], list(dropped)) for s in segs]
    entries = {k: np.concatenate([s.entries[k][kp] for s, kp in zip(segs, keeps, strict=True)])
               for k in files.ENTRY_FIELDS}  # fmt: skip
    parts: list[files.Part] = []
    for seg, keep in zip(segs, keeps, strict=True):
        starts, sizes = seg.offsets[keep], seg.entries["sizes"][keep]
        rows = np.concatenate([np.arange(a, a + m) for a, m in zip(starts, sizes, strict=True)]
                              or [np.array([], np.int64)])  # fmt: skip
        parts.append((seg.Z, rows))
    beta = np.concatenate([seg.beta[rows] for (_, rows), seg in zip(parts, segs, strict=True)])
    if gamma is None or basis is None:
        rff: np.ndarray | files.Derive = np.concatenate(
            [seg.rff[keep] for seg, keep in zip(segs, keeps, strict=True)]
        )
    else:
        rff = _derive(entries, beta, gamma, basis)
    return files.write_segment(folder, parts, beta.astype(np.float32), entries, rff)


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
    times); all segments are rewritten when more than :data:`PURGE_FRACTION` of the entries are
    dropped, or re-based when the geometric mean of the gammas drifts (:data:`GAMMA_DRIFT`).
    ``checkpoint(name)`` is called between the steps (crash tests).
    """
    folder.mkdir(parents=True, exist_ok=True)
    for _, spec in add:
        if spec.space != space:
            raise IncompatibleError(f"A spec in {spec.space!r} cannot join the {space!r} index.")
    manifest = files.read_manifest(folder) or {"segments": [], "dropped": []}
    segs = [files.read_segment(folder, s["name"]) for s in manifest["segments"]]
    stored = set(np.concatenate([s.entries["ids"] for s in segs]).tolist()) if segs else set()
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
    names = [s.name for s in segs]
    n_stored = sum(len(s.entries["ids"]) for s in segs)
    if segs and len(dropped) == n_stored:  # every stored spec dropped: start empty
        names, segs, dropped = [], [], set()
    elif segs and (rebase or len(dropped) > PURGE_FRACTION * n_stored):
        names = [_merge(folder, segs, dropped, gamma if rebase else None, basis)]
        segs = [files.read_segment(folder, names[0])]
        dropped = set()
    if add:
        names.append(_write_new(folder, add, gamma, basis))
        segs.append(files.read_segment(folder, names[-1]))
    while len(segs) >= 2 and len(segs[-1].entries["ids"]) >= len(segs[-2].entries["ids"]):
        merged = _merge(folder, segs[-2:], dropped, None, None)
        gone = set(segs[-2].entries["ids"]) | set(segs[-1].entries["ids"])
        dropped -= gone
        names[-2:] = [merged]
        segs[-2:] = [files.read_segment(folder, merged)]
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
    return manifest
