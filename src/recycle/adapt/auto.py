"""``strategy="auto"``: choose a strategy (and m) by repeated stratified cross-validation.

Every candidate ``(strategy, m)`` is scored on the same repeated stratified folds of the
target's train split, with the sources' train features computed once and sliced per fold.
``independent`` (no sources) is always scored first; it is the reference of the
**negative-transfer guard**: the best recycled candidate is used only if its mean accuracy beats
independent's by more than :data:`GUARD_SE_FACTOR` standard errors of the paired per-fold
difference; otherwise the guard chooses independent and says so.

Cheap (closed-form / linear) candidates always run; the dear ones (torch training) run under a
time budget, and one that would overrun it is skipped (and reported), so a large target cannot
make ``fit`` unbounded.

Examples
--------
>>> guard_decision({"independent": [0.5, 0.6, 0.55], "mcw": [0.52, 0.58, 0.56]})["use"]
'independent'
>>> guard_decision({"independent": [0.5, 0.6, 0.55], "mcw": [0.8, 0.85, 0.83]})["use"]
'mcw'
"""

from __future__ import annotations

import inspect
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sklearn.model_selection import RepeatedStratifiedKFold

from recycle.adapt.strategies import Features, get_strategy, take
from recycle.errors import RecycleError
from recycle.progress import ProgressCallback
from recycle.sources.base import SourceModel

#: The recycled candidate must beat independent by more than this many standard errors of the
#: paired per-fold accuracy difference (1 SE: a difference smaller than its own noise).
GUARD_SE_FACTOR = 1.0
#: Black-box strategies auto tries, besides "independent" (always tried). Not
#: "feature_augment": it also reads the raw input with a linear model, so on small targets it can
#: beat independent with useless (even pure-noise) sources, which would defeat the guard.
AUTO_STRATEGIES = ("mcw", "linear_probe", "averaging", "stacking", "feature_mixing")
#: White-box strategies auto also tries when the selected sources are white-box.
AUTO_WHITEBOX = ("module_mixing",)
#: Strategies cheaper than this relative cost are tried at every candidate m; dearer ones only
#: at the selection's m.
CHEAP_COST = 10.0
#: Largest m auto considers besides the selection's own choice.
AUTO_MAX_M = 5
#: A recycled choice whose margin over the reference is under this many standard errors is
#: kept but *flagged* in ``report_`` (``guard["flagged"]``): it may be worse on new data.
FLAG_SE_FACTOR = 2.0
REFERENCE = "independent"
#: The no-source reference of white-box pools: new adapters on the sources' shared frozen base
#: (the paper's "Independent"), stronger than the small network trained from scratch.
WHITEBOX_REFERENCE = "independent_adapters"
REFERENCES = (REFERENCE, WHITEBOX_REFERENCE)


@dataclass
class CVResult:
    """Cross-validated accuracies of one candidate (one per fold, aligned across candidates)."""

    strategy: str
    m: int
    scores: list[float] = field(default_factory=list)
    seconds: float = 0.0
    skipped: str | None = None  # why it was not (fully) scored

    @property
    def key(self) -> str:
        return self.strategy if self.strategy in REFERENCES else f"{self.strategy}@m={self.m}"

    @property
    def mean(self) -> float:
        return float(np.mean(self.scores)) if self.scores else float("nan")

    def to_dict(self) -> dict[str, Any]:
        return {
            "strategy": self.strategy,
            "m": self.m,
            "mean": None if not self.scores else round(self.mean, 4),
            "std": None if not self.scores else round(float(np.std(self.scores)), 4),
            "per_fold": [round(s, 4) for s in self.scores],
            "seconds": round(self.seconds, 3),
            "skipped": self.skipped,
        }


def _accepts_features(method: Any) -> bool:
    try:
        return "features" in inspect.signature(method).parameters
    except (TypeError, ValueError):
        return False


def build(
    name: str, sources: list[SourceModel], seed: int, params: dict[str, dict[str, Any]] | None
) -> Any:
    """Instantiate strategy ``name`` with the per-strategy and shared (``"*"``) params it takes."""
    cls = get_strategy(name)
    accepted = set(inspect.signature(cls).parameters)
    merged = {**(params or {}).get("*", {}), **(params or {}).get(name, {})}
    kwargs = {k: v for k, v in merged.items() if k in accepted}
    return cls(sources=list(sources), seed=seed, **kwargs)


def predict_with(est: Any, X: Any, feats: Features | None) -> np.ndarray:
    """``est.predict`` passing precomputed features when the strategy accepts them."""
    if feats is not None and _accepts_features(est.predict):
        return np.asarray(est.predict(X, features=feats))
    return np.asarray(est.predict(X))


def candidate_ms(m_selected: int, n_ranked: int, m_fixed: bool) -> list[int]:
    """The m values auto tries: the selection's m, plus 1 and up to :data:`AUTO_MAX_M`."""
    if m_fixed or n_ranked == 0:
        return [m_selected]
    return sorted({1, m_selected, min(AUTO_MAX_M, n_ranked)})


def plan(
    names: list[str],
    m_selected: int,
    ms: list[int],
    cost: dict[str, float],
    reference: str = REFERENCE,
) -> list[tuple[str, int]]:
    """Candidates ``(strategy, m)``: cheap ones (every m) first, then the no-source
    ``reference``, then the dear ones (the selection's m only), cheapest first. The white-box
    reference gets m=1: it takes its frozen base from the top source and nothing else."""
    cheap: list[tuple[str, int]] = []
    dear: list[tuple[str, int]] = []
    for name in sorted((n for n in names if n not in REFERENCES), key=lambda n: cost.get(n, 1.0)):
        if cost.get(name, 1.0) < CHEAP_COST:
            cheap.extend((name, m) for m in ms)
        else:
            dear.append((name, m_selected))
    return [*cheap, (reference, 0 if reference == REFERENCE else 1), *dear]


def cross_validate(
    candidates: list[tuple[str, int]],
    X: Any,
    y: np.ndarray,
    ranked: list[SourceModel],
    features: Features,
    *,
    seed: int = 0,
    cv: int = 3,
    repeats: int = 2,
    budget_s: float = 60.0,
    params: dict[str, dict[str, Any]] | None = None,
    progress: ProgressCallback | None = None,
    reference: str = REFERENCE,
) -> list[CVResult]:
    """Score every candidate on the same repeated stratified folds; see the module docstring."""
    n_splits = int(min(cv, np.bincount(y).min()))
    splits = list(
        RepeatedStratifiedKFold(n_splits=n_splits, n_repeats=repeats, random_state=seed).split(
            np.zeros(len(y)), y
        )
    )
    start = time.perf_counter()
    results: list[CVResult] = []
    total = len(candidates) * len(splits)
    done = 0
    for name, m in candidates:
        res = CVResult(name, m)
        results.append(res)
        spent = time.perf_counter() - start
        per_fit = _estimate(results, name, m)
        dear = get_strategy(name).relative_cost >= CHEAP_COST
        if name != reference and dear and spent + per_fit * len(splits) > budget_s:
            res.skipped = f"time budget: {spent:.1f}s spent of {budget_s:.0f}s"
            done += len(splits)
            continue
        srcs = ranked[:m] if m else []
        t0 = time.perf_counter()
        try:
            for tr, te in splits:
                f_tr = {s.source_id: features[s.source_id][tr] for s in srcs}
                f_te = {s.source_id: features[s.source_id][te] for s in srcs}
                est = build(name, srcs, seed, params).fit(take(X, tr), y[tr], features=f_tr)
                res.scores.append(float(np.mean(predict_with(est, take(X, te), f_te) == y[te])))
                done += 1
                if progress is not None:
                    progress("cross-validation", done, total)
        except RecycleError as exc:
            res.scores = []
            res.skipped = f"{type(exc).__name__}: {exc}"
        res.seconds = time.perf_counter() - t0
    if progress is not None:
        progress("cross-validation", total, total)
    return results


def _estimate(results: list[CVResult], name: str, m: int) -> float:
    """Seconds per fit of ``name`` predicted from what already ran (0 when unknown)."""
    same = [r for r in results if r.strategy == name and r.scores]
    if same:
        return max(r.seconds / len(r.scores) for r in same)
    cost = get_strategy(name).relative_cost if name else 1.0
    ref = [r for r in results if r.strategy in REFERENCES and r.scores]
    if ref and cost >= CHEAP_COST:
        ref_cost = get_strategy(ref[0].strategy).relative_cost
        return ref[0].seconds / len(ref[0].scores) * cost / ref_cost
    return 0.0


def guard_decision(scores: dict[str, list[float]], reference: str = REFERENCE) -> dict[str, Any]:
    """Pick the best candidate, falling back to independent when it is not clearly better.

    ``scores`` maps candidate keys to per-fold accuracies aligned across keys and must contain
    ``reference`` (``"independent"``, or ``"independent_adapters"`` for white-box pools).
    Returns a JSON-able dict with ``use`` (the chosen key), ``best`` (best recycled key), the
    paired ``mean_difference`` and ``standard_error``, and ``triggered`` (True when the guard
    overrode a recycled candidate with a higher mean); when a recycled candidate is used,
    ``flagged`` says its margin is under :data:`FLAG_SE_FACTOR` standard errors.
    """
    ref = np.asarray(scores[reference], dtype=float)
    others = {k: np.asarray(v, dtype=float) for k, v in scores.items() if k != reference and v}
    if not others:
        return {"use": reference, "best": None, "triggered": False,
                "reason": "no recycled strategy could be scored"}  # fmt: skip
    best = max(others, key=lambda k: (others[k].mean(), -list(others).index(k)))
    diff = others[best] - ref
    mean_d = float(diff.mean())
    se = float(diff.std(ddof=1) / np.sqrt(len(diff))) if len(diff) > 1 else 0.0
    out: dict[str, Any] = {
        "best": best,
        "mean_difference": round(mean_d, 4),
        "standard_error": round(se, 4),
        "se_factor": GUARD_SE_FACTOR,
    }
    if mean_d <= 0:
        reason = f"{reference} scored at least as well as every recycled strategy"
        return {**out, "use": reference, "triggered": False, "reason": reason}
    if mean_d <= GUARD_SE_FACTOR * se:
        reason = (
            f"{best} beats {reference} by {mean_d:.3f}, within {GUARD_SE_FACTOR:g} standard "
            f"error ({se:.3f}): negative-transfer guard uses {reference}"
        )
        return {**out, "use": reference, "triggered": True, "reason": reason}
    reason = f"{best} beats {reference} by {mean_d:.3f} (> {GUARD_SE_FACTOR:g} SE)"
    flagged = mean_d <= FLAG_SE_FACTOR * se
    if flagged:
        reason += (
            f", but by less than {FLAG_SE_FACTOR:g} SE: flagged, it may do worse than "
            f"{reference} on new data"
        )
    return {**out, "use": best, "triggered": False, "flagged": flagged, "reason": reason}
