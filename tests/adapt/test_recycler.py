"""The Recycler: selection + strategy, auto with the negative-transfer guard, persistence."""

from __future__ import annotations

import json

import numpy as np
import pytest
from sklearn.base import clone

from adapt_helpers import NoiseSource, RandomProjection, digit_mlp, ece_by_hand, target
from recycle.adapt import Recycler
from recycle.adapt.auto import FLAG_SE_FACTOR, GUARD_SE_FACTOR, guard_decision
from recycle.errors import ConfigError, IncompatibleError, NotFittedError
from recycle.evaluate import evaluation_report
from recycle.zoo import ModelCard, Zoo

FAST = {"*": {"max_epochs": 20, "patience": 5}}


def _card(src, name: str) -> ModelCard:
    return ModelCard(
        name=name, modality="tabular", task="classification",
        input={"shape": [64], "dtype": "float32", "value_range": [0.0, 1.0]},
        output={"feature_dim": src.feature_dim, "source_classes": src.source_classes},
        access=src.access, license="MIT", provider="tests",
    )  # fmt: skip


@pytest.fixture(scope="module")
def digit_zoo(tmp_path_factory: pytest.TempPathFactory) -> str:
    location = str(tmp_path_factory.mktemp("zoo") / "zoo")
    zoo = Zoo.open(location)
    for classes, name in [
        ((0, 1, 2, 3, 4), "mlp.digits-low"),
        ((5, 6, 7, 8, 9), "mlp.digits-high"),
    ]:
        src = digit_mlp(classes)
        zoo.register(src, _card(src, name), validate=False)
    zoo.close()
    return location


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"m": 0}, "The 'm' parameter of Recycler must be an int >= 1 or 'auto'. Got 0 instead."),
        ({"strategy": "magic"}, "The 'strategy' parameter of Recycler must be 'auto' or a"),
        ({"cv": 1}, "The 'cv' parameter of Recycler must be an int >= 2. Got 1 instead."),
        (
            {"time_budget": 0},
            "The 'time_budget' parameter of Recycler must be a float > 0 or None.",
        ),
    ],
)
def test_parameter_validation(params: dict, message: str) -> None:
    X, y = np.zeros((6, 3)), np.array([0, 1] * 3)
    with pytest.raises(ConfigError) as info:
        Recycler([RandomProjection()], **params).fit(X, y)
    assert str(info.value).startswith(message)


def test_selection_score_replaces_score_which_is_sklearns_method() -> None:
    Xtr, ytr, Xte, yte = target((0, 1), shots=10)
    rec = Recycler([RandomProjection(0, 16)], m=1, strategy="linear_probe", selection_score="logme")
    assert rec.get_params()["selection_score"] == "logme" and "score" not in rec.get_params()
    rec.fit(Xtr, ytr)
    assert rec.report_["score"] == "logme" and rec.selection_.score == "logme"
    assert rec.score(Xte, yte) == np.mean(rec.predict(Xte) == yte)  # plain sklearn accuracy
    with pytest.warns(FutureWarning, match="selection_score"):
        old = Recycler([RandomProjection(0, 16)], m=1, score="logme")
    assert old.selection_score == "logme"
    assert clone(old).get_params(deep=False)["selection_score"] == "logme"
    with pytest.raises(TypeError, match="scoer"):
        Recycler(scoer="knn")
    with pytest.raises(NotFittedError):
        Recycler([RandomProjection()]).predict(Xte)


def test_guard_uses_independent_when_sources_are_noise() -> None:
    Xtr, ytr, Xte, yte = target((0, 3, 5, 8, 9), shots=10, seed=1)
    rec = Recycler(
        [NoiseSource(0), NoiseSource(1)], m=2, strategies=["mcw", "linear_probe", "stacking"],
        strategy_params=FAST, seed=0,
    ).fit(Xtr, ytr)  # fmt: skip
    rep = rec.report_
    assert rep["strategy"] == "independent" and rep["m"] == 0
    assert rep["guard"]["use"] == "independent"
    assert rep["cv"]["independent"]["mean"] > rep["cv"]["mcw@m=2"]["mean"]
    json.dumps(rep)  # JSON-able
    assert rec.score(Xte, yte) > 0.6


def test_guard_keeps_informative_sources() -> None:
    Xtr, ytr, Xte, yte = target(tuple(range(10)), shots=5, seed=2)
    sources = [digit_mlp((0, 1, 2, 3, 4)), digit_mlp((5, 6, 7, 8, 9))]
    rec = Recycler(sources, m=2, strategies=["mcw", "linear_probe"], strategy_params=FAST).fit(
        Xtr, ytr
    )
    rep = rec.report_
    assert rep["strategy"] in ("mcw", "linear_probe"), rep["guard"]
    assert rep["guard"]["mean_difference"] > GUARD_SE_FACTOR * rep["guard"]["standard_error"]
    assert [s["source_id"] for s in rep["sources"]] and rep["trainable_params"] > 0
    assert rec.score(Xte, yte) > 0.7


def test_guard_decision_within_noise_triggers() -> None:
    out = guard_decision({"independent": [0.6, 0.7, 0.65, 0.62], "mcw": [0.64, 0.67, 0.66, 0.62]})
    assert out.use == "independent" and out.triggered is True
    assert "negative-transfer guard" in out.reason


def test_guard_breaks_accuracy_ties_on_log_loss() -> None:
    acc = [1.0, 0.875, 1.0, 0.875]  # coarse few-shot folds: identical accuracies
    ref_loss = [0.30, 0.45, 0.28, 0.50]
    clear = guard_decision(
        {"independent": acc, "averaging": acc, "mcw": acc},
        losses={"independent": ref_loss, "averaging": [0.2, 0.3, 0.2, 0.4],
                "mcw": [0.10, 0.20, 0.08, 0.25]},
    )  # fmt: skip
    assert clear.use == "mcw" and clear.best == "mcw"  # tie broken by the lower log-loss
    assert clear.flagged and clear.log_loss_difference < 0  # accuracy margin is 0 SE
    noisy = guard_decision(
        {"independent": acc, "mcw": acc},
        losses={"independent": ref_loss, "mcw": [0.10, 0.60, 0.15, 0.60]},
    )
    assert noisy.use == "independent" and noisy.triggered  # lower on average, not beyond SE
    worse = guard_decision(
        {"independent": acc, "mcw": [0.875, 0.875, 1.0, 0.875]},
        losses={"independent": ref_loss, "mcw": [0.01, 0.01, 0.01, 0.01]},
    )
    assert worse.use == "independent"  # a better log-loss never buys lower accuracy
    # without losses an exact tie still goes to the reference
    assert guard_decision({"independent": acc, "mcw": acc}).use == "independent"


def test_guard_ties_equal_accuracies_in_another_fold_order_and_breaks_them_on_log_loss() -> None:
    # the same fold accuracies, two folds swapped: float means differ in the last bit
    a = [7 / 8, 8 / 9, 1.0, 6 / 8, 7 / 9, 5 / 8]
    b = [7 / 8, 8 / 9, 1.0, 7 / 9, 6 / 8, 5 / 8]
    assert float(np.mean(a)) != float(np.mean(b))
    ref = [0.5] * 6
    for first, second in ((a, b), (b, a)):
        out = guard_decision(
            {"independent": ref, "mcw": first, "averaging": second},
            losses={"independent": [1.0] * 6, "mcw": [0.6] * 6, "averaging": [0.3] * 6},
        )
        assert out.best == "averaging"  # the tie goes to the lower log-loss either way


def test_guard_keeps_the_default_unless_a_challenger_beats_it_beyond_noise() -> None:
    ref = [0.50, 0.60, 0.55, 0.50]
    mcw = [0.80, 0.85, 0.83, 0.81]
    lucky = [0.90, 0.80, 0.83, 0.83]  # higher mean, but within noise of the default
    out = guard_decision({"independent": ref, "mcw@m=3": mcw, "stacking@m=5": lucky},
                         default="mcw@m=3")  # fmt: skip
    assert out.use == "mcw@m=3" and out.challenger == "stacking@m=5"
    clear = [0.95, 0.97, 0.96, 0.95]
    out = guard_decision({"independent": ref, "mcw@m=3": mcw, "stacking@m=5": clear},
                         default="mcw@m=3")  # fmt: skip
    assert out.use == "stacking@m=5" and out.default == "mcw@m=3"
    # a challenger that beats the default by the naive SE but not by Nadeau & Bengio's SE for
    # 3-fold CV (overlapping training sets) does not replace it
    thin = [0.85, 0.84, 0.87, 0.81]  # +0.02 over mcw: naive SE 0.0147, corrected 0.0255
    scores = {"independent": ref, "mcw@m=3": mcw, "stacking@m=5": thin}
    assert guard_decision(scores, default="mcw@m=3").use == "stacking@m=5"
    assert guard_decision(scores, default="mcw@m=3", folds=3).use == "mcw@m=3"
    # several default keys: the best-ranked one is the default the challenger must beat
    out = guard_decision({"independent": ref, "mcw@m=1": [0.7] * 4, "mcw@m=3": mcw,
                          "stacking@m=5": lucky}, default=["mcw@m=1", "mcw@m=3"])  # fmt: skip
    assert out.use == "mcw@m=3" and out.default == "mcw@m=3"
    # without a default the highest mean wins, as before
    assert guard_decision({"independent": ref, "mcw@m=3": mcw, "s": lucky}).use == "s"


def test_tied_default_keys_go_to_the_earlier_candidate_whatever_the_default_order() -> None:
    """Equal accuracy and log-loss: the candidate listed first in ``scores`` (auto's plan order)
    is the default, as for every other tie; the order of ``default`` itself does not count
    (before, a reused local name made it count, and a reversed list picked m=3 here)."""
    ref, mcw = [0.50, 0.60, 0.55, 0.50], [0.80, 0.85, 0.83, 0.81]
    scores = {"independent": ref, "mcw@m=1": mcw, "mcw@m=3": mcw}
    for default in (["mcw@m=1", "mcw@m=3"], ["mcw@m=3", "mcw@m=1"]):
        out = guard_decision(scores, default=default)
        assert (out.use, out.default, out.challenger) == ("mcw@m=1", None, None)


def test_guard_compares_with_the_best_of_several_no_source_baselines() -> None:
    weak = [0.35, 0.30, 0.40, 0.35]  # new adapters on a base that never saw the domain
    scratch = [0.85, 0.80, 0.85, 0.90]  # a small network trained from scratch
    mcw = [0.75, 0.80, 0.80, 0.80]  # far above the weak baseline, below scratch
    refs = ("independent_adapters", "independent")
    out = guard_decision({"independent_adapters": weak, "independent": scratch, "mcw": mcw}, refs)
    assert out.use == "independent" and out.reference == "independent"
    assert out.references == {"independent_adapters": 0.35, "independent": 0.85}
    assert "independent scored at least as well" in out.reason
    # against the weak baseline alone the same scores would have used MCW
    assert guard_decision({"independent_adapters": weak, "mcw": mcw}, refs).use == "mcw"
    # a recycled strategy that beats both baselines is used, compared with the stronger one
    clear = [0.95, 0.95, 0.90, 0.95]
    out = guard_decision({"independent_adapters": weak, "independent": scratch, "mcw": clear}, refs)
    assert out.use == "mcw" and out.reference == "independent"
    assert out.mean_difference == pytest.approx(0.0875)
    with pytest.raises(ConfigError, match="reference"):
        guard_decision({"mcw": mcw}, refs)


def test_fold_scores_floors_the_probability_of_a_confident_mistake() -> None:
    from recycle.adapt.auto import PROBA_FLOOR, fold_scores

    proba = np.array([[1.0, 0.0], [0.0, 1.0]])
    accuracy, loss = fold_scores(proba, np.array([3, 7]), np.array([3, 3]))
    assert accuracy == 0.5 and loss == pytest.approx(-np.log(PROBA_FLOOR) / 2)


def test_auto_report_carries_cv_log_loss() -> None:
    Xtr, ytr, _, _ = target((0, 1, 2), shots=8)
    rec = Recycler([RandomProjection(0, 32)], m=1, strategies=["mcw"], strategy_params=FAST)
    cv = rec.fit(Xtr, ytr).report_["cv"]
    assert cv and all(row["log_loss"] > 0 for row in cv.values() if row["mean"] is not None)
    for row in cv.values():
        assert len(row["per_fold_log_loss"]) == len(row["per_fold"])
        if row["per_fold"]:
            assert np.mean(row["per_fold_log_loss"]) == pytest.approx(row["log_loss"], abs=1e-3)


def test_bench_rows_keep_auto_folds_so_its_decision_can_be_replayed() -> None:
    from recycle.bench.runner import Method, Target, run_method

    Xtr, ytr, Xte, yte = target((0, 1, 2), shots=8)
    pool = [RandomProjection(0, 32), RandomProjection(1, 32)]
    method = Method("auto", {"strategy": "auto", "m": 2, "strategy_params": FAST})
    row = run_method(pool, Target("toy", 8, 0, Xtr, ytr, Xte, yte), method)
    folds = row.extra["cv_folds"]
    assert row.extra["reference"] == "independent" and "independent" in folds
    replay = guard_decision(
        {k: v[0] for k, v in folds.items()},
        row.extra["reference"],
        losses={k: v[1] for k, v in folds.items()},
        default=[k for k in folds if k.startswith("mcw@")],
        folds=3,
    )
    assert replay.use.split("@")[0] == row.extra["strategy"]


def test_zoo_fit_save_load_round_trip(digit_zoo: str, tmp_path) -> None:
    Xtr, ytr, Xte, _yte = target((1, 4, 6, 7, 9), shots=10)
    labels = np.array(list("abcde"))[np.searchsorted([1, 4, 6, 7, 9], ytr)]
    rec = Recycler(digit_zoo, m=2, strategy="stacking").fit(Xtr, labels)
    rep = rec.report_
    assert {s["name"] for s in rep["sources"]} == {"mlp.digits-low", "mlp.digits-high"}
    assert all(s["version"] == "1.0.0" and s["entry_id"] for s in rep["sources"])
    assert set(rec.predict(Xte)) <= set("abcde")
    out = rec.save(tmp_path / "model")
    assert sorted(p.name for p in out.iterdir()) == ["model.safetensors", "recycler.json"]
    back = Recycler.load(out, zoo=digit_zoo)  # sources: by entry id + hash in the given zoo
    np.testing.assert_array_equal(back.predict_proba(Xte), rec.predict_proba(Xte))
    np.testing.assert_array_equal(back.predict(Xte), rec.predict(Xte))


def test_m_larger_than_zoo_warns_and_uses_all(digit_zoo: str) -> None:
    Xtr, ytr, _, _ = target((0, 2), shots=8)
    with pytest.warns(UserWarning, match="using all"):
        rec = Recycler(digit_zoo, m=5, strategy="averaging").fit(Xtr, ytr)
    assert rec.report_["m"] == 2
    assert any("using all" in w for w in rec.report_["warnings"])


def test_whitebox_strategy_with_incompatible_sources(digit_zoo: str) -> None:
    Xtr, ytr, _, _ = target((0, 2), shots=8)
    with pytest.raises(IncompatibleError, match="family sources"):
        Recycler(digit_zoo, m=2, strategy="module_mixing").fit(Xtr, ytr)


def test_independent_needs_no_zoo_and_others_do() -> None:
    Xtr, ytr, Xte, yte = target((0, 1, 2), shots=10)
    rec = Recycler(None, strategy="independent", strategy_params=FAST).fit(Xtr, ytr)
    assert rec.report_["sources"] == [] and rec.score(Xte, yte) > 0.6
    with pytest.raises(ConfigError, match="needs a zoo"):
        Recycler(None).fit(Xtr, ytr)


def test_evaluation_with_classes_absent_from_test_set() -> None:
    Xtr, ytr, Xte, yte = target((0, 1, 2), shots=10)
    rec = Recycler([RandomProjection(0, 32)], m=1, strategy="linear_probe").fit(Xtr, ytr)
    keep = yte != 2
    with pytest.warns(UserWarning, match=r"Classes \['2'\] do not occur"):
        rep = evaluation_report(yte[keep], rec.predict_proba(Xte[keep]), rec.classes_.tolist())
    assert rep["absent_classes"] == ["2"] and set(rep["per_class"]) == {"0", "1"}
    P = rec.predict_proba(Xte[keep])
    assert rep["ece"] == pytest.approx(ece_by_hand(yte[keep], P), abs=1e-9) and rep["ece"] > 0
    assert rep["accuracy"] == pytest.approx(rec.score(Xte[keep], yte[keep]))


def test_register_records_lineage(digit_zoo: str) -> None:
    Xtr, ytr, Xte, _ = target((0, 2, 4), shots=8)
    rec = Recycler(digit_zoo, m=2, strategy="mcw").fit(Xtr, ytr)
    zoo = Zoo.open(digit_zoo)
    entry = rec.register(zoo, "recycled.digits024", license="MIT")
    assert entry.card.lineage.built_from == [s["source_id"] for s in rec.report_["sources"]]
    assert set(entry.card.lineage.parents) == {s["entry_id"] for s in rec.report_["sources"]}
    assert entry.card.output.source_classes == ["0", "2", "4"]
    from recycle.adapt.recycled_entry import load_recycled_source
    from recycle.zoo.registration import manifest_of

    # the stored files rebuild a working source from the loaded parents
    manifest = manifest_of(zoo, entry)
    assert set(manifest["files"]) == {"recycler.json", "model.safetensors"}
    files = {k: zoo.store.local_path(v["sha256"]) for k, v in manifest["files"].items()}
    parents = {pid: zoo.load(pid) for pid in entry.parents}
    src = load_recycled_source(manifest["config"], files, parents)
    np.testing.assert_allclose(src.embed(Xte), rec.predict_proba(Xte), rtol=1e-6)
    # and the zoo itself loads the recycled entry like any other source
    loaded = zoo.load(entry.id)
    np.testing.assert_allclose(loaded.embed(Xte), rec.predict_proba(Xte), rtol=1e-6)
    with pytest.raises(ConfigError, match="not a zoo entry"):
        Recycler([RandomProjection()], m=1, strategy="mcw").fit(Xtr, ytr).register(zoo, "x.y")
    zoo.close()


def test_auto_with_non_family_whitebox_sources_falls_back_with_a_note(digit_zoo: str) -> None:
    Xtr, ytr, _, _ = target((0, 2), shots=8)
    rec = Recycler(digit_zoo, m=2, strategies=["averaging"], strategy_params=FAST).fit(Xtr, ytr)
    assert rec.report_["strategy"] in ("averaging", "independent")
    assert any("skipped white-box" in w for w in rec.report_["warnings"])
    assert not any(k.startswith("module_mixing") for k in rec.report_["cv"])


def test_guard_flags_a_recycled_choice_with_a_thin_margin() -> None:
    ref = [0.60, 0.70, 0.65, 0.62]
    thin = guard_decision({"independent": ref, "mcw": [0.65, 0.70, 0.69, 0.61]})
    assert thin.use == "mcw" and thin.flagged and "flagged" in thin.reason
    se, d = thin.standard_error, thin.mean_difference
    assert GUARD_SE_FACTOR * se < d <= FLAG_SE_FACTOR * se
    clear = guard_decision({"independent": ref, "mcw": [0.80, 0.85, 0.83, 0.81]})
    assert clear.use == "mcw" and not clear.flagged
    # the guard's SE is the naive paired one, also when the folds are given
    same = guard_decision({"independent": ref, "mcw": [0.65, 0.70, 0.69, 0.61]}, folds=3)
    assert same.use == "mcw" and same.standard_error == se


def test_auto_stops_a_dear_candidate_when_the_budget_runs_out_mid_way() -> None:
    """The budget is checked after every fold, not only between candidates."""
    from recycle.adapt.auto.cv import cross_validate

    Xtr, ytr, _, _ = target((0, 1, 2), shots=12)
    params = {"independent": {"max_epochs": 5}}
    args = ([("independent", 0)], Xtr, ytr, [], {})
    late = cross_validate(*args, cv=3, repeats=2, budget_s=1e-3, params=params, references=())
    assert late[0].scores == [] and late[0].skipped is not None
    assert late[0].skipped.startswith("time budget: stopped after 1 of 6 folds")
    ref = cross_validate(*args, cv=3, repeats=2, budget_s=1e-3, params=params)  # a reference
    assert len(ref[0].scores) == 6 and ref[0].skipped is None
