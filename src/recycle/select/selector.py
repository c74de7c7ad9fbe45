"""The two-phase selector: recall compatible candidates cheaply, then embed, score and rank.

Phase one keeps the zoo entries (or sources) whose modality and input schema fit the target and,
when the zoo holds comparable statistical specifications and there are many candidates, keeps
the ``recall`` closest by spec search. Phase two embeds the target with every candidate (through
the feature cache, in the parallel map of :mod:`recycle.parallel`), scores the features with a
transferability score of :mod:`recycle.select.scores`, ranks, and chooses ``m`` sources (fixed,
or automatically with :func:`recycle.select.auto_m.choose_m`). A source that fails is skipped
with a warning and reported in the ranking; it never stops the selection.
"""

from __future__ import annotations

import warnings
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from recycle.data import check_target, infer_modality
from recycle.errors import ConfigError, IncompatibleError, RecycleError, SourceFailedError
from recycle.parallel import map_sources
from recycle.progress import ProgressCallback
from recycle.select.auto_m import MAX_M, AutoMResult, choose_m
from recycle.select.scores import SCORES
from recycle.sources.base import SourceModel, has_head
from recycle.sources.cache import cached_embed

#: Without an explicit ``recall``, spec search prunes the candidates only above this many.
DEFAULT_RECALL = 50


@dataclass
class SourceScore:
    """One ranked (or failed) candidate."""

    source_id: str  # the loaded source's id (feature-cache key)
    entry_id: str | None  # zoo entry id, None for a plain source
    name: str  # card name (zoo) or source id
    score: float | None  # transferability score, higher is better; None when it failed
    seconds: float  # wall time to load, embed and score this source
    error: str | None = None  # why it failed (then it is not ranked)

    def to_dict(self) -> dict[str, Any]:
        """JSON-able view."""
        return {
            "source_id": self.source_id,
            "entry_id": self.entry_id,
            "name": self.name,
            "score": self.score,
            "seconds": round(self.seconds, 4),
            "error": self.error,
        }


@dataclass
class Selection:
    """Result of :func:`select_sources`: the ranking and the chosen subset."""

    score: str  # name of the score used
    ranking: list[SourceScore]  # successful sources best first, then the failed ones
    selected: list[str]  # source ids of the chosen sources, in ranking order of choice
    m: int  # len(selected)
    m_mode: str  # "auto" or "fixed"
    features: dict[str, np.ndarray] = field(default_factory=dict)  # train features per source
    sources: dict[str, SourceModel] = field(default_factory=dict)  # scored sources by id
    auto: AutoMResult | None = None  # the forward-selection trace when m="auto"
    n_candidates: int = 0  # candidates after phase one

    @property
    def selected_sources(self) -> list[SourceModel]:
        """The chosen sources, in order."""
        return [self.sources[s] for s in self.selected]

    @property
    def failed(self) -> list[SourceScore]:
        """Candidates that failed (load, inference or scoring)."""
        return [r for r in self.ranking if r.error is not None]

    def to_dict(self) -> dict[str, Any]:
        """JSON-able view (no arrays, no models)."""
        return {
            "score": self.score,
            "m": self.m,
            "m_mode": self.m_mode,
            "selected": list(self.selected),
            "n_candidates": self.n_candidates,
            "ranking": [r.to_dict() for r in self.ranking],
            "auto": None if self.auto is None else self.auto.to_dict(),
        }


@dataclass
class _Candidate:
    name: str
    entry_id: str | None
    source: SourceModel | None  # None: load from the zoo inside the map
    spec_space: str | None = None  # space of the entry's statistical spec, if any


def _schema_of(obj: Any) -> tuple[str, list[int] | None]:
    """(modality, per-example input shape or None) of a zoo entry or a source."""
    card = getattr(obj, "card", None)
    if card is not None:
        shape = getattr(getattr(card, "input", None), "shape", None)
        return str(card.modality), (list(shape) if shape is not None else None)
    shape = getattr(obj, "input_shape", None)
    return str(getattr(obj, "modality", "?")), (list(shape) if shape is not None else None)


def _describe(modality: str, shape: list[int] | None) -> str:
    if modality == "tabular" and shape:
        return f"tabular[{'x'.join(map(str, shape))}]"
    return modality


def _compatible(modality: str, shape: list[int] | None, t_mod: str, t_shape: list[int]) -> bool:
    if modality != t_mod:
        return False
    # image sources resize/convert any image, text sources take any text; tabular must match
    return not (modality == "tabular" and shape and list(shape) != t_shape)


def _recall(zoo: Any, X: Any, cands: list[_Candidate], recall: int | None) -> list[_Candidate]:
    """Keep the ``recall`` candidates closest by spec search; all of them if search fails."""
    limit = DEFAULT_RECALL if recall is None else recall
    spaces = Counter(c.spec_space for c in cands if c.spec_space)
    if len(cands) <= limit or not spaces or not hasattr(zoo, "search"):
        return cands
    space = spaces.most_common(1)[0][0]
    try:
        hits = zoo.search(X, top=limit, space=space)
        keep = {h.entry.id for h in hits}
    except (RecycleError, AttributeError, TypeError, ValueError, NotImplementedError):
        return cands  # the target cannot be put in that space: phase two scores everything
    # entries without a spec in that space cannot be judged by search: keep them
    kept = [c for c in cands if c.entry_id in keep or c.spec_space != space]
    return kept or cands


def _candidates(
    zoo_or_sources: Any, X: Any, candidates: Sequence[str] | None, recall: int | None
) -> list[_Candidate]:
    t_mod = infer_modality(X)
    t_shape = [] if t_mod == "text" else list(np.asarray(X).shape[1:])
    if isinstance(zoo_or_sources, Sequence):
        items = list(zoo_or_sources)
        for s in items:
            if not isinstance(s, SourceModel):
                raise ConfigError(
                    f"select_sources takes a Zoo or a list of SourceModel; got a list holding "
                    f"{type(s).__name__}. Wrap models as sources (recycle.sources)."
                )
        ids = [s.source_id for s in items]
        if len(set(ids)) != len(ids):
            raise ConfigError(f"Source ids must be unique; got duplicates in {ids}.")
        # a source that stands for a zoo entry (recycle.tabular's column-mapped sources) is
        # named, and restricted by ``candidates``, as that entry
        pool = [
            (getattr(s, "entry_name", None) or s.source_id, getattr(s, "entry_id", None), s, None)
            for s in items
        ]
        schemas = [_schema_of(s) for s in items]
    else:
        entries = list(zoo_or_sources.list())
        pool = [(e.name, e.id, None, e.spec_space) for e in entries]
        schemas = [_schema_of(e) for e in entries]
    if candidates is not None:
        wanted = set(candidates)
        chosen = [
            i
            for i, (name, eid, s, _) in enumerate(pool)
            if {name, eid, getattr(s, "source_id", None)} & wanted
        ]
        pool = [pool[i] for i in chosen]
        schemas = [schemas[i] for i in chosen]
    fits = [
        _Candidate(name, eid, src, space)
        for (name, eid, src, space), (mod, shape) in zip(pool, schemas, strict=True)
        if _compatible(mod, shape, t_mod, t_shape)
    ]
    if not fits:
        available = sorted({_describe(mod, shape) for mod, shape in schemas})
        raise IncompatibleError(
            f"No source accepts the target ({_describe(t_mod, t_shape or None)}, "
            f"{len(np.asarray(X)) if t_mod != 'text' else len(X)} examples); source input "
            f"schemas available: {', '.join(available) or 'none (empty zoo)'}. Convert the "
            "target to one of these or add a compatible source."
        )
    if not isinstance(zoo_or_sources, Sequence):
        fits = _recall(zoo_or_sources, X, fits, recall)
    return fits


def _embed(source: SourceModel, X: Any, cache: Any) -> np.ndarray:
    return np.asarray(cached_embed(source, X, cache=cache), dtype=np.float32)


def _check_m(m: int | str) -> None:
    if m == "auto":
        return
    if isinstance(m, bool) or not isinstance(m, int | np.integer) or m < 1:
        raise ConfigError(f"The 'm' parameter must be an int >= 1 or 'auto'. Got {m!r} instead.")


def select_sources(
    zoo_or_sources: Any,
    X: Any,
    y: Any,
    score: str = "knn",
    m: int | str = "auto",
    top: int | None = None,
    candidates: Sequence[str] | None = None,
    cache: Any = None,
    backend: str | None = None,
    progress: ProgressCallback | None = None,
    recall: int | None = None,
    max_m: int = MAX_M,
    seed: int = 0,
) -> Selection:
    """Rank the sources of a zoo (or a list of sources) for a labelled target; choose ``m``.

    Parameters
    ----------
    zoo_or_sources : Zoo or list of SourceModel
        Where the candidates come from.
    X, y : array-like
        Target train split (images ``N x H x W[x3]``, texts, or ``N x D`` rows) and labels.
    score : str
        A name in :data:`recycle.select.scores.SCORES` (``knn`` is the paper's).
    m : int or "auto"
        How many sources to keep; ``"auto"`` runs greedy forward selection (at most ``max_m``).
    top : int, optional
        Keep only the best ``top`` ranked sources in ``ranking`` (failed ones are always kept).
    candidates : list of str, optional
        Restrict to these entry names, entry ids or source ids.
    cache : FeatureCache, optional
        Feature cache (default: ``$RECYCLE_CACHE``).
    backend : {"local", "ray"}, optional
        Where the per-source map runs.
    progress : callable, optional
        ``progress(task, done, total)``.
    recall : int, optional
        Phase-one spec-search cut-off (default: all candidates when <= 50, else the 50 closest).
    max_m : int
        Cap of automatic m.
    seed : int
        Seed of the scores' and auto-m's splits.

    Returns
    -------
    Selection

    Raises
    ------
    IncompatibleError
        No source accepts the target's modality/input schema (the message names those available).
    SourceFailedError
        Every candidate failed.

    Examples
    --------
    >>> import numpy as np
    >>> class Proj:
    ...     modality, access, feature_dim = "tabular", "black-box", 2
    ...     def __init__(self, sid, cols):
    ...         self.source_id, self.cols = sid, cols
    ...     def embed(self, X):
    ...         return np.asarray(X, dtype=np.float32)[:, self.cols]
    >>> rng = np.random.default_rng(0)
    >>> y = np.repeat([0, 1], 20)
    >>> X = np.c_[rng.normal(size=(40, 2)), y[:, None] + 0.1 * rng.normal(size=(40, 2))]
    >>> sel = select_sources([Proj("noise", [0, 1]), Proj("signal", [2, 3])], X, y, m=1)
    >>> sel.selected
    ['signal']
    """
    if score not in SCORES:
        raise ConfigError(f"Unknown score {score!r}; valid scores are {', '.join(SCORES)}.")
    _check_m(m)
    fn, needs = SCORES[score]
    X, y_int, _classes = check_target(X, y, min_per_class=1)
    cands = _candidates(zoo_or_sources, X, candidates, recall)

    def run(cand: _Candidate) -> tuple[SourceModel, np.ndarray, float]:
        src = cand.source if cand.source is not None else zoo_or_sources.load(cand.entry_id)
        feats = _embed(src, X, cache)
        if feats.ndim != 2 or feats.shape[0] != len(y_int):
            raise SourceFailedError(
                f"embed returned shape {feats.shape}; expected ({len(y_int)}, d)."
            )
        if needs == "probs":
            if not has_head(src):
                raise SourceFailedError(
                    f"score {score!r} needs a source head (predict_proba); this source has none. "
                    "Use a feature score such as 'knn' or 'logme'."
                )
            value = fn(np.asarray(src.predict_proba(X)), y_int)  # type: ignore[union-attr]
        else:
            value = fn(feats, y_int)
        if not np.isfinite(value):
            raise SourceFailedError(f"score {score!r} is not finite ({value}).")
        return src, feats, float(value)

    results = map_sources(run, cands, backend=backend, progress=progress, task=f"score:{score}")
    ok: list[tuple[float, int, SourceScore]] = []
    failed: list[SourceScore] = []
    features: dict[str, np.ndarray] = {}
    sources: dict[str, SourceModel] = {}
    for cand, res in zip(cands, results, strict=True):
        if res.ok and res.value is not None:
            src, feats, value = res.value
            sid = src.source_id
            features[sid], sources[sid] = feats, src
            row = SourceScore(sid, cand.entry_id, cand.name, value, res.seconds)
            ok.append((-value, len(ok), row))
        else:
            warnings.warn(f"Source {cand.name!r} failed and was skipped: {res.error}", stacklevel=2)
            sid = cand.source.source_id if cand.source is not None else (cand.entry_id or "")
            failed.append(SourceScore(sid, cand.entry_id, cand.name, None, res.seconds, res.error))
    if not ok:
        raise SourceFailedError(
            f"All {len(cands)} candidate sources failed (first: {failed[0].name}: "
            f"{failed[0].error}); check the sources or pick another score."
        )
    ranked = [row for _, _, row in sorted(ok, key=lambda t: (t[0], t[1]))]
    auto: AutoMResult | None = None
    if m == "auto":
        auto = choose_m([features[r.source_id] for r in ranked], y_int, max_m=max_m, seed=seed)
        selected = [ranked[i].source_id for i in auto.chosen]
    else:
        if int(m) > len(ranked):
            warnings.warn(
                f"m={m} but only {len(ranked)} source(s) could be scored; using all of them.",
                stacklevel=2,
            )
        selected = [r.source_id for r in ranked[: int(m)]]
    shown = ranked if top is None else ranked[: max(int(top), 0)]
    return Selection(
        score=score,
        ranking=shown + failed,
        selected=selected,
        m=len(selected),
        m_mode="auto" if m == "auto" else "fixed",
        features=features,
        sources=sources,
        auto=auto,
        n_candidates=len(cands),
    )
