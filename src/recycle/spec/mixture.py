"""Mixture search: explain the user's data as a convex mixture of sources' specs.

Find ``w >= 0, sum(w) = 1`` minimising ``||sum_i w_i Phi_i - Phi_q||^2`` (Phi the reduced kernel
mean embeddings), a QP on the Gram matrix of specs ``G_ij = <Phi_i, Phi_j>`` and the vector
``c_i = <Phi_i, Phi_q>``. ``"qp"`` solves it exactly on a candidate pool, ``"greedy"`` adds one
source at a time (re-solving the QP on the chosen ones) while the MMD keeps dropping by at least
:data:`MIN_RELATIVE_DROP`, then refines by 1-swaps under the same rule. Each of the user's
points (reduced points, or rows if given) is then assigned to the chosen source with the largest
``w_i * Phi_i(x)``.

Examples
--------
>>> import numpy as np
>>> from recycle.spec import build_spec
>>> rng = np.random.default_rng(0)
>>> specs = [build_spec(rng.normal(loc=mu, size=(200, 2)), m=10) for mu in (0.0, 6.0, -6.0)]
>>> X = np.concatenate([rng.normal(loc=0.0, size=(150, 2)), rng.normal(loc=6.0, size=(150, 2))])
>>> sorted(int(i) for i in mixture_search(build_spec(X, m=20), specs).indices)
[0, 1]
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from recycle.errors import ConfigError
from recycle.spec.format import Spec
from recycle.spec.kernel import gaussian, simplex_qp
from recycle.spec.search import RELATED_RATIO, SpecIndex

#: Greedy search stops when adding the best next source lowers MMD^2 by less than this fraction
#: (the learnware paper's rule): a smaller drop is within the noise of the reduced sets.
MIN_RELATIVE_DROP = 0.05
#: Weights below this are dropped from the QP solution (then the QP is re-solved).
WEIGHT_FLOOR = 1e-3
#: Rounds of the 1-swap refinement after greedy forward selection.
SWAP_ROUNDS = 3
#: Candidates kept from the single-spec ranking before the mixture QP.
POOL = 50


@dataclass
class MixtureResult:
    """Sources whose mixture best matches the query."""

    #: chosen spec indices (into the ``specs`` passed in), by decreasing weight
    indices: np.ndarray
    #: mixture weights of ``indices`` (>= 0, sum 1)
    weights: np.ndarray
    #: squared MMD of the final mixture to the query
    mmd2: float
    #: squared MMD after each step (greedy: after each added source; qp: best single, mixture)
    mmd2_path: list[float]
    #: for each user point (query reduced points, or ``X`` rows), the position in ``indices``
    #: of the source covering it
    assignment: np.ndarray
    #: share of the user's data (beta mass, or rows) covered by each chosen source
    coverage: np.ndarray
    #: "greedy" or "qp"
    method: str


def mixture_search(
    query: Spec,
    specs: Sequence[Spec] | SpecIndex,
    method: str = "qp",
    max_sources: int = 5,
    X: np.ndarray | None = None,
    pool: int = POOL,
) -> MixtureResult:
    """Find the convex mixture of sources' specs closest (in MMD) to the query.

    Parameters
    ----------
    query : Spec
        The user's spec.
    specs : sequence of Spec or SpecIndex
        Candidate specs of the query's space.
    method : {"qp", "greedy"}
        The exact QP on the candidate pool (default; recovered 9/10 two-provider MNIST
        mixtures), or greedy forward selection + 1-swaps (4/10: its first pick can half-cover
        both true sources).
    max_sources : int
        Largest number of sources in the mixture.
    X : ndarray, optional
        The user's rows (in the spec's space); when given, ``assignment`` is per row.
    pool : int
        Candidates (best single MMD first) the mixture is chosen from.

    Returns
    -------
    MixtureResult

    Examples
    --------
    >>> import numpy as np
    >>> from recycle.spec import build_spec
    >>> rng = np.random.default_rng(1)
    >>> specs = [build_spec(rng.normal(loc=mu, size=(200, 2)), m=10) for mu in (0.0, 6.0)]
    >>> res = mixture_search(build_spec(rng.normal(size=(200, 2)), m=10), specs, method="qp")
    >>> [int(i) for i in res.indices]
    [0]
    """
    if method not in ("greedy", "qp"):
        raise ConfigError(
            f"mixture_search method must be 'greedy' or 'qp'. Got {method!r} instead."
        )
    if isinstance(max_sources, bool) or not isinstance(max_sources, int) or max_sources < 1:
        raise ConfigError(f"max_sources must be an int >= 1. Got {max_sources!r} instead.")
    index = specs if isinstance(specs, SpecIndex) else SpecIndex(specs)
    single = index.rank(query)
    cand = single.order[: max(pool, max_sources)]
    g = index.gamma
    G, c, qq = _gram(index, cand, query, g)
    # MMD^2 still consistent with "same distribution": below it there is nothing left to explain
    noise = RELATED_RATIO * float(single.null_mmd2[0])
    if method == "qp":
        chosen, w, path = _qp(G, c, qq, max_sources, float(single.mmd2[0]), noise)
    else:
        chosen, w, path = _greedy(G, c, qq, max_sources, noise)
    keep = np.argsort(-w)
    chosen, w = chosen[keep], w[keep]
    idx = cand[chosen]
    points = query.Z if X is None else np.asarray(X, dtype=np.float64).reshape(len(X), -1)
    mass = query.beta if X is None else np.full(points.shape[0], 1.0 / points.shape[0])
    resp = np.stack(
        [
            wi * (gaussian(points, index.specs[i].Z, g) @ index.specs[i].beta)
            for wi, i in zip(w, idx, strict=True)
        ],
        axis=1,
    )
    assignment = resp.argmax(axis=1)
    coverage = np.bincount(assignment, weights=mass, minlength=len(idx))
    return MixtureResult(idx, w, path[-1], path, assignment, coverage, method)


def _gram(
    index: SpecIndex, cand: np.ndarray, query: Spec, g: float
) -> tuple[np.ndarray, np.ndarray, float]:
    Zs = [index.specs[i].Z.astype(np.float64) for i in cand]
    bs = [index.specs[i].beta for i in cand]
    Zall = np.concatenate(Zs)
    ball = np.concatenate(bs)
    seg = np.repeat(np.arange(len(cand)), [z.shape[0] for z in Zs])
    K = gaussian(Zall, Zall, g) * np.outer(ball, ball)
    onehot = np.zeros((len(cand), Zall.shape[0]))
    onehot[seg, np.arange(Zall.shape[0])] = 1.0
    G = onehot @ K @ onehot.T
    Zq = query.Z.astype(np.float64)
    c = onehot @ (gaussian(Zall, Zq, g) @ query.beta * ball)
    qq = float(query.beta @ gaussian(Zq, Zq, g) @ query.beta)
    return (G + G.T) / 2.0, c, qq


def _mmd2(G: np.ndarray, c: np.ndarray, qq: float, w: np.ndarray) -> float:
    return max(float(qq - 2.0 * c @ w + w @ G @ w), 0.0)


def _qp(
    G: np.ndarray, c: np.ndarray, qq: float, max_sources: int, best_single: float, noise: float
) -> tuple[np.ndarray, np.ndarray, list[float]]:
    """Exact QP on the pool, then drop the smallest weights while the fit stays as good."""
    chosen = np.arange(G.shape[0])
    w = simplex_qp(G, c)
    keep = np.argsort(-w)[:max_sources]
    chosen = chosen[keep[w[keep] >= WEIGHT_FLOOR]] if (w[keep] >= WEIGHT_FLOOR).any() else keep[:1]
    w = simplex_qp(G[np.ix_(chosen, chosen)], c[chosen])
    full = _mmd2(G[np.ix_(chosen, chosen)], c[chosen], qq, w)
    allowed = max(full * (1.0 + MIN_RELATIVE_DROP), noise)
    while chosen.size > 1:  # a source whose removal costs < 5% (or stays at noise level) goes
        drop = chosen[np.argsort(-w)][:-1]
        w_drop = simplex_qp(G[np.ix_(drop, drop)], c[drop])
        if _mmd2(G[np.ix_(drop, drop)], c[drop], qq, w_drop) > allowed:
            break
        chosen, w = drop, w_drop
    return chosen, w, [best_single, _mmd2(G[np.ix_(chosen, chosen)], c[chosen], qq, w)]


def _swap(
    G: np.ndarray, c: np.ndarray, qq: float, chosen: list[int], w: np.ndarray, path: list[float]
) -> tuple[list[int], np.ndarray, list[float]]:
    """1-swap refinement: replace a chosen source by a candidate while MMD^2 drops >= 5%.

    Forward selection alone can lock in a first pick that half-covers two true sources
    (e.g. a provider sharing classes with both); one swap pass fixes that.
    """
    for _ in range(SWAP_ROUNDS):
        best: tuple[float, list[int], np.ndarray] | None = None
        for pos in range(len(chosen)):
            for j in range(G.shape[0]):
                if j in chosen:
                    continue
                trial = [*chosen[:pos], j, *chosen[pos + 1 :]]
                wj = simplex_qp(G[np.ix_(trial, trial)], c[trial])
                val = _mmd2(G[np.ix_(trial, trial)], c[trial], qq, wj)
                if best is None or val < best[0]:
                    best = (val, trial, wj)
        if best is None or best[0] > path[-1] * (1.0 - MIN_RELATIVE_DROP):
            break
        chosen, w = best[1], best[2]
        path.append(best[0])
    return chosen, w, path


def _greedy(
    G: np.ndarray, c: np.ndarray, qq: float, max_sources: int, noise: float
) -> tuple[np.ndarray, np.ndarray, list[float]]:
    """Add the source that lowers MMD^2 most while it drops >= 5% and is above noise level."""
    single = qq - 2.0 * c + np.diag(G)
    chosen = [int(np.argmin(single))]
    w = np.ones(1)
    path = [max(float(single[chosen[0]]), 0.0)]
    while len(chosen) < max_sources and path[-1] > noise:
        best: tuple[float, int, np.ndarray] | None = None
        for j in range(G.shape[0]):  # candidates of the pool (<= POOL), not the whole zoo
            if j in chosen:
                continue
            trial = [*chosen, j]
            wj = simplex_qp(G[np.ix_(trial, trial)], c[trial])
            val = _mmd2(G[np.ix_(trial, trial)], c[trial], qq, wj)
            if best is None or val < best[0]:
                best = (val, j, wj)
        if best is None or best[0] > path[-1] * (1.0 - MIN_RELATIVE_DROP):
            break
        chosen.append(best[1])
        w = best[2]
        path.append(best[0])
    chosen, w, path = _swap(G, c, qq, chosen, w, path)
    sel = np.array(chosen)
    mask = w >= WEIGHT_FLOOR
    if not mask.all():
        sel = sel[mask]
        w = simplex_qp(G[np.ix_(sel, sel)], c[sel])
    return sel, w, path
