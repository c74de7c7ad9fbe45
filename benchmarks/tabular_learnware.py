"""The `learnware` package's reusers beside ``recycle reuse`` on the tabular market (issue #23).

Same unlabelled targets (each table's user split, which no source saw), same sources (the ones
``recycle reuse`` kept for the table), each source wrapped as a learnware whose RKME table
specification is built by the package itself from the provider's own rows (the provider split
the source was trained on), with the package's defaults (``generate_rkme_table_spec``: gamma
0.1, 100 reduced points). Reusers: ``AveragingReuser(mode="vote_by_prob")`` and
``JobSelectorReuser`` (its LightGBM job selector trained on :data:`HERDING` points herded
from the specs), both
without labels. ``EnsemblePruningReuser`` needs labelled rows (it prunes on them), so it is not
a reuser without labels and is not run here.

Imported by ``benchmarks/tabular.py`` (``--zoo``); ``learnware`` is imported with ``HOME``
pointed at a temporary folder, since it creates ``~/.learnware`` and seeds every RNG on import.
"""

from __future__ import annotations

import os
import tempfile
import time
from typing import Any

import numpy as np

#: Herded points of JobSelectorReuser (its default is 1000; its herding recomputes the kernel
#: of every point picked so far against 100 candidates per point, cubic in this number: 1000
#: ran > 10 min per table at load 6 without finishing, 200 takes seconds).
HERDING = 200


def _learnware() -> Any:
    """The package's modules, imported with a throwaway HOME."""
    home, old = tempfile.mkdtemp(prefix="learnware-home-"), os.environ.get("HOME")
    os.environ["HOME"] = home
    try:
        import learnware.learnware as lw_base
        import learnware.model as lw_model
        import learnware.reuse as lw_reuse
        import learnware.specification as lw_spec
    finally:
        if old is not None:
            os.environ["HOME"] = old
    return lw_base, lw_model, lw_reuse, lw_spec, home


def _wares(lw: Any, probas: dict[str, Any], specs: list[Any], n_classes: int) -> list[Any]:
    """Learnwares of the ``probas`` (name -> ``predict_proba``) with the package's ``specs``.

    Their models return log-probabilities, so that the package's ``vote_by_prob`` softmax
    gives back each source's own probabilities."""
    lw_base, lw_model, _, lw_spec, home = lw

    class Model(lw_model.BaseModel):  # type: ignore[misc,name-defined]
        def __init__(self, predict_proba: Any) -> None:
            super().__init__(input_shape=(None,), output_shape=(n_classes,))
            self.predict_proba = predict_proba

        def predict(self, X: np.ndarray) -> np.ndarray:
            return np.log(np.clip(self.predict_proba(X), 1e-12, 1.0))

    return [
        lw_base.Learnware(id=name, model=Model(f), learnware_dirpath=home,
                          specification=lw_spec.Specification(
                              stat_spec={"RKMETableSpecification": spec}))
        for (name, f), spec in zip(probas.items(), specs, strict=True)
    ]  # fmt: skip


def _reuse(lw: Any, wares: list[Any], X: np.ndarray, y: np.ndarray) -> dict[str, float]:
    """Accuracy and seconds of learnware's AveragingReuser and JobSelectorReuser on ``X``."""
    reusers = {
        "learnware averaging": lw[2].AveragingReuser(learnware_list=wares, mode="vote_by_prob"),
        "learnware JobSelector": lw[2].JobSelectorReuser(learnware_list=wares, herding_num=HERDING),
    }
    out = {}
    for key, reuser in reusers.items():
        t0 = time.perf_counter()
        pred = np.asarray(reuser.predict(user_data=X))
        out[key] = float(np.mean(pred.argmax(axis=1) == y))
        out[f"{key} seconds"] = time.perf_counter() - t0
    return out


def learnware_accuracies(zoo: Any, table: Any, source_names: list[str]) -> dict[str, float]:
    """Accuracy of learnware's AveragingReuser and JobSelectorReuser on ``table``'s user split
    (no labels used), with the sources ``source_names`` (entries of ``zoo``), and the seconds
    each took."""
    from recycle.tabular.zoo import provider_split

    lw = _learnware()
    ds = provider_split(table)
    # one spec per provider: every source of a table was trained on the same provider rows
    spec = lw[3].generate_rkme_table_spec(X=np.asarray(ds.X_train, dtype=np.float64))
    sources = {name: zoo.load(name.split("@")[0]) for name in source_names}
    probas = {
        name: (lambda X, s=src: s.predict_proba(np.asarray(X, dtype=np.float32)))
        for name, src in sources.items()
    }
    wares = _wares(lw, probas, [spec] * len(probas), len(ds.classes))
    return _reuse(lw, wares, np.asarray(ds.X_test, dtype=np.float64), np.asarray(ds.y_test))


#: The mixed-provider case: this table's provider rows cut into this many providers by k-means
#: (on standardised log1p features), each training its own gradient boosting; the user holds
#: the table's user split, rows of every provider's kind mixed.
MIXED_TABLE, MIXED_PROVIDERS = "spam7", 3


class _Provider:
    """One provider's model, as ``spec_weighted`` takes a source."""

    modality, access = "tabular", "black-box"

    def __init__(self, i: int, model: Any, classes: list[str]) -> None:
        self.source_id, self.model, self.source_classes = f"provider{i}", model, classes
        self.feature_dim = len(classes)

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        return self.model.predict_proba(np.asarray(X, dtype=np.float64))

    embed = predict_proba


def mixed_providers(seed: int = 0) -> dict[str, float]:
    """Accuracy on :data:`MIXED_TABLE`'s user split (no labels used) of each single provider,
    plain averaging, ``spec_weighted`` (recycle's specs, as ``recycle reuse`` builds them),
    learnware's AveragingReuser and JobSelectorReuser (the package's specs), and the oracle
    that sends each row to the provider of its own k-means cluster."""
    from sklearn.cluster import KMeans
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import FunctionTransformer, StandardScaler

    from recycle.adapt.strategies.spec_weighted import SpecWeighted
    from recycle.spec.scaled import build_scaled_spec
    from recycle.tabular.zoo import SPEC_M, provider_split, table

    lw = _learnware()
    ds = provider_split(table(MIXED_TABLE))
    X, y = np.asarray(ds.X_train, dtype=np.float64), np.asarray(ds.y_train)
    X_user, y_user = np.asarray(ds.X_test, dtype=np.float64), np.asarray(ds.y_test)
    classes = [str(c) for c in ds.classes]
    cut = make_pipeline(FunctionTransformer(np.log1p), StandardScaler(),
                        KMeans(MIXED_PROVIDERS, n_init=10, random_state=seed)).fit(X)  # fmt: skip
    group = cut.predict(X)
    providers, ours, theirs = [], [], []
    for i in range(MIXED_PROVIDERS):
        rows = group == i
        model = HistGradientBoostingClassifier(random_state=seed).fit(X[rows], y[rows])
        providers.append(_Provider(i, model, classes))
        ours.append(build_scaled_spec(X[rows], m=min(SPEC_M, int(rows.sum()) // 10), seed=seed))
        theirs.append(lw[3].generate_rkme_table_spec(X=X[rows]))

    named = {p.source_id: p.predict_proba for p in providers}
    wares = _wares(lw, named, theirs, len(classes))
    probas = [p.predict_proba(X_user) for p in providers]
    out = {
        f"provider {i} alone": float(np.mean(P.argmax(1) == y_user)) for i, P in enumerate(probas)
    }
    out["averaging"] = float(np.mean(np.mean(probas, axis=0).argmax(1) == y_user))
    est = SpecWeighted.from_specs(providers, ours, classes)
    out["recycle spec_weighted"] = float(
        np.mean(est.predict(X_user) == np.asarray(classes)[y_user])
    )
    own = cut.predict(X_user)
    routed = np.choose(own, [P.argmax(1) for P in probas])
    out["oracle routing"] = float(np.mean(routed == y_user))
    out.update(_reuse(lw, wares, X_user, y_user))
    out.update(
        {f"user rows of provider {i}": float(np.sum(own == i)) for i in range(MIXED_PROVIDERS)}
    )
    return out


def mixed_search(seed: int = 0, rows: int = 40, queries: int = 20) -> dict[str, float]:
    """``Zoo.search`` on the mixed providers: each query holds ``rows`` user rows of one
    provider's kind (its k-means cluster); the share of queries whose top hit is that provider,
    with the raw specs' ranking and with the scaled re-ranking (:func:`recycle.zoo.query.
    rescaled`), over ``queries`` queries per kind."""
    import tempfile

    from sklearn.cluster import KMeans
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import FunctionTransformer, StandardScaler

    from recycle.sources import SklearnSource
    from recycle.spec import build_spec
    from recycle.spec.scaled import build_scaled_spec
    from recycle.tabular.zoo import SPEC_M, card_for, provider_split, table
    from recycle.zoo import ModelCard, Zoo
    from recycle.zoo.query import QUERY_M, ranked, search

    t = table(MIXED_TABLE)
    ds = provider_split(t)
    X, y = np.asarray(ds.X_train, dtype=np.float64), np.asarray(ds.y_train)
    X_user = np.asarray(ds.X_test, dtype=np.float64)
    classes = [str(c) for c in ds.classes]
    cut = make_pipeline(FunctionTransformer(np.log1p), StandardScaler(),
                        KMeans(MIXED_PROVIDERS, n_init=10, random_state=seed)).fit(X)  # fmt: skip
    group = cut.predict(X)
    zoo = Zoo.open(tempfile.mkdtemp())
    for i in range(MIXED_PROVIDERS):
        mine = group == i
        model = HistGradientBoostingClassifier(random_state=seed).fit(X[mine], y[mine])
        card = card_for(t, "hgb", ds, 0.0).to_dict()
        card.update(name=f"provider{i}.{t.name}")
        zoo.register(SklearnSource(model, source_id=f"provider{i}", source_classes=classes),
                     ModelCard.from_dict(card),
                     spec=build_scaled_spec(X[mine], m=min(SPEC_M, int(mine.sum()) // 10),
                                            seed=seed))  # fmt: skip
    own = cut.predict(X_user)
    rng = np.random.default_rng(seed)
    hits = {"raw specs": 0, "scaled specs": 0}
    total = 0
    for i in range(MIXED_PROVIDERS):
        pool = np.flatnonzero(own == i)
        for _ in range(queries):
            Q = X_user[rng.choice(pool, min(rows, len(pool)), replace=False)]
            query = build_spec(Q, m=max(1, min(QUERY_M, len(Q) // 2)), space=f"input:{Q.shape[1]}")
            raw = ranked(zoo, query, 1)  # the index's order on the raw specs
            hits["raw specs"] += raw[0][0].entry.name.startswith(f"provider{i}.")
            hits["scaled specs"] += search(zoo, Q, top=1)[0].entry.name.startswith(f"provider{i}.")
            total += 1
    return {k: v / total for k, v in hits.items()}
