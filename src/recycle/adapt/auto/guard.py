"""auto's decision: which cross-validated candidate to use, and the negative-transfer guard.

The no-source baselines (``independent``, and ``independent_adapters`` for white-box pools) are
the guard's references; the better-scoring one is *the* reference. The best recycled candidate
is used only if it beats that reference beyond noise: its mean accuracy is higher by more than
:data:`GUARD_SE_FACTOR` standard errors of the paired per-fold difference, or its accuracy is at
least as high and its log-loss lower by more than that many standard errors; otherwise the guard
chooses the reference and says so.

Why log-loss too: a few-shot target's folds hold a handful of examples each, so fold accuracies
are coarse and tie often (at 25 shots, 5-way: 8 test examples per fold, and on one stream28
target 10 of 11 candidates had the same mean). Ties used to go to the reference; log-loss, a
proper scoring rule, separates them: candidates are ranked by mean accuracy, then by mean
log-loss.

Among the recycled candidates, the default (:data:`~recycle.adapt.auto.plan.DEFAULT_STRATEGY`
at its best m) is kept unless the CV winner beats it beyond Nadeau & Bengio's corrected standard
error: the winner of ~15 noisy CV means is often just lucky. :func:`guard_decision` has the
rules, ``docs/AUTO.md`` the measurements behind each.

Examples
--------
>>> guard_decision({"independent": [0.5, 0.6, 0.55], "mcw": [0.52, 0.58, 0.56]}).use
'independent'
>>> guard_decision({"independent": [0.5, 0.6, 0.55], "mcw": [0.8, 0.85, 0.83]}).use
'mcw'
>>> guard_decision(
...     {"independent": [0.9, 1.0, 0.9], "mcw": [0.9, 1.0, 0.9]},
...     losses={"independent": [0.40, 0.30, 0.45], "mcw": [0.20, 0.10, 0.22]},
... ).use
'mcw'
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from typing import Any

import numpy as np

from recycle.adapt.auto.plan import REFERENCE
from recycle.adapt.auto.risk import gap_probabilities, risk_bounds
from recycle.errors import ConfigError

#: The recycled candidate must beat independent by more than this many standard errors of the
#: paired per-fold accuracy difference (1 SE: a difference smaller than its own noise), or tie
#: it and have a log-loss lower by more than this many SE of the paired log-loss difference.
GUARD_SE_FACTOR = 1.0
#: A recycled choice whose margin over the reference is under this many standard errors is
#: kept but *flagged* in ``report_`` (``guard["flagged"]``): it may be worse on new data.
FLAG_SE_FACTOR = 2.0


@dataclass(frozen=True)
class GuardDecision:
    """What :func:`guard_decision` decided, and the numbers it decided on.

    ``report_["guard"]`` of a Recycler is :meth:`to_dict` (the fields that are set).
    """

    use: str  # the chosen candidate's key
    reference: str  # the no-source baseline the guard compared with
    best: str | None  # the recycled choice (None when no recycled candidate could be scored)
    triggered: bool  # the guard overrode a recycled candidate that scored better on a mean
    reason: str  # one sentence on why
    se_factor: float  # how many standard errors "beyond noise" meant
    flagged: bool = False  # a recycled choice whose accuracy margin is under FLAG_SE_FACTOR SE
    references: dict[str, float] | None = None  # mean accuracy of each scored baseline (>1)
    default: str | None = None  # the default candidate, when a challenger differed from it
    #: The no-source reference kept unless another beats it (the text LoRA library: setfit).
    default_reference: str | None = None
    challenger: str | None = None  # the best-ranked recycled candidate, when not the default
    mean_difference: float | None = None  # paired accuracy difference best - reference
    standard_error: float | None = None  # its standard error
    log_loss_difference: float | None = None  # paired log-loss difference best - reference
    log_loss_standard_error: float | None = None  # its standard error
    #: Each other scored no-source baseline that the chosen candidate does not beat by more than
    #: FLAG_SE_FACTOR paired standard errors, with the mean accuracy difference (chosen - it).
    close_to: dict[str, float] | None = None
    #: One-sided 95 % upper bound of (no-source model - chosen) accuracy for every other scored
    #: no-source model (:func:`~recycle.adapt.auto.risk.risk_bounds`; needs ``folds``).
    risk: dict[str, float] | None = None
    #: Probability that each of them is more than 2 points more accurate than the choice
    #: (:func:`~recycle.adapt.auto.risk.gap_probability`; needs ``folds``): the warning's basis.
    gap_probability: dict[str, float] | None = None
    #: The final refit's check (:mod:`~recycle.adapt.auto.refit`; set by the Recycler): its
    #: accuracy on its own training rows against the reference's CV accuracy, and whether it
    #: failed (``use`` is then the reference).
    refit: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able dict of the fields that are set (None ones left out)."""
        return {k: v for k, v in asdict(self).items() if v is not None}


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
    baselines: tuple[str, ...] = (),
    default_reference: str | None = None,
    rows: int | None = None,
) -> GuardDecision:
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

    ``reference`` defaults to :data:`~recycle.adapt.auto.plan.REFERENCE`.

    ``default_reference``: one of the references that is *the* reference unless another
    reference beats it (with the corrected SE, like the default candidate): on the text LoRA
    library SetFit, whose low-fidelity CV underrates its full fit
    (:mod:`~recycle.adapt.auto.fidelity`); otherwise the best-scoring reference is it.

    ``baselines``: more scored no-source models that are neither candidates nor references,
    only checked for ``close_to`` (on named tables: gradient boosting and logistic regression
    alone, beside the reference ``no_source`` that blends them (a soft vote); as
    references, the better-scoring of the two would be a winner's-curse-inflated bar).

    With ``folds``, ``risk`` bounds how far below each other scored no-source model (the
    references and ``baselines``) the choice may be on new data
    (:func:`~recycle.adapt.auto.risk.risk_bounds`), and ``gap_probability`` gives the
    probability that each is more than 2 points better
    (:func:`~recycle.adapt.auto.risk.gap_probabilities`); ``rows``, the rows cross-validated,
    floors their per-fold variance (:func:`~recycle.adapt.auto.risk.fold_variance_floor`).
    The guard's own decision does not use the floor.

    Returns a :class:`GuardDecision`; its ``close_to`` names every scored baseline besides the
    reference that the chosen candidate does not beat by more than :data:`FLAG_SE_FACTOR`
    paired standard errors (on text, where the reference is frozen MiniLM, TF-IDF may do as
    well on new data).

    >>> d = guard_decision({"tfidf_logreg": [0.70, 0.76, 0.69], "minilm_logreg": [0.72, 0.74,
    ...     0.72], "mcw@m=1": [0.6, 0.62, 0.61]}, ("tfidf_logreg", "minilm_logreg"))
    >>> d.use, d.reference, d.close_to
    ('minilm_logreg', 'minilm_logreg', {'tfidf_logreg': 0.01})

    SetFit as the default reference: frozen MiniLM's higher CV mean is within the noise, so
    SetFit stays the reference (and, with no recycled candidate beating it, the choice):

    >>> s = {"minilm_logreg": [0.74, 0.5, 0.8], "setfit": [0.68, 0.55, 0.7],
    ...      "mcw@m=1": [0.5, 0.5, 0.6]}
    >>> refs = ("minilm_logreg", "setfit")
    >>> guard_decision(s, refs, folds=3).use
    'minilm_logreg'
    >>> guard_decision(s, refs, folds=3, default_reference="setfit").use
    'setfit'
    """
    arrays = {k: np.asarray(v, dtype=float) for k, v in scores.items() if v}
    refs = [reference] if isinstance(reference, str) else list(reference)
    if not any(b in arrays for b in refs):
        raise ConfigError(f"guard_decision needs scores of the reference {reference!r}.")
    defaults = [default] if isinstance(default, str) else list(default or [])
    losses = {k: v for k, v in (losses or {}).items() if v}
    candidates = {k: v for k, v in arrays.items() if k not in baselines}
    decision = _decide(candidates, refs, losses, defaults, folds, se_factor, default_reference)
    close = {}
    for b in [*refs, *baselines]:
        if b in (decision.use, decision.reference) or b not in arrays:
            continue  # a choice close to the reference itself is ``flagged``
        diff, se = _paired(arrays[decision.use], arrays[b])
        if diff <= FLAG_SE_FACTOR * se:
            close[b] = round(diff, 4)
    no_source = [*refs, *baselines]
    risk = risk_bounds(arrays, decision.use, no_source, folds, rows) if folds else None
    gap = gap_probabilities(arrays, decision.use, no_source, folds, rows) if folds else None
    return replace(decision, close_to=close or None, risk=risk or None, gap_probability=gap or None)


def _decide(
    arrays: dict[str, np.ndarray],
    refs: list[str],
    losses: dict[str, list[float]],
    defaults: list[str],
    folds: int | None,
    se_factor: float,
    default_reference: str | None = None,
) -> GuardDecision:
    """:func:`guard_decision` without ``close_to``, on its checked, normalised arguments."""
    others = [k for k in arrays if k not in refs]
    keys = list(arrays)

    def rank(k: str) -> tuple[float, float, int]:
        loss = _mean(losses[k]) if k in losses else 0.0
        return (_mean(arrays[k]), -loss, -keys.index(k))

    scored = [b for b in refs if b in arrays]
    reference = max(scored, key=rank)
    out: dict[str, Any] = {"se_factor": se_factor}
    if default_reference in scored and default_reference != reference:
        out["default_reference"] = default_reference
        if not _compare(reference, default_reference, arrays, losses, folds, se_factor).beats:
            reference = default_reference
    out["reference"] = reference
    if len(scored) > 1:
        out["references"] = {b: round(float(arrays[b].mean()), 4) for b in scored}
    if not others:
        return GuardDecision(**out, use=reference, best=None, triggered=False,
                             reason="no recycled strategy could be scored")  # fmt: skip
    best = max(others, key=rank)
    default_key = max((k for k in defaults if k in others), key=rank, default=None)
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
        return GuardDecision(**out, use=reference, triggered=False, reason=reason)
    else:
        reason = (
            f"{best} beats {reference} by {mean_d:.3f} accuracy and {gain:.3f} log-loss, "
            f"within {se_factor:g} standard error: negative-transfer guard uses {reference}"
        )
        return GuardDecision(**out, use=reference, triggered=True, reason=reason)
    flagged = mean_d <= FLAG_SE_FACTOR * se
    if flagged:
        reason += (
            f", but its accuracy margin is under {FLAG_SE_FACTOR:g} SE: flagged, it may do "
            f"worse than {reference} on new data"
        )
    return GuardDecision(**out, use=best, triggered=False, flagged=flagged, reason=reason)
