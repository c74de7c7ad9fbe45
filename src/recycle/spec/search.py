"""Statistical search: rank specs by MMD to a query, with a calibrated p-value.

All specs of one space are stacked into one float32 matrix (a :class:`SpecIndex`, built once and
reusable); a query costs one kernel block ``K(Z_query, Z_all)`` computed chunk by chunk with the
norms trick, and a segment sum. Per-spec self-terms ``beta' K beta`` are precomputed at index time.

Common bandwidth: specs built from different data carry different gammas; to be comparable,
every MMD in one index uses the index's gamma, the geometric mean of its specs' gammas (a
query whose own gamma is > 100x off is flagged as a likely scale mismatch).

Calibration: if query and spec summarised samples of one distribution, the expected squared MMD
between their kernel means is ``(1/n_q + 1/n_s) (1 - ||mu_0||^2)`` (sampling noise; mu_0 the pooled
embedding, Gaussian kernel so k(x, x) = 1) plus the two specs' own reduction residuals (stored at
build time). ``SearchResult.ratio`` is the observed MMD^2 divided by that expectation: about 1 for
"same distribution", large for unrelated data; ``related`` thresholds it at :data:`RELATED_RATIO`,
learned from same-vs-different pairs (benchmarks/spec_vs_learnware.py, spec_calibration.json).

Examples
--------
>>> import numpy as np
>>> from recycle.spec import build_spec
>>> rng = np.random.default_rng(0)
>>> specs = [build_spec(rng.normal(loc=mu, size=(200, 2)), m=10) for mu in (0.0, 3.0)]
>>> q = build_spec(rng.normal(loc=3.0, size=(200, 2)), m=10)
>>> order, scores = rank(q, specs)
>>> int(order[0])
1
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np

from recycle.errors import IncompatibleError, SpecError
from recycle.spec import prefilter
from recycle.spec.format import Spec
from recycle.spec.kernel import gaussian

#: Kernel-block entries computed at once (bounds memory: 2**24 float32 = 64 MB).
CHUNK_ENTRIES = 1 << 24
#: Ratio of query gamma to index gamma beyond which the result is flagged as a scale mismatch.
SCALE_MISMATCH = 100.0
#: Largest ratio (observed MMD^2 / its expectation under "same distribution") called related.
#: Learned from same-vs-different pairs (MNIST, 120 3-class providers x 20 users): a provider
#: with the user's subset scores 0.74-1.25, every other provider >= 2.08 (those sharing 2 of 3
#: classes), >= 6.0 with no class in common; at 2.0 all 20 same pairs and none of the 2,380
#: different pairs are called related (benchmarks/results/spec_calibration.json).
RELATED_RATIO = 2.0


@dataclass
class SearchResult:
    """Ranked specs, best first. Unpacks as ``order, mmd2 = result``."""

    #: spec indices, best (smallest MMD^2) first
    order: np.ndarray
    #: squared MMD of each spec in ``order``
    mmd2: np.ndarray
    #: expected MMD^2 of each spec in ``order`` if it summarised the query's distribution
    null_mmd2: np.ndarray
    #: bandwidth every MMD used
    gamma: float
    #: the space searched
    space: str
    #: warnings about the comparison (e.g. scale mismatch)
    notes: list[str] = field(default_factory=list)
    #: how many leading entries have exact scores (the rest come from the prefilter pass)
    n_exact: int | None = None

    @property
    def ratio(self) -> np.ndarray:
        """``mmd2 / null_mmd2``: ~1 for the same distribution, >> 1 for unrelated data."""
        return self.mmd2 / np.maximum(self.null_mmd2, 1e-300)

    @property
    def related(self) -> np.ndarray:
        """``ratio <= RELATED_RATIO``: the spec is consistent with the query's distribution."""
        return self.ratio <= RELATED_RATIO

    @property
    def scores(self) -> np.ndarray:
        """Alias of :attr:`mmd2`."""
        return self.mmd2

    def __iter__(self) -> Iterator[np.ndarray]:
        return iter((self.order, self.mmd2))


class SpecIndex:
    """All specs of one space stacked for batched search (build once, query many times).

    Parameters
    ----------
    specs : sequence of Spec
        Specs of one space.
    gamma : float, optional
        Common bandwidth; default the geometric mean of the specs' gammas.
    approx : bool, optional
        Use the prefilter + exact re-ranking (:mod:`recycle.spec.prefilter`); default: when the
        index holds more than ``APPROX_MIN_POINTS`` reduced points.

    Examples
    --------
    >>> import numpy as np
    >>> from recycle.spec import build_spec
    >>> rng = np.random.default_rng(0)
    >>> index = SpecIndex([build_spec(rng.normal(size=(100, 3)), m=5) for _ in range(3)])
    >>> len(index), index.space
    (3, 'input:3')
    """

    def __init__(
        self, specs: Sequence[Spec], gamma: float | None = None, approx: bool | None = None
    ) -> None:
        specs = list(specs)
        if not specs:
            raise SpecError("Cannot search an empty list of specs; register models with specs.")
        spaces = {s.space for s in specs}
        if len(spaces) != 1:
            raise IncompatibleError(
                f"Specs of one search must share a space. Got {sorted(spaces)}; search per space."
            )
        self.specs = specs
        self.space = specs[0].space
        gammas = np.array([s.gamma for s in specs])
        self.gamma = float(np.exp(np.log(gammas).mean())) if gamma is None else float(gamma)
        self.Z = np.ascontiguousarray(np.concatenate([s.Z for s in specs]), dtype=np.float32)
        self.norms = np.einsum("ij,ij->i", self.Z, self.Z)
        self.beta = np.concatenate([s.beta for s in specs]).astype(np.float32)
        sizes = np.array([s.m for s in specs])
        self.offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]])
        self.n = np.array([s.n for s in specs], dtype=np.float64)
        self.residual = np.array([s.residual or 0.0 for s in specs])
        self.sizes = sizes
        self.self_terms = self_terms(self.Z, self.norms, self.beta, self.offsets, sizes, self.gamma)
        if approx is None:
            approx = self.Z.shape[0] > prefilter.APPROX_MIN_POINTS
        self.approx = bool(approx) and len(specs) > prefilter.keep_count(len(specs))
        if self.approx:
            self._mean, self._U = prefilter.pca_basis(self.Z)
            C = self.Z - self._mean
            self._P = np.ascontiguousarray(C @ self._U)
            self._cnorms = np.einsum("ij,ij->i", C, C)

    def __len__(self) -> int:
        return len(self.specs)

    def cross(self, Z: np.ndarray, beta: np.ndarray) -> np.ndarray:
        """``<Phi_query, Phi_s>`` for every spec s, in one pass over the stacked reduced sets."""
        Zq = np.asarray(Z, dtype=np.float32)
        qn = np.einsum("ij,ij->i", Zq, Zq)
        per_point = kernel_sums(
            Zq, qn, np.asarray(beta, np.float32), self.Z, self.norms, self.gamma
        )
        return np.add.reduceat(per_point * self.beta, self.offsets)

    def _cross_subset(self, ids: np.ndarray, Z: np.ndarray, beta: np.ndarray) -> np.ndarray:
        rows = np.concatenate(
            [np.arange(o, o + m) for o, m in zip(self.offsets[ids], self.sizes[ids], strict=True)]
        )
        Zq = np.asarray(Z, dtype=np.float32)
        qn = np.einsum("ij,ij->i", Zq, Zq)
        per_point = kernel_sums(
            Zq, qn, np.asarray(beta, np.float32), self.Z[rows], self.norms[rows], self.gamma
        )
        local = np.concatenate([[0], np.cumsum(self.sizes[ids])[:-1]])
        return np.add.reduceat(per_point * self.beta[rows], local)

    def _cross_approx(self, Z: np.ndarray, beta: np.ndarray) -> tuple[np.ndarray, float]:
        Zc, bc = prefilter.compress(Z, beta, prefilter.QUERY_POINTS)
        C = (Zc - self._mean).astype(np.float32)
        qn = np.einsum("ij,ij->i", C, C)
        per_point = kernel_sums(
            C @ self._U, qn, bc.astype(np.float32), self._P, self._cnorms, self.gamma
        )
        qq = float(bc @ gaussian(Zc, Zc, self.gamma) @ bc)
        return np.add.reduceat(per_point * self.beta, self.offsets), qq

    def rank(self, query: Spec) -> SearchResult:
        """Rank all specs by squared MMD to ``query`` (see :func:`rank`)."""
        if query.space != self.space:
            raise IncompatibleError(
                f"Query spec lives in {query.space!r} but the specs in {self.space!r}; "
                "build the query in the same space (see recycle.spec.embed_for_space)."
            )
        Zq = query.Z.astype(np.float64)
        qq = float(query.beta @ gaussian(Zq, Zq, self.gamma) @ query.beta)
        n_exact = None
        if self.approx:
            approx_cross, qq_c = self._cross_approx(Zq, query.beta)
            first = qq_c - 2.0 * approx_cross + self.self_terms
            n_keep = prefilter.keep_count(len(self.specs))
            keep = np.argpartition(first, n_keep - 1)[:n_keep]
            cross = approx_cross
            cross[keep] = self._cross_subset(keep, query.Z, query.beta)
            mmd2 = np.maximum(first, 0.0)
            mmd2[keep] = np.maximum(qq - 2.0 * cross[keep] + self.self_terms[keep], 0.0)
            n_exact = int(keep.size)
        else:
            cross = self.cross(query.Z, query.beta)
            mmd2 = np.maximum(qq - 2.0 * cross + self.self_terms, 0.0)
        null = null_mmd2(query, qq, cross, self.self_terms, self.n, self.residual)
        if n_exact is None:
            order = np.argsort(mmd2, kind="stable")
        else:  # exactly scored candidates first, then the rest by their first-pass score
            rest = np.setdiff1d(np.arange(mmd2.size), keep)
            order = np.concatenate(
                [
                    keep[np.argsort(mmd2[keep], kind="stable")],
                    rest[np.argsort(mmd2[rest], kind="stable")],
                ]
            )
        notes = scale_notes(query.gamma, self.gamma)
        return SearchResult(order, mmd2[order], null[order], self.gamma, self.space, notes, n_exact)


def rank(
    query: Spec, specs: Sequence[Spec] | SpecIndex, gamma: float | None = None
) -> SearchResult:
    """Rank ``specs`` by squared MMD to ``query``, best first.

    Parameters
    ----------
    query : Spec
        The user's spec (same space as ``specs``).
    specs : sequence of Spec or SpecIndex
        Candidate specs; pass a prebuilt :class:`SpecIndex` to reuse it across queries.
    gamma : float, optional
        Common bandwidth (only when ``specs`` is a sequence); default the geometric mean of
        the specs' gammas.

    Returns
    -------
    SearchResult
        ``order`` and ``mmd2`` (unpacks as ``order, scores``), plus ``ratio`` and ``related``.

    Examples
    --------
    >>> import numpy as np
    >>> from recycle.spec import build_spec
    >>> rng = np.random.default_rng(0)
    >>> specs = [build_spec(rng.normal(loc=mu, size=(200, 2)), m=10) for mu in (0.0, 4.0)]
    >>> res = rank(build_spec(rng.normal(size=(200, 2)), m=10), specs)
    >>> int(res.order[0]), bool(res.related[0]), bool(res.related[1])
    (0, True, False)
    """
    index = specs if isinstance(specs, SpecIndex) else SpecIndex(specs, gamma=gamma)
    return index.rank(query)


def null_mmd2(
    query: Spec,
    qq: float,
    cross: np.ndarray,
    self_terms: np.ndarray,
    n: np.ndarray,
    residual: np.ndarray,
) -> np.ndarray:
    """Expected MMD^2 of each spec if it summarised the query's distribution (see module doc)."""
    nq = float(query.n)
    pooled = (nq * nq * qq + 2.0 * nq * n * cross + n * n * self_terms) / (nq + n) ** 2
    null = (1.0 / nq + 1.0 / n) * np.maximum(1.0 - pooled, 0.0)
    return null + (query.residual or 0.0) + residual


def scale_notes(query_gamma: float, gamma: float) -> list[str]:
    """A warning when the query's bandwidth is more than ``SCALE_MISMATCH`` x off ``gamma``."""
    ratio = query_gamma / gamma
    if 1.0 / SCALE_MISMATCH <= ratio <= SCALE_MISMATCH:
        return []
    return [
        f"query bandwidth is {ratio:.3g}x the zoo's: the query data is probably on a "
        "different scale from the providers' (e.g. 0-255 vs [0, 1] pixels)"
    ]


def self_terms(
    Z: np.ndarray,
    norms: np.ndarray,
    beta: np.ndarray,
    offsets: np.ndarray,
    sizes: np.ndarray,
    gamma: float,
) -> np.ndarray:
    """``beta_s' K(Z_s, Z_s) beta_s`` of every spec s stacked in ``Z`` (rows ``offsets[s]`` on).

    Examples
    --------
    >>> Z = np.zeros((3, 2), np.float32)
    >>> self_terms(Z, np.zeros(3), np.full(3, 0.5), np.array([0, 2]), np.array([2, 1]), 1.0)
    array([1.  , 0.25])
    """
    out = np.empty(len(sizes))
    for m in np.unique(sizes):  # one batched product per distinct m (usually one)
        which = np.flatnonzero(sizes == m)
        step = max(1, CHUNK_ENTRIES // int(m * m))
        for start in range(0, which.size, step):
            ids = which[start : start + step]
            rows = offsets[ids][:, None] + np.arange(m)[None, :]
            Zb, nb, bb = Z[rows], norms[rows], beta[rows]
            D = nb[:, :, None] + nb[:, None, :] - 2.0 * np.matmul(Zb, Zb.transpose(0, 2, 1))
            K = np.exp(-gamma * np.maximum(D, 0.0))
            out[ids] = np.einsum("si,sij,sj->s", bb, K, bb, dtype=np.float64)
    return out


def kernel_sums(
    Q: np.ndarray, qn: np.ndarray, bq: np.ndarray, M: np.ndarray, mn: np.ndarray, gamma: float
) -> np.ndarray:
    """``sum_a bq_a exp(-gamma ||q_a - m_i||^2)`` for every row i of M, chunk by chunk (float32)."""
    out = np.empty(M.shape[0], dtype=np.float64)
    step = max(1, CHUNK_ENTRIES // max(Q.shape[0], 1))
    g = np.float32(-gamma)
    for start in range(0, M.shape[0], step):
        D = Q @ M[start : start + step].T
        D *= -2.0
        D += qn[:, None]
        D += mn[None, start : start + step]
        np.maximum(D, 0.0, out=D)
        D *= g
        np.exp(D, out=D)
        out[start : start + step] = bq @ D
    return out
