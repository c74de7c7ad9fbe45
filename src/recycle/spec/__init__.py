"""Data-free specifications (RKME) and statistical search.

Providers summarise private rows by :func:`build_spec` (a reduced kernel mean embedding);
users rank the zoo's specs against theirs with :func:`rank` and explain their data as a mixture
of sources with :func:`mixture_search`. Specs live in a declared space (raw input or a shared
embedding, see :mod:`recycle.spec.spaces`) and only specs of one space are compared.

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
from recycle.spec.spaces import embed_for_space, space_for, spec_space_for

__all__ = [
    "MixtureResult",
    "SearchResult",
    "Spec",
    "SpecIndex",
    "build_spec",
    "embed_for_space",
    "mixture_search",
    "parse_space",
    "rank",
    "space_for",
    "spec_space_for",
]
