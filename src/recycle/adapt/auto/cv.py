"""auto's repeated stratified cross-validation of candidate strategies.

Every candidate ``(strategy, m)`` is scored on the same repeated stratified folds of the
target's train split (:func:`recycle.adapt.split.stratified_folds`), with the sources' train
features computed once and sliced per fold; each fold records accuracy and log-loss. Cheap
candidates always run; a dear one (torch training) that would overrun the time budget is
skipped and says so, except the no-source references, which always run. The budget is also
checked after every fold: a dear candidate still running when it is spent stops there, its
partial scores dropped (every candidate is compared on the same folds), so auto overruns its
budget by at most one fit.

Examples
--------
>>> fold_scores(np.array([[0.9, 0.1], [0.4, 0.6]]), np.array([0, 1]), np.array([0, 0]))
(0.5, 0.5108...)
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from recycle.adapt.auto.plan import CHEAP_COST, REFERENCE, REFERENCES, candidate_key
from recycle.adapt.base import Features, take
from recycle.adapt.family.source import family_sources
from recycle.adapt.registry import StrategyParams, build, get_strategy
from recycle.adapt.split import stratified_folds
from recycle.errors import RecycleError
from recycle.progress import ProgressCallback
from recycle.sources.base import SourceModel

#: Probabilities are clipped here before the log, so one confident mistake costs at most
#: -log(PROBA_FLOOR) ~ 9.2 nats instead of infinity.
PROBA_FLOOR = 1e-4


@dataclass
class CVResult:
    """Cross-validated accuracies and log-losses of one candidate (one per fold, aligned across
    candidates)."""

    strategy: str
    m: int
    scores: list[float] = field(default_factory=list)
    losses: list[float] = field(default_factory=list)
    seconds: float = 0.0
    skipped: str | None = None  # why it was not (fully) scored

    @property
    def key(self) -> str:
        return candidate_key(self.strategy, self.m)

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
            "log_loss": None if not self.losses else round(float(np.mean(self.losses)), 4),
            "per_fold_log_loss": [round(v, 4) for v in self.losses],
            "seconds": round(self.seconds, 3),
            "skipped": self.skipped,
        }


def fold_scores(proba: np.ndarray, classes: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Accuracy and mean log-loss (probabilities floored at :data:`PROBA_FLOOR`) of one fold."""
    column = {c: j for j, c in enumerate(classes.tolist())}
    # a label the fold's model never saw has probability 0 (then floored)
    p_true = np.array(
        [proba[i, column[c]] if c in column else 0.0 for i, c in enumerate(y.tolist())]
    )
    accuracy = float(np.mean(classes[np.argmax(proba, axis=1)] == y))
    return accuracy, float(np.mean(-np.log(np.maximum(p_true, PROBA_FLOOR))))


def cv_splits(y: np.ndarray, k: int, repeats: int, seed: int) -> list[tuple[Any, Any]]:
    """The (train, test) index pairs of auto's repeated stratified k-fold: repeat after repeat,
    and within a repeat split ``i`` tests on fold ``i``."""
    return stratified_folds(y, k, repeats=repeats, seed=seed)


def candidate_sources(name: str, ranked: list[SourceModel], m: int) -> list[SourceModel]:
    """The sources candidate ``(name, m)`` is fitted on: the first ``m`` of ``ranked``; for a
    white-box strategy the first ``m`` adapters (a family's base entry skipped); none at m=0.

    >>> from recycle.sources import builtin
    >>> [s.source_id for s in candidate_sources("mcw", [builtin("minilm_l6.onnx")], 1)]
    ['minilm_l6.onnx']
    """
    if not m:
        return []
    if getattr(get_strategy(name), "access", "black-box") == "white-box":
        return family_sources(ranked, m)
    return list(ranked[:m])


def fit_and_score(
    name: str,
    srcs: list[SourceModel],
    X: Any,
    y: np.ndarray,
    features: Features,
    train: Any,
    test: Any,
    seed: int,
    params: StrategyParams | None,
) -> tuple[float, float]:
    """Fit strategy ``name`` on the ``train`` indices; its (accuracy, log-loss) on ``test``."""
    f_tr = {s.source_id: features[s.source_id][train] for s in srcs}
    f_te = {s.source_id: features[s.source_id][test] for s in srcs}
    est = build(name, srcs, seed, params).fit(take(X, train), y[train], features=f_tr)
    proba = np.asarray(est.predict_proba(take(X, test), features=f_te))
    return fold_scores(proba, np.asarray(est.classes_), y[test])


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
    params: StrategyParams | None = None,
    progress: ProgressCallback | None = None,
    references: tuple[str, ...] = (REFERENCE,),
) -> list[CVResult]:
    """Score every candidate on the same repeated stratified folds; see the module docstring.

    ``references`` always run, whatever the time budget says."""
    splits = cv_splits(y, cv, repeats, seed)
    start = time.perf_counter()
    results: list[CVResult] = []
    total = len(candidates) * len(splits)
    done = 0
    for name, m in candidates:
        res = CVResult(name, m)
        results.append(res)
        spent = time.perf_counter() - start
        per_fit = _estimate(results, name)
        # the budget binds dear candidates; the no-source references always run
        bounded = name not in references and get_strategy(name).relative_cost >= CHEAP_COST
        if bounded and spent + per_fit * len(splits) > budget_s:
            res.skipped = f"time budget: {spent:.1f}s spent of {budget_s:.0f}s"
            done += len(splits)
            continue
        srcs = candidate_sources(name, ranked, m)
        t0 = time.perf_counter()
        try:
            for i, (tr, te) in enumerate(splits):
                accuracy, loss = fit_and_score(name, srcs, X, y, features, tr, te, seed, params)
                res.scores.append(accuracy)
                res.losses.append(loss)
                done += 1
                if progress is not None:
                    progress("cross-validation", done, total)
                spent = time.perf_counter() - start
                if bounded and spent > budget_s and i + 1 < len(splits):
                    res.scores, res.losses = [], []
                    res.skipped = (
                        f"time budget: stopped after {i + 1} of {len(splits)} folds, "
                        f"{spent:.1f}s spent of {budget_s:.0f}s"
                    )
                    done += len(splits) - i - 1
                    break
        except RecycleError as exc:
            res.scores, res.losses = [], []
            res.skipped = f"{type(exc).__name__}: {exc}"
        res.seconds = time.perf_counter() - t0
    if progress is not None:
        progress("cross-validation", total, total)
    return results


def _estimate(results: list[CVResult], name: str) -> float:
    """Seconds per fit of ``name`` predicted from what already ran (0 when unknown)."""
    same = [r for r in results if r.strategy == name and r.scores]
    if same:
        return max(r.seconds / len(r.scores) for r in same)
    cost = get_strategy(name).relative_cost
    ref = [r for r in results if r.strategy in REFERENCES and r.scores]
    if ref and cost >= CHEAP_COST:
        ref_cost = get_strategy(ref[0].strategy).relative_cost
        return ref[0].seconds / len(ref[0].scores) * cost / ref_cost
    return 0.0
