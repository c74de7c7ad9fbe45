"""The tabular market (issue #23): a provider's churn model reused by users whose tables hold
other columns than the provider's.

Reproduced first: on the code before this change both users below got "No source accepts the
target" (an IncompatibleError from selection) and nothing else: columns were compared by count
and position only.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from recycle.adapt import Recycler
from recycle.errors import CardError, IncompatibleError
from recycle.tabular import match_columns
from recycle.tabular.zoo import build_tabular_zoo, provider_split, table
from recycle.zoo import ModelCard, Zoo

#: Seven of mlc_churn's 22 columns (after one-hot encoding): what the first user has.
SEVEN = [
    "total_day_minutes", "total_day_charge", "number_customer_service_calls",
    "international_plan=yes", "voice_mail_plan=yes", "total_eve_minutes", "total_intl_calls",
]  # fmt: skip


@pytest.fixture(scope="module")
def churn_zoo(tmp_path_factory: pytest.TempPathFactory) -> Zoo:
    """A zoo holding only the provider's churn model (gradient boosting on mlc_churn)."""
    root = tmp_path_factory.mktemp("tabzoo")
    zoo = Zoo.open(root / "zoo")
    build_tabular_zoo(zoo, tables=["mlc_churn"], quick=True, cache_dir=root / "cache")
    return zoo


def _user(name: str, columns: list[str] | None, n: int = 150, seed: int = 0) -> tuple[Any, ...]:
    """``n`` labelled rows of table ``name``'s user half (with ``columns``), and the rest."""
    ds = provider_split(table(name))
    cols = columns or list(ds.feature_names)
    idx = [ds.feature_names.index(c) for c in cols]
    order = np.random.default_rng(seed).permutation(len(ds.y_test))
    tr, te = order[:n], order[n:]
    frame = pd.DataFrame(ds.X_test[:, idx], columns=cols)
    return frame.iloc[tr], ds.y_test[tr], frame.iloc[te], ds.y_test[te], ds.classes


def test_user_with_seven_of_the_columns_gets_the_churn_source(churn_zoo: Zoo) -> None:
    X, y, X_new, y_new, _ = _user("mlc_churn", SEVEN)
    rec = Recycler(churn_zoo, strategy="stacking").fit(X, y)
    assert [s["name"] for s in rec.report_["sources"]] == ["hgb.mlc_churn"]
    source = rec.strategy_.sources[0]
    assert source.column_map.how.count("name") == 7
    assert source.column_map.n_matched == 7
    # the mapped source's own churn probability ranks the user's held-out rows well: it is fed
    # the right columns (with all columns imputed it would be a constant, AUC 0.5)
    p_yes = source.predict_proba(X_new.to_numpy())[:, 1]
    assert roc_auc_score(y_new, p_yes) > 0.8
    # auto fits too (no error): guarded by the no-source model, both of its kinds scored beside
    auto = Recycler(churn_zoo, strategy="auto", time_budget=30).fit(X, y)
    assert {"no_source", "logistic_regression", "gradient_boosting"} <= set(auto.report_["cv"])
    assert auto.report_["guard"]["reference"] == "no_source"


def test_auto_says_when_the_other_no_source_kind_may_do_better(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    """The bench's ``rows:attrition`` user at 25 rows, seed 2 (#23): auto chose a no-source
    model (the kind one 3-fold CV picked), scored 78.4 % vs 84.8 % for the other kind on the
    test rows, and ``report_`` said nothing. Now both kinds are scored on auto's folds beside
    it and the one its choice does not clearly beat is named."""
    from recycle.bench.tabular import _gb, _logreg, _targets
    from recycle.bench.tabular import _user as bench_user

    root = tmp_path_factory.mktemp("attrition")
    zoo = Zoo.open(root / "zoo")
    build_tabular_zoo(zoo, tables=["attrition"], quick=True, cache_dir=root / "cache")
    X, cols, y = bench_user("attrition", None, False, False)
    (t,) = _targets("rows", "attrition", X, cols, y, (25,), 2, None)
    rec = Recycler(zoo, strategy="auto", seed=2).fit(t.X_train, t.y_train)
    acc = float(np.mean(rec.predict(t.X_test) == t.y_test))
    plain = {
        kind: float(np.mean(make(2, None).fit(t.X_train.to_numpy(), t.y_train)
                            .predict(t.X_test.to_numpy()) == t.y_test))
        for kind, make in (("gradient_boosting", _gb), ("logistic_regression", _logreg))
    }  # fmt: skip
    better = max(plain, key=lambda k: plain[k])
    guard = rec.report_["guard"]
    assert {"no_source", *plain} <= set(rec.report_["cv"])
    if acc < plain[better] - 0.02:  # > 2 points below: report_ must say so
        assert better in (guard.get("close_to") or {}), (acc, plain, guard)
        said = [w for w in rec.report_["warnings"] if "is not clearly better than" in w]
        assert said and better in said[0], rec.report_["warnings"]


def test_related_table_with_other_columns_gets_a_no_source_model(churn_zoo: Zoo) -> None:
    X, y, X_new, y_new, _ = _user("wa_churn", None)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        rec = Recycler(churn_zoo, strategy="auto").fit(X, y)
    assert rec.report_["strategy"] == "no_source"
    said = [w for w in rec.report_["warnings"] if "No source in the zoo is usable" in w]
    assert said and "hgb.mlc_churn@1.0.0: only" in said[0]
    assert any("No source in the zoo is usable" in str(w.message) for w in caught)
    majority = max(np.mean(y_new == c) for c in np.unique(y_new))
    assert rec.score(X_new, y_new) > majority + 0.02


def test_renamed_and_reordered_columns_are_matched_by_distribution(churn_zoo: Zoo) -> None:
    X, y, _, _, _ = _user("mlc_churn", SEVEN)
    renamed = X.set_axis([f"c{i}" for i in range(7)], axis=1).iloc[:, ::-1]
    rec = Recycler(churn_zoo, strategy="stacking").fit(renamed, y)
    cmap = rec.strategy_.sources[0].column_map
    found = dict(zip(cmap.source_columns, cmap.taken_from, strict=True))
    # columns whose provider mean is unlike any other column's are found under their new name
    assert found["number_customer_service_calls"] == "c2"
    assert found["international_plan=yes"] == "c3"
    assert found["voice_mail_plan=yes"] == "c4"
    assert found["total_day_charge"] == "c1"
    assert cmap.how.count("distribution") >= 6


def test_saved_model_maps_columns_again(churn_zoo: Zoo, tmp_path: Any) -> None:
    X, y, X_new, _, _ = _user("mlc_churn", SEVEN)
    rec = Recycler(churn_zoo, strategy="stacking").fit(X, y)
    rec.save(tmp_path / "m")
    back = Recycler.load(tmp_path / "m", zoo=churn_zoo)
    shuffled = X_new[SEVEN[::-1]]
    assert np.array_equal(back.predict_proba(shuffled), rec.predict_proba(X_new))
    record = rec.report_["sources"][0]
    assert record["entry_id"] == churn_zoo.get("hgb.mlc_churn").id
    assert record["column_map"]["taken_from"].count(None) == 15


def test_name_matching_ignores_case_and_punctuation() -> None:
    X = np.array([[1.0, 2.0], [3.0, 4.0]])
    cmap = match_columns(["Total Day-Minutes", "x"], X, ["total_day_minutes", "y"])
    assert cmap.taken_from == ["Total Day-Minutes", None]
    assert cmap.fill == [0.0, 0.0]  # no spec: nothing to impute from but zeros


class _Spec:
    """A provider's reduced set: a 0/1 flag at rate 0.5, a real column at mean 0.5, and two
    real columns at means 10 and 20."""

    Z = np.array([[0.0, 0.4, 9.0, 19.0], [1.0, 0.6, 11.0, 21.0]])
    beta = np.array([0.5, 0.5])


def test_distribution_match_respects_column_types() -> None:
    rng = np.random.default_rng(0)
    flag = rng.integers(0, 2, 400).astype(float)
    real = rng.normal(0.5, 0.1, 400)
    ten, twenty = rng.normal(10.0, 1.0, 400), rng.normal(20.0, 1.0, 400)
    X = np.c_[real, flag, ten, twenty]
    types = ["binary", "continuous", "continuous", "continuous"]
    source = ["a", "b", "c", "d"]
    cmap = match_columns(["r", "f", "c", "d"], X, source, spec=_Spec(), source_types=types)
    assert cmap.taken_from == ["f", "r", "c", "d"]
    assert cmap.how == ["distribution", "distribution", "name", "name"]
    # a real column never feeds a flag, whatever its mean
    cmap = match_columns(["r", "c", "d"], X[:, [0, 2, 3]], source, spec=_Spec(),
                         source_types=types)  # fmt: skip
    assert cmap.taken_from == [None, "r", "c", "d"] and cmap.fill[0] == 0.5
    # one shared name is too little evidence for matching the rest by their means
    one = match_columns(["r", "f", "c"], X[:, :3], source, spec=_Spec(), source_types=types)
    assert one.taken_from == [None, None, "c", None]


def test_flags_alone_are_not_matched_by_their_rate() -> None:
    flag = np.random.default_rng(0).integers(0, 2, 400).astype(float)
    cmap = match_columns(["f"], flag[:, None], ["a", "b", "c", "d"], spec=_Spec(),
                         source_types=["binary"] + ["continuous"] * 3)  # fmt: skip
    assert cmap.taken_from == [None, None, None, None]


def test_card_column_types_must_match_the_columns() -> None:
    base = {"name": "a.b", "modality": "tabular", "task": "classification",
            "output": {"feature_dim": 2}}  # fmt: skip
    with pytest.raises(CardError, match=r"input\.column_types"):
        ModelCard(**base, input={"shape": [2], "dtype": "float32", "value_range": [0, 1],
                                 "columns": ["x", "y"], "column_types": ["binary"]})  # fmt: skip
    inp = {"shape": [2], "dtype": "float32", "value_range": [0, 1], "columns": ["x", "y"]}
    card = ModelCard(**base, input={**inp, "column_units": ["USD", ""]})
    assert ModelCard.from_json(card.to_json()) == card
    assert "column_types" not in card.to_dict()["input"]


def test_no_source_model_round_trips(tmp_path: Any) -> None:
    X, y, X_new, y_new, _ = _user("mlc_churn", SEVEN)
    rec = Recycler(None, strategy="no_source").fit(X, y)
    assert rec.strategy_.chosen_ == "blend" and rec.report_["no_source_model"] == "blend"
    rec.save(tmp_path / "m")
    back = Recycler.load(tmp_path / "m")
    assert np.array_equal(back.predict_proba(X_new), rec.predict_proba(X_new))
    assert rec.score(X_new, y_new) > 0.85


def test_exported_model_maps_the_users_columns(tmp_path: Any) -> None:
    import onnxruntime as ort

    zoo = Zoo.open(tmp_path / "zoo")
    build_tabular_zoo(zoo, tables=["mlc_churn"], kinds=["logreg"], cache_dir=tmp_path / "c")
    X, y, X_new, _, _ = _user("mlc_churn", SEVEN)
    rec = Recycler(zoo, strategy="stacking").fit(X, y)
    assert rec.strategy_.sources[0].column_map.n_matched == 7
    rec.export(tmp_path / "m.onnx")
    session = ort.InferenceSession(str(tmp_path / "m.onnx"))
    p = session.run(None, {"input": X_new.to_numpy(np.float32)})[0]
    assert np.abs(p - rec.predict_proba(X_new)).max() < 1e-4


def test_fixed_strategy_without_usable_source_names_why(churn_zoo: Zoo) -> None:
    X, y, _, _, _ = _user("wa_churn", None)
    with pytest.raises(IncompatibleError, match=r"hgb\.mlc_churn@1\.0\.0: only 0 of its 22"):
        Recycler(churn_zoo, strategy="stacking").fit(X, y)


def test_bench_sizes_leave_enough_test_rows_to_see_two_points() -> None:
    """At 250 labelled rows creditcard's user split (264 rows) left 14 test rows: one row was
    7.1 points, so a '> 2 points below' count there measured single rows (#23). A size now
    runs only where it leaves TEST_MIN (100) test rows; the other sizes are drawn as before."""
    from recycle.bench.tabular import TABULAR_SHOTS, TEST_MIN, _sample, _targets
    from recycle.bench.tabular import _user as bench_user

    X, cols, y = bench_user("creditcard", None, False, False)
    targets = _targets("rows", "creditcard", X, cols, y, TABULAR_SHOTS, 0, None)
    assert [t.shots for t in targets] == [25, 50, 100]
    assert min(len(t.y_test) for t in targets) >= TEST_MIN == 100
    train, test = _sample(y, 100, 0)  # unchanged draws: the stored rows of other sizes hold
    assert np.array_equal(targets[-1].y_train, y[train])
    assert np.array_equal(targets[-1].y_test, y[test])


def test_bench_sizes_that_leave_no_target_are_a_config_error(churn_zoo: Zoo) -> None:
    """--shots 5000 used to give an empty run and an empty report (exit 0): now it names the
    limit and the sizes that would run."""
    from recycle.bench.tabular import tabular_targets
    from recycle.errors import ConfigError

    with pytest.raises(ConfigError, match=r"must leave 100 test rows.*up to 1307"):
        tabular_targets(churn_zoo, True, 1, (5000,))
    assert {t.shots for t in tabular_targets(churn_zoo, True, 1, (250, 5000))} == {250}
