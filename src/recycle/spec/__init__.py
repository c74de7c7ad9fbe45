"""Data-free specifications (RKME) and statistical search.

Providers summarise private rows by :func:`build_spec` (a reduced kernel mean embedding);
users rank the zoo's specs against theirs with :func:`rank` and explain their data as a mixture
of sources with :func:`mixture_search`. Specs live in a declared space (raw input or a shared
embedding, see :mod:`recycle.spec.spaces`) and only specs of one space are compared.

Design choices (measured in ``benchmarks/spec_vs_learnware.py``, results in
``benchmarks/results/spec_*.json``):

- **Scale-free kernel, no standardisation.** The Gaussian bandwidth is the median heuristic
  ``1 / median ||x_i - x_j||^2`` of the provider's own rows, stored in the spec; scaling the data
  by c scales Z by c and gamma by 1/c^2, so identification is identical on [0, 1] and 0-255
  pixels (20/20 top-1 on both, 40 and 120 MNIST providers). Per-party standardisation (z-score
  with one's own mean/std) also gave 20/20 on [0, 1] pixels, but puts each spec in its own
  coordinates and releases per-feature statistics; the scale-free kernel needs neither.
- **One bandwidth per comparison.** MMD needs the same kernel on both sides; a
  :class:`SpecIndex` uses the geometric mean of its specs' gammas for every comparison
  (self-terms precomputed once) and flags a query whose own gamma is > 100x off (scale mismatch).
- **Calibrated scores.** ``SearchResult.ratio`` = MMD^2 / its expectation if both specs
  summarised samples of one distribution (sampling term + the specs' stored residuals): ~1 means
  "same distribution"; ``related`` thresholds it at ``RELATED_RATIO`` learned from
  same-vs-different pairs.
- **Privacy knob m.** Z never holds a row (a guard replaces any reduced point that coincides with
  a row by the mean of its nearest rows); fewer points = each one averages more rows (further
  from any real row) but a coarser embedding (``benchmarks/spec_privacy.py``).

Which search to use:

- a zoo (``Zoo.search``, ``recycle search``, the service's ``POST /specs/search``): the zoo keeps a
  persistent index per space (:mod:`recycle.spec.index`) up to date on every registration and
  removal; per spec it holds a random-Fourier-feature vector (:mod:`recycle.spec.rff`) and a few
  numbers, and each reduced set in its own file. How a query is ranked
  (:mod:`recycle.spec.cascade`), every stage by ``self_s - 2 v_q . v_s`` (exact self-term):
  exact MMD against every spec while they hold at most ``EXACT_WORK`` numbers (~64 specs of
  m=100 at 784-d); up to 16,384 specs the score on all 1,024 features; above, on the first 256
  features first (2,048 kept, re-scored on all); from 200,000 specs that first stage probes the
  faiss IVF lists of the index's big segments (:mod:`recycle.spec.ivf`); the best ``RERANK``
  (32) are read and scored exactly (recall@10 against exact search in ``docs/search_zoo.md``).
  Searches use ``RECYCLE_SEARCH_THREADS`` threads (default 1, :mod:`recycle.spec.threads`).
  ``recycle zoo reindex`` rebuilds the index (and its IVF lists).
- a list of specs in memory (a few hundred, e.g. a study): :func:`rank` (exact; past 50,000
  reduced points a PCA prefilter then exact re-ranking, :mod:`recycle.spec.prefilter`); reuse
  one :class:`SpecIndex` for many queries.

Examples
--------
>>> import numpy as np
>>> from recycle.spec import build_spec, rank
>>> rng = np.random.default_rng(0)
>>> specs = [build_spec(rng.normal(loc=mu, size=(200, 2)), m=10) for mu in (0.0, 5.0)]
>>> int(rank(build_spec(rng.normal(loc=5.0, size=(200, 2)), m=10), specs).order[0])
1
"""

from __future__ import annotations

from recycle.spec.format import Spec, parse_space
from recycle.spec.mixture import MixtureResult, mixture_search
from recycle.spec.rkme import build_spec
from recycle.spec.search import SearchResult, SpecIndex, rank
from recycle.spec.spaces import choose_space, embed_for_space, space_for, spec_space_for

__all__ = [
    "MixtureResult",
    "SearchResult",
    "Spec",
    "SpecIndex",
    "build_spec",
    "choose_space",
    "embed_for_space",
    "mixture_search",
    "parse_space",
    "rank",
    "space_for",
    "spec_space_for",
]
