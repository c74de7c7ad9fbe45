"""The no-source text strategies (TF-IDF, frozen MiniLM, SetFit) and auto on text.

Real data: Debian fortunes (food vs sports) and Rotten Tomatoes; the real
all-MiniLM-L6-v2 from its offline package.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from safetensors.numpy import load_file
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression

from recycle.adapt import Recycler
from recycle.adapt.auto import TEXT_REFERENCES
from recycle.adapt.strategies import LinearProbe, MiniLMLogReg, TfidfLogReg
from recycle.bench.text_fewshot import FORTUNE_PAIR, FORTUNE_TARGET, fewshot_targets
from recycle.cli import main
from recycle.sources import builtin


@pytest.fixture(scope="module")
def fortunes():
    """Fortunes food vs sports at 8 quotes per class (seed 0) and 100 test quotes."""
    (t,) = fewshot_targets((8,), 1, test_per_class=50, only=(FORTUNE_TARGET,))
    return t


def _reviews() -> tuple[list[str], np.ndarray]:
    from recycle import datasets

    data = datasets.load("rotten-tomatoes")
    y = np.asarray(data.y_train)
    idx = np.concatenate([np.flatnonzero(y == c)[:150] for c in (0, 1)])
    return [str(data.X_train[i]) for i in idx], y[idx]


def test_tfidf_logreg_is_sklearns_tfidf_and_logistic_regression() -> None:
    X, y = _reviews()
    est = TfidfLogReg().fit(X[::2], y[::2])
    vec = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True)
    ref = LogisticRegression(C=1.0, max_iter=500).fit(vec.fit_transform(X[::2]), y[::2])
    expected = ref.predict_proba(vec.transform(X[1::2]))
    np.testing.assert_allclose(est.predict_proba(X[1::2]), expected, atol=1e-6)


def test_minilm_logreg_is_a_linear_probe_on_the_real_minilm(fortunes) -> None:
    est = MiniLMLogReg().fit(fortunes.X_train, fortunes.y_train)
    probe = LinearProbe([builtin("minilm_l6.torch")]).fit(fortunes.X_train, fortunes.y_train)
    texts = fortunes.X_test[:30]
    np.testing.assert_allclose(est.predict_proba(texts), probe.predict_proba(texts), atol=1e-9)
    assert est.trainable_params_ == 2 * 384 + 2


@pytest.mark.parametrize("name", ["tfidf_logreg", "minilm_logreg"])
def test_no_source_text_model_saves_without_pickles_and_needs_no_zoo(
    name: str, fortunes, tmp_path: Path
) -> None:
    rec = Recycler(None, strategy=name).fit(fortunes.X_train, fortunes.y_train)
    folder = rec.save(tmp_path / "model")
    assert sorted(p.name for p in folder.iterdir()) == ["model.safetensors", "recycler.json"]
    load_file(str(folder / "model.safetensors"))  # plain tensors
    back = Recycler.load(folder)
    np.testing.assert_array_equal(
        back.predict_proba(fortunes.X_test), rec.predict_proba(fortunes.X_test)
    )
    assert rec.report_["sources"] == [] and rec.report_["strategy"] == name


def test_setfit_tunes_the_encoder_within_its_time_bound_and_round_trips(
    fortunes, tmp_path: Path
) -> None:
    # a bound shorter than one step: SetFit stops after its first step and says so
    params = {"setfit": {"max_seconds": 0.0}}
    rec = Recycler(None, strategy="setfit", strategy_params=params)
    rec.fit(fortunes.X_train, fortunes.y_train)
    est = rec.strategy_
    assert est.steps_ == 1 and est.stopped_early_  # of 40 (8 x 2 texts, 20 pairs each side)
    texts = fortunes.X_test[:20]
    frozen = builtin("minilm_l6.torch").embed(texts)
    assert not np.allclose(frozen, est.body_.encode(texts), atol=1e-4)  # the encoder trained
    assert est.trainable_params_ > 22_000_000
    back = Recycler.load(rec.save(tmp_path / "setfit"))
    np.testing.assert_allclose(back.predict_proba(texts), rec.predict_proba(texts), atol=1e-6)


def test_cli_fits_predicts_and_evaluates_a_text_csv_with_tfidf_without_a_zoo(
    fortunes, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    monkeypatch.chdir(tmp_path)
    names = np.array(FORTUNE_PAIR)
    pd.DataFrame({"text": fortunes.X_train, "label": names[fortunes.y_train]}).to_csv(
        "train.csv", index=False
    )
    pd.DataFrame({"text": fortunes.X_test}).to_csv("new.csv", index=False)
    test = pd.DataFrame({"text": fortunes.X_test, "label": names[fortunes.y_test]})
    test.to_csv("test.csv", index=False)
    assert main(["fit", "train.csv", "--out", "model", "--strategy", "tfidf_logreg"]) == 0
    assert main(["predict", "model", "new.csv", "--out", "preds.csv"]) == 0
    preds = pd.read_csv("preds.csv")
    rec = Recycler.load("model")
    assert preds["prediction"].tolist() == rec.predict(fortunes.X_test).tolist()
    capsys.readouterr()
    assert main(["evaluate", "model", "test.csv", "--json"]) == 0
    evaluation = json.loads(capsys.readouterr().out)
    expected = float(np.mean(rec.predict(fortunes.X_test) == names[fortunes.y_test]))
    assert evaluation["n"] == 100 and evaluation["accuracy"] == pytest.approx(expected)
    assert not Path("zoo").exists()


def test_auto_on_text_is_guarded_by_the_stronger_no_source_baseline(fortunes) -> None:
    """Reproduces #22: at 8 quotes per class, auto (guarded by the small network only) chose a
    recycled model well below a logistic regression on frozen MiniLM; now frozen MiniLM and
    TF-IDF are its references, and it may not fall > 2 points below them without saying so."""
    pool = [builtin("minilm_l6.onnx"), builtin("paraphrase_minilm_l3.onnx")]
    rec = Recycler(pool, strategy="auto", seed=0, time_budget=40.0)
    rec.fit(fortunes.X_train, fortunes.y_train)
    guard = rec.report_["guard"]
    assert guard["reference"] in TEXT_REFERENCES
    assert set(TEXT_REFERENCES) <= set(rec.report_["cv"]) and "independent" not in rec.report_["cv"]
    assert "time budget" in rec.report_["cv"]["setfit"]["skipped"]
    accuracy = rec.score(fortunes.X_test, fortunes.y_test)
    for name in TEXT_REFERENCES:
        base = Recycler(None, strategy=name).fit(fortunes.X_train, fortunes.y_train)
        said = (
            name == guard["use"]
            or name in guard.get("close_to", {})
            or (name == guard["reference"] and guard.get("flagged"))
        )
        assert accuracy >= base.score(fortunes.X_test, fortunes.y_test) - 0.02 or said


def test_auto_cross_validation_embeds_each_text_once(fortunes, monkeypatch) -> None:
    """Reproduces #22: auto's frozen-MiniLM reference re-embedded the texts of every fold (the
    feature cache keys a whole input, and each fold is a new one): 16 texts were embedded ~6
    times over. Now each distinct text is embedded once per cross-validation."""
    from recycle.adapt import auto
    from recycle.adapt.strategies import minilm_probe

    embedded: list[int] = []
    real_embed = minilm_probe.embed

    def counting(source, X):
        embedded.append(len(X))
        return real_embed(source, X)

    monkeypatch.setattr(minilm_probe, "embed", counting)
    X, y = fortunes.X_train, fortunes.y_train
    choice = auto.choose([], X, y, [], {}, m_selected=0, references=TEXT_REFERENCES)
    scored = {r.key: r.scores for r in choice.cv}
    assert len(scored["minilm_logreg"]) == 6  # 3 folds x 2 repeats all ran
    assert sum(embedded) == len(set(X))
    direct = MiniLMLogReg().fit(X[:10], y[:10]).predict_proba(X[10:])
    with minilm_probe.embeddings_reused():
        MiniLMLogReg().fit(X[10:], y[10:])  # the memo holds other texts first
        again = MiniLMLogReg().fit(X[:10], y[:10]).predict_proba(X[10:])
    np.testing.assert_allclose(again, direct, atol=1e-6)
