"""The Recycler: select sources from a zoo and adapt them into a target model.

``Recycler(zoo, m="auto", selection_score="knn", strategy="auto").fit(X, y)`` checks the target,
ranks the zoo's compatible sources with a transferability score
(:func:`recycle.select.select_sources`),
then fits a strategy on the top-``m`` sources. With ``strategy="auto"`` the strategy (and m) is
chosen by repeated stratified cross-validation on the train split, under a time budget, with a
negative-transfer guard (see :mod:`recycle.adapt.auto`). ``report_`` says what happened.

Examples
--------
>>> import numpy as np
>>> from sklearn.datasets import load_digits
>>> X, y = load_digits(return_X_y=True)
>>> class Pixels:
...     source_id, modality, access, feature_dim = "pixels", "tabular", "black-box", 64
...     def embed(self, X):
...         return np.asarray(X, dtype=np.float32)
>>> rec = Recycler([Pixels()], m=1, strategy="linear_probe").fit(X[:300], y[:300])
>>> rec.report_["strategy"], rec.score(X[300:600], y[300:600]) > 0.8
('linear_probe', True)
"""

from __future__ import annotations

import time
import warnings
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from threadpoolctl import threadpool_limits

from recycle.adapt import auto, persist
from recycle.adapt.base import BLAS_THREADS, EstimatorNotFittedError
from recycle.adapt.export import register as register_in_zoo
from recycle.adapt.family.source import check_same_base, family_sources
from recycle.adapt.fit_report import fit_report
from recycle.adapt.registry import build, check_params, reads_sources
from recycle.adapt.strategies import get_strategy, strategy_names
from recycle.data import check_target, infer_modality
from recycle.errors import ConfigError
from recycle.progress import ProgressCallback
from recycle.schema import Schema, conform, learn_schema
from recycle.sources.cache import resolve_cache, use_cache
from recycle.tabular.market import NO_SOURCE_NOTE, market_pool, no_usable_source


def _is_int(v: Any) -> bool:
    return isinstance(v, int | np.integer) and not isinstance(v, bool)


#: Share of ``time_budget`` auto's cross-validation may use; the rest is for the final refit.
AUTO_CV_SHARE = 0.7


class Recycler(ClassifierMixin, BaseEstimator):
    """Select sources from a zoo and recycle them for a labelled target (scikit-learn estimator).

    Parameters
    ----------
    zoo : Zoo, str or list of SourceModel
        The zoo (or its location), or a plain list of sources. Only the no-source strategies
        (``"independent"``, ``"tfidf_logreg"``, ``"minilm_logreg"``, ``"setfit"``,
        ``"finetune"``) work without one (None).
    m : int or "auto", default "auto"
        Sources to use; "auto" takes the selection's choice (and auto also tries 1 and 5).
    selection_score : str, default "knn"
        Transferability score of the selection (:func:`recycle.select.select_sources`'s
        ``score``). The old name ``score=`` still works, with a FutureWarning: it clashed with
        scikit-learn's ``score(X, y)`` method, which works normally.
    strategy : str, default "auto"
        A name in :data:`recycle.adapt.STRATEGIES` or "auto".
    seed : int, default 0
    cv, cv_repeats : int, default 3 and None
        Folds and repeats of auto's repeated stratified cross-validation (None: 2; 1 on a text
        LoRA library, :mod:`recycle.adapt.auto.fidelity`).
    candidates : list of str, optional
        Restrict the selection to these zoo entries (names, ids or source ids).
    strategies : list of str, optional
        Strategies auto may choose from (default: every black-box strategy, plus module mixing
        when the sources are white-box (on a text LoRA library also lorahub and finetune_source
        at m >= 3, low fidelity), plus "setfit" on text). The no-source baselines are always
        included: "independent", and "independent_adapters" when the sources are white-box; on
        text "tfidf_logreg" and "minilm_logreg" instead, and "setfit" on a text LoRA library
        unless ``strategies`` leaves it out (under 64 texts a class auto then fits it alone).
    time_budget : float, optional
        Seconds (None: 60; 420 on a text LoRA library) the whole fit should take with
        ``strategy="auto"``: cross-validation may use :data:`AUTO_CV_SHARE` of it (minus the
        selection's time); candidates that would overrun are skipped and reported (the
        no-source baselines always run). The budget is wall-clock time, so which candidates are
        skipped depends on the machine and its load (measured: 3 of 180 stream28 fits changed
        their candidate set between two runs); for choices that reproduce anywhere, pass a
        budget no fit reaches (``1e9``) and pay for every candidate.
    strategy_params : dict, optional
        ``{strategy_name: {param: value}}``; the key ``"*"`` applies to every strategy that takes
        the parameter (e.g. ``{"*": {"max_epochs": 20}}``). Unknown strategies, unknown
        parameters and values of the wrong type are a ConfigError naming the valid ones
        (:mod:`recycle.adapt.registry`).
    backend : {"local", "ray"}, optional
        Where selection's per-source map runs.
    cache : FeatureCache or str, optional
        Feature cache (or its folder) for selection, fit and prediction; by default features
        are cached only when ``$RECYCLE_CACHE`` is set.
    progress : callable, optional
        ``progress(task, done, total)`` for selection, cross-validation and training.

    Attributes
    ----------
    classes_ : ndarray
    schema_ : dict
        The fit input's schema (modality, columns, image size/channels); see :mod:`recycle.schema`.
    feature_names_in_ : ndarray of str
        Column names when fitted on a DataFrame.
    strategy_ : Strategy
        The fitted strategy.
    selection_ : Selection or None
    report_ : dict
        JSON-able: sources, strategy, m, cv scores, guard, params, seconds, warnings.
    """

    _parameter_constraints: ClassVar[dict[str, str]] = {
        "m": "an int >= 1 or 'auto'",
        "selection_score": "a non-empty str",
        "strategy": "'auto' or a strategy name",
        "seed": "an int >= 0",
        "cv": "an int >= 2",
        "cv_repeats": "an int >= 1 or None",
        "time_budget": "a float > 0 or None",
    }

    def __init__(
        self,
        zoo: Any = None,
        m: int | str = "auto",
        selection_score: str = "knn",
        strategy: str = "auto",
        seed: int = 0,
        cv: int = 3,
        cv_repeats: int | None = None,
        candidates: list[str] | None = None,
        strategies: list[str] | None = None,
        time_budget: float | None = None,
        strategy_params: dict[str, dict[str, Any]] | None = None,
        backend: str | None = None,
        cache: Any = None,
        progress: ProgressCallback | None = None,
        **deprecated: Any,
    ) -> None:
        if "score" in deprecated:
            warnings.warn(
                "Recycler(score=...) is deprecated; use selection_score=... (score is "
                "scikit-learn's accuracy method).",
                FutureWarning,
                stacklevel=2,
            )
            selection_score = deprecated.pop("score")
        if deprecated:
            raise TypeError(
                f"Recycler got an unexpected keyword argument {next(iter(deprecated))!r}."
            )
        self.zoo = zoo
        self.m = m
        self.selection_score = selection_score
        self.strategy = strategy
        self.seed = seed
        self.cv = cv
        self.cv_repeats = cv_repeats
        self.candidates = candidates
        self.strategies = strategies
        self.time_budget = time_budget
        self.strategy_params = strategy_params
        self.backend = backend
        self.cache = cache
        self.progress = progress

    # -- validation ----------------------------------------------------------------------------
    def _validate(self) -> None:
        reps, budget = self.cv_repeats, self.time_budget
        ok = {
            "m": self.m == "auto" or (_is_int(self.m) and int(self.m) >= 1),
            "selection_score": isinstance(self.selection_score, str) and bool(self.selection_score),
            "strategy": isinstance(self.strategy, str)
            and (self.strategy == "auto" or self.strategy in strategy_names()),
            "seed": _is_int(self.seed) and self.seed >= 0,
            "cv": _is_int(self.cv) and self.cv >= 2,
            "cv_repeats": reps is None or (_is_int(reps) and reps >= 1),
            "time_budget": budget is None or (isinstance(budget, int | float) and budget > 0),
        }
        for name, good in ok.items():
            if not good:
                extra = ""
                if name == "strategy":
                    extra = f" Valid: auto, {', '.join(strategy_names())}."
                raise ConfigError(
                    f"The {name!r} parameter of Recycler must be "
                    f"{self._parameter_constraints[name]}. Got {getattr(self, name)!r} instead."
                    + extra
                )
        for name in self.strategies or []:
            get_strategy(name)
        check_params(self.strategy_params)

    def _zoo(self) -> Any:
        if isinstance(self.zoo, str | Path):
            from recycle.zoo import Zoo

            return Zoo.open(self.zoo)
        return self.zoo

    # -- fit -------------------------------------------------------------------------------------
    def fit(self, X: Any, y: Any) -> Recycler:
        """Select sources and adapt them to ``(X, y)``; see the class docstring.

        A pandas DataFrame ``X`` keeps its column names (``feature_names_in_``): prediction
        inputs are then matched by name (see :mod:`recycle.schema`).
        """
        self._validate()
        start = self._start = time.perf_counter()
        X, schema = learn_schema(X)
        X, y_int, classes = check_target(X, y)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            with threadpool_limits(BLAS_THREADS, user_api="blas"), use_cache(self.cache):
                self._fit(X, y_int, classes, schema)
        self._set_schema(schema)
        first = {str(w.message): w for w in caught}  # one of each message, its category kept
        for w in first.values():
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno, source=w.source)
        self.report_["warnings"] = list(first) + self.report_["warnings"]
        self.report_["fit_seconds"] = round(time.perf_counter() - start, 3)
        return self

    def _select(self, X: Any, y: np.ndarray, zoo: Any) -> Any:
        from recycle.select import select_sources

        return select_sources(
            zoo, X, y, score=self.selection_score, m=self.m, candidates=self.candidates,
            cache=resolve_cache(self.cache), backend=self.backend, progress=self.progress,
            seed=self.seed,
        )  # fmt: skip

    def _fit(self, X: Any, y: np.ndarray, classes: list[Any], schema: Schema) -> None:
        zoo = self._zoo()
        needs_sources = self.strategy == "auto" or reads_sources(self.strategy)
        if needs_sources and zoo is None:
            raise ConfigError(
                f"Recycler(strategy={self.strategy!r}) needs a zoo or a list of sources; got "
                "None. Pass zoo=... or use strategy='independent'."
            )
        pool, skip = market_pool(zoo, schema, X, self.candidates) if needs_sources else (zoo, [])
        fallback = no_usable_source(pool, skip, self.strategy)
        sel = self._select(X, y, pool) if needs_sources and not fallback else None
        ranked = [sel.sources[r.source_id] for r in sel.ranking if not r.error] if sel else []
        selected = [] if sel is None else sel.selected_sources
        feats = {} if sel is None else dict(sel.features)
        notes: list[str] = []
        choice: auto.Choice | None = None
        if fallback:  # auto with no usable source: it scores the no-source models only
            warnings.warn(NO_SOURCE_NOTE.format(why="; ".join(skip)), UserWarning, stacklevel=4)
        if self.strategy == "auto":
            named = pool is not zoo  # a named table (the tabular market)
            plan = auto.auto_pool(self.strategies, selected, infer_modality(X), ranked, named, y)
            notes += plan.notes
            budget = (self.time_budget or plan.budget_s) * AUTO_CV_SHARE
            choice = auto.choose(
                plan.names, X, y, ranked, feats, m_selected=len(selected),
                m_fixed=self.m != "auto", references=plan.references, baselines=plan.baselines,
                seed=self.seed, cv=self.cv, repeats=self.cv_repeats or plan.repeats,
                budget_s=budget - (time.perf_counter() - self._start), params=self.strategy_params,
                cv_params=plan.cv_params, progress=self.progress, **plan.choose_options(),
            )  # fmt: skip
            name, sources = (
                choice.strategy,
                auto.candidate_sources(choice.strategy, ranked, choice.m),
            )
        else:
            name = self.strategy
            cls = get_strategy(name)
            # white-box baselines read no source features but build on the sources' base
            on_base = getattr(cls, "access", "black-box") == "white-box"
            sources = selected if (cls.uses_sources or on_base) else []
            if on_base and sources:
                sources = family_sources(ranked, len(selected))
                check_same_base(sources)
        self.strategy_ = self._fit_strategy(name, sources, X, y, feats)
        if choice is not None:  # auto: check the refit; fit the reference when it failed
            checked = auto.checked(self.strategy_, X, y, feats, choice)
            if (checked.strategy, checked.m) != (choice.strategy, choice.m):
                name, sources = checked.strategy, auto.candidate_sources(
                    checked.strategy, ranked, checked.m)  # fmt: skip
                self.strategy_ = self._fit_strategy(name, sources, X, y, feats)
            choice, notes = checked, notes + checked.notes
        self.classes_ = np.asarray(classes)
        self.selection_ = sel
        self.report_ = fit_report(self, sel, name, sources, choice, notes, zoo, X)
        self.report_["sources_left_out"] = skip

    def _fit_strategy(self, name: str, sources: list[Any], X: Any, y: np.ndarray,
                      feats: dict[str, Any]) -> Any:  # fmt: skip
        est = build(name, sources, self.seed, self.strategy_params, self.progress)
        return est.fit(X, y, features={s.source_id: feats[s.source_id] for s in sources
                                       if s.source_id in feats})  # fmt: skip

    # -- predict ---------------------------------------------------------------------------------
    def _check_fitted(self) -> None:
        if not hasattr(self, "strategy_"):
            raise EstimatorNotFittedError("This Recycler is not fitted yet; call fit(X, y) first.")

    def _set_schema(self, schema: Schema | None) -> None:
        """Keep the fit input's schema (also as scikit-learn's ``feature_names_in_``)."""
        self.schema_ = schema
        if schema and schema.get("columns"):
            self.feature_names_in_ = np.asarray(schema["columns"], dtype=object)
        if schema and schema["modality"] == "tabular":
            self.n_features_in_ = schema["n_features"]

    def predict_proba(self, X: Any) -> np.ndarray:
        """Class probabilities ``(n, n_classes)`` in the order of ``classes_``.

        ``X`` is checked against the fit input's schema first (a DataFrame matched by column
        name; image size and channels; text); the feature cache is used only when ``cache`` was
        given or ``$RECYCLE_CACHE`` is set.
        """
        self._check_fitted()
        X = conform(getattr(self, "schema_", None), X)
        with use_cache(self.cache):
            return self.strategy_.predict_proba(X)

    def predict(self, X: Any) -> np.ndarray:
        """Predicted labels (values of ``classes_``)."""
        proba = self.predict_proba(X)
        return self.classes_[np.argmax(proba, axis=1)]

    # -- persistence -----------------------------------------------------------------------------
    def save(self, path: str | Path, overwrite: bool = False) -> Path:
        """Write the fitted model to a new folder ``path`` (safetensors + JSON, no pickle).

        The folder is written under a temporary name and renamed. An existing path is refused
        (ConfigError) unless it is an empty folder, or a model folder and ``overwrite=True``.
        """
        self._check_fitted()
        return persist.write_folder(persist.to_payload(self), path, overwrite=overwrite)

    @classmethod
    def load(cls, path: str | Path, zoo: Any = None, sources: Any = None) -> Recycler:
        """Load a model written by :meth:`save`.

        Its zoo sources are looked up in ``zoo`` (a Zoo or the location of an existing one) by
        entry id and content hash; ``sources`` (a list of SourceModel) is the alternative. The
        zoo the model was fitted with is never opened: it only appears in the error's hint.
        """
        return persist.restore(cls, persist.read_folder(path), zoo, sources, where=str(path))

    def export(
        self, path: str | Path, quantize: str | None = None, overwrite: bool = False
    ) -> Path:
        """This model as one ONNX file; see :func:`recycle.deploy.export_onnx`."""
        from recycle.deploy.onnx_export import export_onnx

        self._check_fitted()
        return export_onnx(self, path, quantize=quantize, overwrite=overwrite)

    def register(self, zoo: Any, name: str, version: str = "1.0.0", **card: Any) -> Any:
        """Register this recycled model in ``zoo`` with its lineage (see adapt.export)."""
        self._check_fitted()
        return register_in_zoo(self, zoo, name, version=version, **card)
