"""``no_source``: the model a tabular user would train without any source.

Gradient boosting (scikit-learn's ``HistGradientBoostingClassifier``) or a standardised logistic
regression, whichever scores higher in a stratified cross-validation on the target's rows
(ties go to logistic regression, the simpler one). It is what the tabular market answers when
no source is usable, and auto's reference on named tables. The fitted estimator is kept as
skops bytes (never pickle) and loaded back through the allow-list of
:mod:`recycle.sources.sklearn_source`.

Each kind alone is a strategy too (``gradient_boosting``, ``logistic_regression``): on named
tables auto scores both beside its reference ``no_source`` and names in ``report_`` the kind
its choice does not clearly beat (the single 3-fold choice inside ``no_source`` may pick the
kind that does worse on new data).

Examples
--------
>>> import numpy as np
>>> rng = np.random.default_rng(0)
>>> X = rng.normal(size=(200, 3)); y = (X[:, 0] * X[:, 1] > 0).astype(int)
>>> model = NoSource().fit(X, y)  # an interaction: the trees win the CV
>>> model.chosen_, model.cv_scores_["gradient_boosting"] > model.cv_scores_["logistic_regression"]
('gradient_boosting', True)
"""

from __future__ import annotations

import warnings
from typing import Any, ClassVar

import numpy as np
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold, cross_val_score
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler

from recycle.adapt.base import Strategy
from recycle.adapt.registry import register_strategy
from recycle.adapt.split import small_n_folds
from recycle.sources.base import SourceModel

#: Folds of the choice between the two model kinds (fewer when a class has fewer rows; at
#: least ten under 100 rows: :func:`~recycle.adapt.split.small_n_folds`).
CHOICE_FOLDS = 3
#: Iterations of the logistic regression's solver.
LOGREG_MAX_ITER = 2000


def candidates(seed: int) -> dict[str, Pipeline | HistGradientBoostingClassifier]:
    """The two no-source model kinds, unfitted: ``{"logistic_regression": ..., ...}``."""
    return {
        "logistic_regression": make_pipeline(
            StandardScaler(), LogisticRegression(max_iter=LOGREG_MAX_ITER, random_state=seed)
        ),
        "gradient_boosting": HistGradientBoostingClassifier(random_state=seed),
    }


def choose_kind(X: np.ndarray, y: np.ndarray, seed: int) -> tuple[str, dict[str, float]]:
    """The better model kind by stratified CV accuracy, and each kind's mean accuracy.

    With fewer than two rows in some class no CV is possible: logistic regression.
    """
    k = small_n_folds(y, CHOICE_FOLDS)
    if k < 2:
        return "logistic_regression", {}
    folds = StratifiedKFold(k, shuffle=True, random_state=seed)
    scores = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        for name, est in candidates(seed).items():
            scores[name] = float(np.mean(cross_val_score(est, X, y, cv=folds)))
    best = max(scores, key=lambda n: (scores[n], n == "logistic_regression"))
    return best, scores


@register_strategy
class NoSource(Strategy):
    """Gradient boosting or logistic regression on the raw table, chosen by CV; no source.

    Parameters
    ----------
    sources : list of SourceModel, optional
        Ignored (the strategy reads no source).
    seed : int, default 0
    """

    name: ClassVar[str] = "no_source"
    uses_sources: ClassVar[bool] = False
    relative_cost: ClassVar[float] = 3.0
    #: The model kind, or None: chosen by CV on the target (:func:`choose_kind`).
    kind: ClassVar[str | None] = None

    def __init__(self, sources: list[SourceModel] | None = None, seed: int = 0) -> None:
        self.sources = sources
        self.seed = seed

    def _fit(self, X: Any, y: np.ndarray, feats: list[np.ndarray]) -> None:
        X = np.asarray(X, dtype=np.float64)
        if self.kind is None:
            self.chosen_, self.cv_scores_ = choose_kind(X, y, self.seed)
        else:
            self.chosen_, self.cv_scores_ = self.kind, {}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            self.model_ = candidates(self.seed)[self.chosen_].fit(X, y)
        self.trainable_params_ = _n_params(self.model_)

    def _proba(self, X: Any, feats: list[np.ndarray]) -> np.ndarray:
        proba = self.model_.predict_proba(np.asarray(X, dtype=np.float64))
        out = np.zeros((len(proba), len(self.classes_)))
        out[:, np.asarray(self.model_.classes_, dtype=np.int64)] = proba
        return out

    def _state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        import skops.io

        blob = np.frombuffer(skops.io.dumps(self.model_), dtype=np.uint8)
        return {"chosen": self.chosen_, "cv_scores": self.cv_scores_}, {"model_skops": blob}

    def _load_state(self, config: dict[str, Any], tensors: dict[str, np.ndarray]) -> None:
        from recycle.sources.sklearn_source import load_skops

        self.chosen_ = str(config["chosen"])
        self.cv_scores_ = dict(config.get("cv_scores", {}))
        self.model_ = load_skops(np.asarray(tensors["model_skops"], dtype=np.uint8).tobytes())


@register_strategy
class GradientBoosting(NoSource):
    """scikit-learn's ``HistGradientBoostingClassifier`` (defaults) on the raw table; no source.

    Parameters
    ----------
    sources : list of SourceModel, optional
        Ignored (the strategy reads no source).
    seed : int, default 0
    """

    name: ClassVar[str] = "gradient_boosting"
    relative_cost: ClassVar[float] = 2.0
    kind: ClassVar[str | None] = "gradient_boosting"


@register_strategy
class LogisticRegressionModel(NoSource):
    """A standardised logistic regression on the raw table; no source.

    Parameters
    ----------
    sources : list of SourceModel, optional
        Ignored (the strategy reads no source).
    seed : int, default 0
    """

    name: ClassVar[str] = "logistic_regression"
    relative_cost: ClassVar[float] = 1.0
    kind: ClassVar[str | None] = "logistic_regression"


def _n_params(model: Any) -> int:
    """Learned numbers: coefficients and intercepts, or the trees' nodes (one threshold each)."""
    if isinstance(model, Pipeline):
        clf = model[-1]
        return int(np.size(clf.coef_) + np.size(clf.intercept_))
    return int(sum(len(tree.nodes) for trees in model._predictors for tree in trees))
