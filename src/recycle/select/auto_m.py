"""Automatic m: greedy forward selection of sources on cross-validated probe accuracy.

The paper fixes m by hand ({1, 3, 5}). Here the data decide: start from the best-ranked source,
then repeatedly try adding each remaining source of the top of the ranking and keep the one
that raises the repeated stratified CV accuracy of a linear probe on the concatenated features
the most, *if* the gain beats the noise of the CV estimate; stop otherwise, or at ``max_m``.

- Features of each source are L2-normalised per row and centred, so every source weighs the
  same in the concatenation whatever its width or scale.
- The probe is kernel ridge regression on one-hot labels (a least-squares linear classifier;
  ``probe="knn"`` uses 5-NN instead). Concatenating sources adds their Gram matrices, so one
  Gram matrix per source makes every candidate subset cheap to evaluate.
- Noise threshold: the paired gain over the same folds must exceed :data:`NOISE_SE` standard
  errors of the per-fold gains (the one-standard-error rule).
- Redundancy: a source whose linear CKA (Kornblith et al., ICML 2019) with an already chosen
  source exceeds :data:`REDUNDANCY_CKA` is a near-duplicate and is never added.

Examples
--------
>>> import numpy as np
>>> rng = np.random.default_rng(0)
>>> y = np.repeat(np.arange(4), 15)
>>> a = rng.normal(size=(60, 6)); a[:, 0] += 3 * (y % 2)   # separates classes by parity
>>> b = rng.normal(size=(60, 6)); b[:, 0] += 3 * (y // 2)  # separates them by half
>>> res = choose_m([a, a.copy(), b], y)
>>> res.chosen
[0, 2]
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from recycle.errors import ConfigError
from recycle.select._common import check_labels, stratified_folds, stratified_holdout

#: Largest m chosen automatically.
MAX_M = 5
#: A source is added only if its mean paired CV gain exceeds this many standard errors.
NOISE_SE = 1.0
#: Linear CKA above which a candidate counts as a near-duplicate of a chosen source.
REDUNDANCY_CKA = 0.95
#: Ridge penalty relative to the mean diagonal of the training Gram matrix.
RIDGE = 0.1
#: Candidates considered: the top POOL_FACTOR * max_m of the ranking.
POOL_FACTOR = 2
#: Rows used by the CV (a stratified subsample above this), to bound the O(n^3) solves.
MAX_ROWS = 600
#: Folds and repeats of the repeated stratified CV.
N_SPLITS, N_REPEATS = 5, 3


@dataclass
class AutoMResult:
    """Outcome of :func:`choose_m`."""

    chosen: list[int]  # indices into the ranking, in order of addition
    cv_accuracy: float  # CV accuracy of the chosen subset
    trace: list[dict[str, Any]] = field(default_factory=list)  # one record per decision

    @property
    def m(self) -> int:
        """Number of chosen sources."""
        return len(self.chosen)

    def to_dict(self) -> dict[str, Any]:
        """JSON-able view."""
        return {
            "chosen": self.chosen,
            "m": self.m,
            "cv_accuracy": self.cv_accuracy,
            "trace": self.trace,
        }


def _gram(F: np.ndarray) -> np.ndarray:
    F = np.asarray(F, dtype=np.float64).reshape(F.shape[0], -1)
    norms = np.linalg.norm(F, axis=1, keepdims=True)
    F = np.divide(F, norms, out=np.zeros_like(F), where=norms > 0)
    F = F - F.mean(axis=0)
    return F @ F.T


def linear_cka(K: np.ndarray, L: np.ndarray) -> float:
    """Linear CKA of two centred Gram matrices, in [0, 1] (0 if either is zero).

    Examples
    --------
    >>> K = _gram(np.random.default_rng(0).normal(size=(10, 3)))
    >>> round(linear_cka(K, 4 * K), 6)
    1.0
    """
    denom = float(np.linalg.norm(K) * np.linalg.norm(L))
    return float(np.sum(K * L) / denom) if denom > 0 else 0.0


def _fold_accuracy(
    K: np.ndarray, y: np.ndarray, folds: list[tuple[np.ndarray, np.ndarray]], probe: str
) -> np.ndarray:
    C = int(y.max()) + 1
    accs = np.empty(len(folds))
    for i, (tr, te) in enumerate(folds):
        Ktr = K[np.ix_(tr, tr)] + 1.0  # +1: an unpenalised-ish bias term
        Kte = K[np.ix_(te, tr)] + 1.0
        if probe == "ridge":
            lam = RIDGE * max(float(np.trace(Ktr)) / tr.size, 1e-12)
            Y = np.eye(C)[y[tr]]
            alpha = np.linalg.solve(Ktr + lam * np.eye(tr.size), Y)
            pred = (Kte @ alpha).argmax(axis=1)
        else:
            d2 = np.diag(K)[tr][None, :] - 2.0 * K[np.ix_(te, tr)]
            k = min(5, tr.size)
            nn = np.argsort(d2, axis=1, kind="stable")[:, :k]
            votes = np.zeros((te.size, C))
            for j in range(k):
                votes[np.arange(te.size), y[tr][nn[:, j]]] += 1.0 + 1e-3 / (1 + j)
            pred = votes.argmax(axis=1)
        accs[i] = np.mean(pred == y[te])
    return accs


def choose_m(
    features: list[np.ndarray],
    y: np.ndarray,
    max_m: int = MAX_M,
    probe: Literal["ridge", "knn"] = "ridge",
    seed: int = 0,
) -> AutoMResult:
    """Choose how many (and which) of the ranked sources to keep.

    Parameters
    ----------
    features : list of arrays (n, d_s)
        Target train features of the ranked sources, best first.
    y : array (n,)
        Target labels.
    max_m : int
        Cap on the number of sources.
    probe : {"ridge", "knn"}
        The CV probe on concatenated features.
    seed : int
        Seed of the folds (and of the subsample above :data:`MAX_ROWS` rows).

    Returns
    -------
    AutoMResult
        ``chosen`` always holds at least the first source.
    """
    if not features:
        raise ConfigError("choose_m needs at least one source's features; got none.")
    if isinstance(max_m, bool) or max_m < 1:
        raise ConfigError(f"max_m must be an int >= 1; got {max_m!r}.")
    if probe not in ("ridge", "knn"):
        raise ConfigError(f"probe must be 'ridge' or 'knn'; got {probe!r}.")
    y = check_labels(y, features[0].shape[0], "features[0]")
    rows = np.arange(y.size)
    if y.size > MAX_ROWS:
        rows = stratified_holdout(y, MAX_ROWS / y.size, seed)[1]
    y = y[rows]
    pool = min(len(features), POOL_FACTOR * max_m)
    grams = [_gram(np.asarray(features[i])[rows]) for i in range(pool)]
    folds = list(stratified_folds(y, N_SPLITS, n_repeats=N_REPEATS, seed=seed))
    chosen = [0]
    K = grams[0].copy()
    acc = _fold_accuracy(K, y, folds, probe)
    trace: list[dict[str, Any]] = [{"index": 0, "action": "start", "accuracy": float(acc.mean())}]
    excluded: set[int] = set()
    while len(chosen) < max_m:
        best: tuple[float, int, np.ndarray, float] | None = None
        for j in range(pool):
            if j in chosen or j in excluded:
                continue
            cka = max(linear_cka(grams[j], grams[c]) for c in chosen)
            if cka > REDUNDANCY_CKA:
                excluded.add(j)
                trace.append({"index": j, "action": "redundant", "cka": cka})
                continue
            new = _fold_accuracy(K + grams[j], y, folds, probe)
            diff = new - acc
            se = float(diff.std(ddof=1) / np.sqrt(diff.size)) if diff.size > 1 else 0.0
            if best is None or diff.mean() > best[0]:
                best = (float(diff.mean()), j, new, se)
        if best is None:
            break
        gain, j, new, se = best
        if gain <= 0 or gain <= NOISE_SE * se:
            trace.append({"index": j, "action": "stop", "gain": gain, "se": se})
            break
        chosen.append(j)
        K = K + grams[j]
        acc = new
        trace.append(
            {"index": j, "action": "add", "gain": gain, "se": se, "accuracy": float(acc.mean())}
        )
    return AutoMResult(chosen=chosen, cv_accuracy=float(acc.mean()), trace=trace)
