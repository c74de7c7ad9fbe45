"""``strategy="auto"``: choose a strategy (and m) by repeated stratified cross-validation.

Every candidate ``(strategy, m)`` is scored on the same repeated stratified folds of the
target's train split, with the sources' train features computed once and sliced per fold;
each fold records accuracy and log-loss. The no-source baselines are always scored:
``independent`` (a small network from scratch) and, for white-box pools, ``independent_adapters``
(new adapters on the pool's shared base). The better-scoring one is the reference of the
**negative-transfer guard**: the best recycled candidate is used only if it beats that
reference beyond noise, i.e. its mean accuracy is higher by more than :data:`GUARD_SE_FACTOR`
standard errors of the paired per-fold difference, or its accuracy is at least as high and its
log-loss lower by more than that many standard errors; otherwise the guard chooses the
reference and says so.

Why log-loss too: a few-shot target's folds hold a handful of examples each, so fold accuracies
are coarse and tie often (at 25 shots, 5-way: 8 test examples per fold, and on one stream28
target 10 of 11 candidates had the same mean). Ties used to go to the reference; log-loss, a
proper scoring rule, separates them: candidates are ranked by mean accuracy, then by mean
log-loss.

Among the recycled candidates, the default (:data:`DEFAULT_STRATEGY` at its best m) is kept
unless the CV winner beats it beyond Nadeau & Bengio's corrected standard error: the winner of
~15 noisy CV means is often just lucky. :func:`guard_decision` has the rules, ``docs/AUTO.md``
the measurements behind each.

Cheap (closed-form / linear) candidates always run; the dear ones (torch training) run under a
time budget, and one that would overrun it is skipped (and reported), so a large target cannot
make ``fit`` unbounded.

Examples
--------
>>> guard_decision({"independent": [0.5, 0.6, 0.55], "mcw": [0.52, 0.58, 0.56]})["use"]
'independent'
>>> guard_decision({"independent": [0.5, 0.6, 0.55], "mcw": [0.8, 0.85, 0.83]})["use"]
'mcw'
>>> guard_decision(
...     {"independent": [0.9, 1.0, 0.9], "mcw": [0.9, 1.0, 0.9]},
...     losses={"independent": [0.40, 0.30, 0.45], "mcw": [0.20, 0.10, 0.22]},
... )["use"]
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
from recycle.errors import ConfigError, RecycleError
from recycle.progress import ProgressCallback
from recycle.sources.base import SourceModel

#: The recycled candidate must beat independent by more than this many standard errors of the
#: paired per-fold accuracy difference (1 SE: a difference smaller than its own noise), or tie
#: it and have a log-loss lower by more than this many SE of the paired log-loss difference.
GUARD_SE_FACTOR = 1.0
#: Probabilities are clipped here before the log, so one confident mistake costs at most
#: -log(PROBA_FLOOR) ~ 9.2 nats instead of infinity.
PROBA_FLOOR = 1e-4
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
#: The recycled strategy auto keeps (at its best cross-validated m) unless another candidate
#: beats it beyond noise: MCW with k-NN selection, the strongest method in Wang & Henao's
#: comparison (METHODS.md section 1: 70.8 vs 54.9 for module mixing on CTrL 5-way 25-shot).
DEFAULT_STRATEGY = "mcw"
#: The no-source reference of white-box pools: new adapters on the sources' shared frozen base
#: (the paper's "Independent"), stronger than the small network trained from scratch.
WHITEBOX_REFERENCE = "independent_adapters"
REFERENCES = (REFERENCE, WHITEBOX_REFERENCE)


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
            "log_loss": None if not self.losses else round(float(np.mean(self.losses)), 4),
            "per_fold_log_loss": [round(v, 4) for v in self.losses],
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


def proba_with(est: Any, X: Any, feats: Features | None) -> np.ndarray:
    """``est.predict_proba`` passing precomputed features when the strategy accepts them."""
    if feats is not None and _accepts_features(est.predict_proba):
        return np.asarray(est.predict_proba(X, features=feats))
    return np.asarray(est.predict_proba(X))


def fold_scores(proba: np.ndarray, classes: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Accuracy and mean log-loss (probabilities floored at :data:`PROBA_FLOOR`) of one fold.

    >>> fold_scores(np.array([[0.9, 0.1], [0.4, 0.6]]), np.array([0, 1]), np.array([0, 0]))
    (0.5, 0.5108...)
    """
    column = {c: j for j, c in enumerate(classes.tolist())}
    # a label the fold's model never saw has probability 0 (then floored)
    p_true = np.array(
        [proba[i, column[c]] if c in column else 0.0 for i, c in enumerate(y.tolist())]
    )
    accuracy = float(np.mean(classes[np.argmax(proba, axis=1)] == y))
    return accuracy, float(np.mean(-np.log(np.maximum(p_true, PROBA_FLOOR))))


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
    references: tuple[str, ...] = (REFERENCE,),
) -> list[tuple[str, int]]:
    """Candidates ``(strategy, m)``: cheap ones (every m) first, then the no-source
    ``references``, then the dear ones (the selection's m only), cheapest first. The white-box
    reference gets m=1: it takes its frozen base from the top source and nothing else.

    >>> plan(["mcw", "module_mixing"], 3, [1, 3], {"mcw": 2.0, "module_mixing": 50.0},
    ...      references=(WHITEBOX_REFERENCE, REFERENCE))
    [('mcw', 1), ('mcw', 3), ('independent_adapters', 1), ('independent', 0), ('module_mixing', 3)]
    """
    cheap: list[tuple[str, int]] = []
    dear: list[tuple[str, int]] = []
    for name in sorted((n for n in names if n not in REFERENCES), key=lambda n: cost.get(n, 1.0)):
        if cost.get(name, 1.0) < CHEAP_COST:
            cheap.extend((name, m) for m in ms)
        else:
            dear.append((name, m_selected))
    refs = [(r, 0 if r == REFERENCE else 1) for r in references]
    return [*cheap, *refs, *dear]


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
        per_fit = _estimate(results, name, m)
        dear = get_strategy(name).relative_cost >= CHEAP_COST
        if name not in references and dear and spent + per_fit * len(splits) > budget_s:
            res.skipped = f"time budget: {spent:.1f}s spent of {budget_s:.0f}s"
            done += len(splits)
            continue
        srcs = ranked[:m] if m else []
        t0 = time.perf_counter()
        try:
            for tr, te in splits:
                accuracy, loss = fit_and_score(name, srcs, X, y, features, tr, te, seed, params)
                res.scores.append(accuracy)
                res.losses.append(loss)
                done += 1
                if progress is not None:
                    progress("cross-validation", done, total)
        except RecycleError as exc:
            res.scores, res.losses = [], []
            res.skipped = f"{type(exc).__name__}: {exc}"
        res.seconds = time.perf_counter() - t0
    if progress is not None:
        progress("cross-validation", total, total)
    return results


def cv_splits(y: np.ndarray, k: int, repeats: int, seed: int) -> list[tuple[Any, Any]]:
    """The (train, test) index pairs of auto's repeated stratified k-fold: repeat after repeat,
    and within a repeat split ``i`` tests on fold ``i``."""
    folds = RepeatedStratifiedKFold(n_splits=n_splits(y, k), n_repeats=repeats, random_state=seed)
    return list(folds.split(np.zeros(len(y)), y))


def fit_and_score(
    name: str,
    srcs: list[SourceModel],
    X: Any,
    y: np.ndarray,
    features: Features,
    train: Any,
    test: Any,
    seed: int,
    params: dict[str, dict[str, Any]] | None,
) -> tuple[float, float]:
    """Fit strategy ``name`` on the ``train`` indices; its (accuracy, log-loss) on ``test``."""
    f_tr = {s.source_id: features[s.source_id][train] for s in srcs}
    f_te = {s.source_id: features[s.source_id][test] for s in srcs}
    est = build(name, srcs, seed, params).fit(take(X, train), y[train], features=f_tr)
    proba = proba_with(est, take(X, test), f_te)
    return fold_scores(proba, np.asarray(est.classes_), y[test])


@dataclass
class Choice:
    """What :func:`choose` decided: the strategy and m to fit, and why."""

    strategy: str
    m: int
    cv: list[CVResult]  # every candidate's cross-validation, in the order they ran
    guard: dict[str, Any]  # :func:`guard_decision`'s verdict
    notes: list[str]  # skipped candidates, the guard's reason when it overrode or flagged


def choose(
    names: list[str],
    X: Any,
    y: np.ndarray,
    ranked: list[SourceModel],
    features: Features,
    *,
    m_selected: int,
    m_fixed: bool = False,
    references: tuple[str, ...] = (REFERENCE,),
    seed: int = 0,
    cv: int = 3,
    repeats: int = 2,
    budget_s: float = 60.0,
    params: dict[str, dict[str, Any]] | None = None,
    progress: ProgressCallback | None = None,
) -> Choice:
    """Cross-validate strategies ``names`` (at the candidate m's) and the no-source
    ``references`` on ``(X, y)`` and pick one with :func:`guard_decision`.

    ``ranked``: the selection's sources, best first (candidate m takes the first m);
    ``features``: their train features by source id; ``m_selected``: the selection's m;
    ``m_fixed``: the user fixed m, so only ``m_selected`` is tried; ``references``: the
    no-source baselines the guard compares with (the best-scoring one is its reference). Without
    sources only :data:`REFERENCE` is scored.
    """
    if ranked:
        ms = candidate_ms(m_selected, len(ranked), m_fixed)
        cost = {n: float(getattr(get_strategy(n), "relative_cost", 50.0)) for n in names}
        candidates = plan(names, m_selected, ms, cost, references)
    else:
        references, candidates = (REFERENCE,), [(REFERENCE, 0)]
    k = n_splits(y, cv)
    rows = cross_validate(
        candidates, X, y, ranked, features, seed=seed, cv=k, repeats=repeats,
        budget_s=budget_s, params=params, progress=progress, references=references,
    )  # fmt: skip
    notes = [f"auto skipped {r.key}: {r.skipped}" for r in rows if r.skipped]
    guard = guard_decision(
        {r.key: r.scores for r in rows if r.scores},
        references,
        losses={r.key: r.losses for r in rows if r.losses},
        default=[r.key for r in rows if r.strategy == DEFAULT_STRATEGY],
        folds=k,
    )
    chosen = next(r for r in rows if r.key == guard["use"])
    if guard["triggered"] or guard.get("flagged"):
        notes.append(guard["reason"])
    return Choice(chosen.strategy, chosen.m, rows, guard, notes)


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


def n_splits(y: np.ndarray, cv: int) -> int:
    """k of the repeated stratified k-fold: ``cv``, fewer when the rarest class is smaller."""
    return int(min(cv, np.bincount(y).min()))


def _paired(a: np.ndarray, b: np.ndarray, k: int | None = None) -> tuple[float, float]:
    """Mean and standard error of the paired per-fold difference ``a - b``.

    With ``k`` (the scores come from repeated k-fold), the variance uses Nadeau & Bengio's
    (2003) correction for folds whose training sets overlap, ``(1/J + 1/(k-1)) * s^2`` for J
    folds, instead of ``s^2 / J``, which is too small and makes noise look like a difference.

    >>> a, b = np.array([0.9, 1.0, 0.8, 0.9, 1.0, 0.9]), np.full(6, 0.85)
    >>> [round(v, 4) for v in _paired(a, b)], [round(v, 4) for v in _paired(a, b, k=3)]
    ([0.0667, 0.0307], [0.0667, 0.0615])
    """
    diff = a - b
    if len(diff) < 2:
        return _mean(diff), 0.0
    var = float(diff.var(ddof=1))
    factor = 1 / len(diff) + (1 / (k - 1) if k and k > 1 else 0.0)
    return _mean(diff), round(float(np.sqrt(var * factor)), 9)


def _mean(values: Any) -> float:
    """The mean, rounded to 1e-9: fold accuracies are fractions, and two candidates with the
    same ones in another order (or the same total) must tie exactly, not by the last bit of a
    float sum (which then decided ties that log-loss should break). Standard errors are rounded
    the same way, so a margin of exactly one SE is not "more than one SE" by a last bit either.

    >>> a = [7 / 8, 8 / 9, 1.0, 6 / 8, 7 / 9, 5 / 8]  # accuracies on six folds of 8 or 9
    >>> b = [7 / 8, 8 / 9, 1.0, 7 / 9, 6 / 8, 5 / 8]  # the same, two folds swapped
    >>> float(np.mean(a)) == float(np.mean(b)), _mean(a) == _mean(b)
    (False, True)
    """
    return round(float(np.mean(values)), 9)


@dataclass
class _Comparison:
    """Paired comparison of candidate ``a`` against ``b`` on the same folds."""

    accuracy: float  # mean accuracy difference a - b
    accuracy_se: float
    loss_gain: float | None  # mean log-loss difference b - a (positive: a is better)
    loss_se: float | None
    se_factor: float = GUARD_SE_FACTOR  # "beyond noise": more than this many standard errors

    @property
    def by_accuracy(self) -> bool:
        return self.accuracy > self.se_factor * self.accuracy_se

    @property
    def by_loss(self) -> bool:
        """Ties (or beats) on accuracy and has a log-loss lower beyond noise."""
        if self.loss_gain is None or self.loss_se is None:
            return False
        return self.accuracy >= 0 and self.loss_gain > self.se_factor * self.loss_se

    @property
    def beats(self) -> bool:
        return self.by_accuracy or self.by_loss


def _compare(
    a: str,
    b: str,
    scores: dict[str, np.ndarray],
    losses: dict[str, list[float]],
    k: int | None,
    se_factor: float,
) -> _Comparison:
    accuracy, accuracy_se = _paired(scores[a], scores[b], k)
    if a in losses and b in losses:
        gain, gain_se = _paired(np.asarray(losses[b]), np.asarray(losses[a]), k)
        return _Comparison(accuracy, accuracy_se, gain, gain_se, se_factor)
    return _Comparison(accuracy, accuracy_se, None, None, se_factor)


def guard_decision(
    scores: dict[str, list[float]],
    reference: str | tuple[str, ...] = REFERENCE,
    losses: dict[str, list[float]] | None = None,
    default: str | list[str] | None = None,
    folds: int | None = None,
    se_factor: float = GUARD_SE_FACTOR,
) -> dict[str, Any]:
    """Pick the best candidate, falling back to independent when it is not clearly better.

    ``scores`` maps candidate keys to per-fold accuracies aligned across keys and must contain
    ``reference``: ``"independent"`` (the small network from scratch), or several no-source
    baselines (white-box pools: ``("independent_adapters", "independent")``), of which the one
    that scores best (accuracy, then log-loss) is the reference;
    ``losses`` (optional, same keys and folds) holds per-fold log-losses. "A beats B" means: A's
    mean accuracy is higher by more than :data:`GUARD_SE_FACTOR` paired standard errors, or A's
    accuracy is at least B's and its log-loss lower by more than that many paired SEs.

    1. The *challenger* is the recycled candidate with the highest mean accuracy, ties broken
       by the lowest mean log-loss.
    2. With ``default`` (one key, or several: the best-ranked of them is the default; auto
       passes :data:`DEFAULT_STRATEGY` at every candidate m), the challenger replaces the
       default only if it beats it: picking the top of ~15 noisy CV means favours a lucky
       candidate (the winner's curse), so a change of strategy needs evidence, like the change
       away from independent.
    3. The negative-transfer guard: the recycled choice is used only if it beats the
       reference. With several no-source baselines it must beat the best of them: on a base
       that never saw a target's domain, new adapters on it fall far below a small network
       trained from scratch (``docs/AUTO.md``), and beating only the weaker baseline would let
       auto do worse than training from scratch without saying so.

    ``folds``: k of the repeated k-fold the scores come from. The challenger-vs-default
    comparison then uses Nadeau & Bengio's corrected standard error (see :func:`_paired`): the
    challenger is the maximum of many candidates, picked and compared on the same folds, so its
    margin needs the honest, larger SE. The guard keeps the naive paired SE: with the corrected
    one it chose independent adapters on 14 of 21 stream28 targets at 25 shots and lost 1.6
    points on average (``docs/AUTO.md``), a guard too strict to let any few-shot gain through.

    ``se_factor``: how many standard errors "beyond noise" means (:data:`GUARD_SE_FACTOR`;
    other values are for studies of the rule, ``scripts/auto_study.py``).

    Returns a JSON-able dict with ``use`` (the chosen key), ``reference`` (the baseline the
    guard compared with), ``best`` (the recycled choice), the
    paired ``mean_difference`` and ``standard_error`` of its accuracy against the reference (and
    ``log_loss_difference``, ``log_loss_standard_error`` with ``losses``), ``triggered`` (True
    when the guard overrode a recycled candidate that scored better on a mean), and, when a
    recycled candidate is used, ``flagged``: its accuracy margin is under
    :data:`FLAG_SE_FACTOR` standard errors.
    """
    losses = {k: v for k, v in (losses or {}).items() if v}
    arrays = {k: np.asarray(v, dtype=float) for k, v in scores.items() if v}
    baselines = [reference] if isinstance(reference, str) else list(reference)
    others = [k for k in arrays if k not in baselines]
    keys = list(arrays)

    def rank(k: str) -> tuple[float, float, int]:
        loss = _mean(losses[k]) if k in losses else 0.0
        return (_mean(arrays[k]), -loss, -keys.index(k))

    scored = [b for b in baselines if b in arrays]
    if not scored:
        raise ConfigError(f"guard_decision needs scores of the reference {reference!r}.")
    reference = max(scored, key=rank)
    out: dict[str, Any] = {"se_factor": se_factor, "reference": reference}
    if len(scored) > 1:
        out["references"] = {b: round(float(arrays[b].mean()), 4) for b in scored}
    if not others:
        return {**out, "use": reference, "best": None, "triggered": False,
                "reason": "no recycled strategy could be scored"}  # fmt: skip
    best = max(others, key=rank)
    keys = [default] if isinstance(default, str) else list(default or [])
    default_key = max((k for k in keys if k in others), key=rank, default=None)
    if default_key is not None and default_key != best:
        out["default"], out["challenger"] = default_key, best
        if not _compare(best, default_key, arrays, losses, folds, se_factor).beats:
            best = default_key
    vs_ref = _compare(best, reference, arrays, losses, None, se_factor)
    out.update(
        best=best,
        mean_difference=round(vs_ref.accuracy, 4),
        standard_error=round(vs_ref.accuracy_se, 4),
    )
    if vs_ref.loss_gain is not None and vs_ref.loss_se is not None:
        out["log_loss_difference"] = round(-vs_ref.loss_gain, 4)
        out["log_loss_standard_error"] = round(vs_ref.loss_se, 4)
    mean_d, se, gain = vs_ref.accuracy, vs_ref.accuracy_se, vs_ref.loss_gain or 0.0
    if vs_ref.by_accuracy:
        reason = f"{best} beats {reference} by {mean_d:.3f} accuracy (> {se_factor:g} SE)"
    elif vs_ref.by_loss:
        reason = (
            f"{best} matches {reference}'s accuracy ({mean_d:+.3f}) with a log-loss lower by "
            f"{gain:.3f} (> {se_factor:g} SE, {vs_ref.loss_se:.3f})"
        )
    elif mean_d < 0 or (mean_d == 0 and gain <= 0):
        reason = f"{reference} scored at least as well as every recycled strategy"
        return {**out, "use": reference, "triggered": False, "reason": reason}
    else:
        reason = (
            f"{best} beats {reference} by {mean_d:.3f} accuracy and {gain:.3f} log-loss, "
            f"within {se_factor:g} standard error: negative-transfer guard uses {reference}"
        )
        return {**out, "use": reference, "triggered": True, "reason": reason}
    flagged = mean_d <= FLAG_SE_FACTOR * se
    if flagged:
        reason += (
            f", but its accuracy margin is under {FLAG_SE_FACTOR:g} SE: flagged, it may do "
            f"worse than {reference} on new data"
        )
    return {**out, "use": best, "triggered": False, "flagged": flagged, "reason": reason}
