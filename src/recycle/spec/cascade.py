"""How a persistent spec index ranks a query: exact scan, or a cascade of cheaper stages.

Every stage ranks by the same score, an estimate of the squared MMD less the query's own term:
``self_s - 2 v_q . v_s``, with ``self_s`` the spec's stored *exact* self-term and ``v`` the
random-feature vectors (:mod:`recycle.spec.rff`); never by the plain distance ``||v_q - v_s||^2``,
whose ``||v_s||^2`` is a noisy copy of ``self_s``. A prefix of ``P`` of the ``D`` features
estimates ``P / D`` of the cross term, so a prefix stage scores ``self_s - 2 (D / P) q_P . s_P``.

Which path a query over N searchable specs takes (:func:`rank`):

- **exact**: when the specs hold at most ``exact_work`` numbers (reduced points x dimension) or
  N <= ``candidates``: exact MMD against every spec (reading all their reduced sets);
- **one stage** (N <= :attr:`Stages.one_stage_max`, 16,384): the score on all ``D`` features
  of every spec, then exact MMD of the best ``candidates`` (default 32);
- **two stages** (more): the score on the first :attr:`Stages.prefix` (256) features keeps a
  shortlist of :attr:`Stages.shortlist` (2,048), re-scored on all ``D`` features, then the best
  ``candidates`` exactly; from :attr:`Stages.ivf_min` (200,000) searchable specs, the prefix
  stage of each segment that has an IVF list (:mod:`recycle.spec.ivf`) probes its cells
  instead of scanning every prefix (segments without one are scanned).

Only the exactly scored specs carry scores (``SearchResult.n_exact``). Reduced sets are read
through the index's ``read_sets`` (the set files; benchmarks may generate them).

Examples
--------
>>> Stages().one_stage_max, Stages().shortlist, Stages(shortlist=64).prefix
(16384, 2048, 256)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from recycle.spec.kernel import gaussian
from recycle.spec.search import SearchResult, kernel_sums, null_mmd2, scale_notes

if TYPE_CHECKING:
    from recycle.spec.format import Spec
    from recycle.spec.index import PersistentIndex

#: Specs scored exactly after the vector stages. With the exact self-term in the score, 32 kept
#: recall@10 at 1.0 over 20,000 synthetic 784-d specs (16: 0.98; benchmarks/search_index.py);
#: each costs ~0.4 ms of CPU at m=100.
RERANK = 32
#: Largest exact scan, in numbers read (reduced points x dimension; 20 MB of float32): about
#: twice the work of re-scoring RERANK specs of m=100 at 784-d.
EXACT_WORK = 5_000_000
#: Specs whose reduced sets are gathered at once for exact scoring (bounds memory).
SCORE_ENTRIES = 1024


@dataclass(frozen=True)
class Stages:
    """Sizes of the cascade (see the module docstring); tests and benchmarks pass their own."""

    #: most searchable specs scored on all features in one stage (64 MiB of vectors)
    one_stage_max: int = 16_384
    #: features of the first of two stages: a quarter of the bytes of a scan
    prefix: int = 256
    #: specs the prefix stage keeps for the full-feature stage
    shortlist: int = 2048
    #: searchable specs from which the prefix stage probes the segments' IVF lists
    ivf_min: int = 200_000
    #: IVF cells probed per segment (of up to 1,024; at 1,000,000 specs 16 kept recall@10 at
    #: 0.98 too and saved ~1.5 ms of CPU: 32 is the margin)
    nprobe: int = 32


def _full_scores(index: PersistentIndex, pos: np.ndarray, vec: np.ndarray) -> np.ndarray:
    """``self_s - 2 v_q . v_s`` on all features for the entries at positions ``pos`` (sorted),
    read from their segments' memory maps."""
    out = np.empty(pos.size)
    segs = index.seg_of[pos]
    for s in np.unique(segs):
        here = np.flatnonzero(segs == s)
        rows = index.entry_row[pos[here]]
        out[here] = index.self_terms[pos[here]] - 2.0 * (index.segments[s].rff[rows] @ vec)
    return out


def _prefix(index: PersistentIndex, s: int, p: int) -> np.ndarray:
    """Segment ``s``'s first ``p`` features, contiguous (cached on the index)."""
    key = ("prefix", index.segments[s].name, p)
    if key not in index.cache:
        index.cache[key] = np.ascontiguousarray(index.segments[s].rff[:, :p])
    return index.cache[key]  # type: ignore[no-any-return]


def _prefix_stage(
    index: PersistentIndex, vec: np.ndarray, mask: np.ndarray, stages: Stages
) -> np.ndarray:
    """Positions of the ``stages.shortlist`` masked entries with the best prefix score.

    An IVF list returns its segment's best ``shortlist`` entries before the mask is applied,
    so entries outside the mask (dropped, older versions) shorten that segment's share."""
    p, scale = stages.prefix, index.basis.features / stages.prefix
    use_ivf = int(mask.sum()) >= stages.ivf_min
    pos_all, score_all = [], []
    start = 0
    for s, seg in enumerate(index.segments):
        count = len(seg.entries["ids"])
        lists = index.ivf_list(s) if use_ivf else None
        if lists is not None and lists.prefix == p:
            rows, score = lists.search(scale * vec[:p], stages.shortlist, stages.nprobe)
        else:
            rows = np.arange(count)
            terms = index.self_terms[start : start + count]
            score = terms - 2.0 * scale * (_prefix(index, s, p) @ vec[:p])
        keep = mask[start + rows]
        pos_all.append(start + rows[keep])
        score_all.append(score[keep])
        start += count
    pos, score = np.concatenate(pos_all), np.concatenate(score_all)
    if pos.size > stages.shortlist:
        pos = pos[np.argpartition(score, stages.shortlist - 1)[: stages.shortlist]]
    return np.sort(pos)  # sorted rows read the memory maps in order


def vector_pass(
    index: PersistentIndex, vec: np.ndarray, mask: np.ndarray, k: int, stages: Stages
) -> np.ndarray:
    """Positions of the ``k`` entries of ``mask`` with the best score (one or two stages)."""
    which = np.flatnonzero(mask)
    if which.size <= stages.one_stage_max:
        key = ("full", np.packbits(mask).tobytes())
        if key not in index.cache:  # the searchable vectors, one copy (<= 64 MiB)
            index.cache.pop(next((c for c in index.cache if c[0] == "full"), None), None)
            index.cache[key] = np.concatenate([seg.rff for seg in index.segments])[which]
        est = index.self_terms[which] - 2.0 * (index.cache[key] @ vec)
        short = which
    else:
        short = _prefix_stage(index, vec, mask, stages)
        est = _full_scores(index, short, vec)
    best = np.argpartition(est, k - 1)[:k] if k < est.size else np.arange(est.size)
    return short[best]


def rank(
    index: PersistentIndex,
    query: Spec,
    mask: np.ndarray,
    candidates: int = RERANK,
    exact_work: int = EXACT_WORK,
    stages: Stages | None = None,
) -> SearchResult:
    """Rank the entries of ``index`` in ``mask`` for ``query`` (same space; see the module
    docstring); called by :meth:`recycle.spec.index.PersistentIndex.rank`."""
    stages = stages or Stages()
    pool = np.flatnonzero(mask)
    if pool.size > candidates and int(index.sizes[pool].sum()) * index.dim > exact_work:
        vec = index.basis.embed(query.Z, query.beta)
        pool = np.sort(vector_pass(index, vec, mask, candidates, stages))
    gamma = index.gamma
    Zq = query.Z.astype(np.float64)
    qq = float(query.beta @ gaussian(Zq, Zq, gamma) @ query.beta)
    cross = np.zeros(pool.size)
    qz = query.Z.astype(np.float32)
    qn, qb = np.einsum("ij,ij->i", qz, qz), query.beta.astype(np.float32)
    for start in range(0, pool.size, SCORE_ENTRIES):  # bounded memory for exact-all runs
        part = pool[start : start + SCORE_ENTRIES]
        Zc, bc = index.rows(part)
        per_point = kernel_sums(qz, qn, qb, Zc, np.einsum("ij,ij->i", Zc, Zc), gamma)
        blocks = np.cumsum(index.sizes[part]) - index.sizes[part]
        cross[start : start + SCORE_ENTRIES] = np.add.reduceat(per_point * bc, blocks)
    terms = index.self_terms[pool]
    mmd2 = np.maximum(qq - 2.0 * cross + terms, 0.0)
    null = null_mmd2(query, qq, cross, terms, index.n[pool], index.residual[pool])
    order = np.argsort(mmd2, kind="stable")
    notes = scale_notes(query.gamma, gamma)
    return SearchResult(pool[order], mmd2[order], null[order], gamma, index.space, notes,
                        int(pool.size))  # fmt: skip
