"""The black-box strategies: scikit-learn conformance, contract, persistence, real behaviour."""

from __future__ import annotations

import numpy as np
import pytest
from safetensors.numpy import load, save
from sklearn.utils.estimator_checks import parametrize_with_checks

from adapt_helpers import RandomProjection, digit_mlp, target
from recycle.adapt import STRATEGIES, get_strategy, strategy_names
from recycle.adapt.strategies import (
    MCW,
    Averaging,
    FeatureAugment,
    FeatureMixing,
    Independent,
    LinearProbe,
    Stacking,
)
from recycle.adapt.strategies.mcw import fit_maximal_correlation
from recycle.errors import ConfigError, DataError, NotFittedError

PURE_NUMPY = [LinearProbe, Stacking, Averaging, MCW, FeatureAugment]
FAST = {"max_epochs": 15, "patience": 5}
BLACK_BOX = ["feature_mixing", "mcw", "linear_probe", "stacking", "averaging",
             "feature_augment", "independent"]  # fmt: skip

EXPECTED_FAILURES: dict[str, dict[str, str]] = {}


def _expected(est):
    return EXPECTED_FAILURES.get(type(est).__name__, {})


@parametrize_with_checks(
    [cls(sources=[RandomProjection(0, 16)]) for cls in PURE_NUMPY],
    expected_failed_checks=_expected,
)
def test_sklearn_conformance(estimator, check):
    check(estimator)


def test_registry_lists_every_strategy() -> None:
    names = strategy_names()
    for name in BLACK_BOX:
        assert name in names and STRATEGIES[name].name == name
    # the white-box helper's 'independent' is ours 'independent_adapters'
    if "module_mixing" in names:
        assert "independent_adapters" in names
        assert STRATEGIES["independent"] is Independent
    with pytest.raises(ConfigError, match="Unknown strategy 'nope'"):
        get_strategy("nope")


@pytest.fixture(scope="module")
def digit_task() -> tuple:
    sources = [digit_mlp((0, 1, 2, 3, 4)), digit_mlp((5, 6, 7, 8, 9))]
    return sources, target(tuple(range(10)), shots=10, seed=0)


@pytest.mark.parametrize("name", BLACK_BOX)
def test_save_load_gives_identical_predictions(name: str, digit_task: tuple) -> None:
    sources, (Xtr, ytr, Xte, _) = digit_task
    cls = get_strategy(name)
    params = FAST if name in ("feature_mixing", "independent") else {}
    est = cls(sources=sources, seed=0, **params).fit(Xtr, ytr)
    assert est.trainable_params_ > 0
    config, tensors = est.to_state()
    tensors = load(save(tensors))  # through safetensors bytes, as on disk
    back = cls.from_state(config, tensors, sources)
    np.testing.assert_array_equal(back.predict_proba(Xte), est.predict_proba(Xte))
    np.testing.assert_array_equal(back.predict(Xte), est.predict(Xte))


def test_precomputed_features_equal_embedding(digit_task: tuple) -> None:
    sources, (Xtr, ytr, Xte, _) = digit_task
    feats = {s.source_id: s.embed(Xtr) for s in sources}
    a = LinearProbe(sources).fit(Xtr, ytr).predict_proba(Xte)
    b = LinearProbe(sources).fit(Xtr, ytr, features=feats).predict_proba(Xte)
    np.testing.assert_allclose(a, b, atol=1e-6)
    with pytest.raises(DataError, match="have shape"):
        LinearProbe(sources).fit(
            Xtr, ytr, features={sources[0].source_id: feats[sources[0].source_id][:3]}
        )


def test_mcw_beats_chance_on_digits(digit_task: tuple) -> None:
    sources, (Xtr, ytr, Xte, yte) = digit_task
    mcw = MCW(sources).fit(Xtr, ytr)
    acc = mcw.score(Xte, yte)
    assert acc > 0.6, acc  # 10 classes: chance is 0.1
    assert mcw.source_weights_.sum() == pytest.approx(1.0)
    assert (mcw.source_weights_ > 0).all()
    P = mcw.predict_proba(Xte)
    np.testing.assert_allclose(P.sum(axis=1), 1.0)


def test_maximal_correlation_is_higher_for_informative_features(rng: np.random.Generator) -> None:
    y = np.repeat(np.arange(3), 40)
    signal = rng.normal(size=(120, 6)) + 2.0 * np.eye(3)[y] @ rng.normal(size=(3, 6))
    noise = rng.normal(size=(120, 6))
    assert (
        fit_maximal_correlation(signal, y, 3)["sigma"].mean()
        > 2 * fit_maximal_correlation(noise, y, 3)["sigma"].mean()
    )


@pytest.mark.parametrize("reducer", ["ica", "pca"])
def test_feature_mixing_weights_are_convex(reducer: str, digit_task: tuple) -> None:
    sources, (Xtr, ytr, Xte, yte) = digit_task
    fm = FeatureMixing(sources, reducer=reducer, **FAST).fit(Xtr, ytr)
    w = fm.mixing_weights_
    assert w.shape == (3,)
    assert w.sum() == pytest.approx(1.0, abs=1e-6)
    assert (w > 0).all()
    assert fm.score(Xte, yte) > 0.5
    # only the small network, the mixing logits and the head train
    ind = Independent(**FAST).fit(Xtr, ytr)
    assert fm.trainable_params_ == ind.trainable_params_ + 3


def test_feature_mixing_is_seeded(digit_task: tuple) -> None:
    sources, (Xtr, ytr, Xte, _) = digit_task
    a = FeatureMixing(sources, seed=3, **FAST).fit(Xtr, ytr).predict_proba(Xte)
    b = FeatureMixing(sources, seed=3, **FAST).fit(Xtr, ytr).predict_proba(Xte)
    np.testing.assert_array_equal(a, b)


def test_independent_on_images_and_text() -> None:
    rng = np.random.default_rng(0)
    imgs = rng.integers(0, 255, size=(30, 16, 16), dtype=np.uint8)
    y = np.arange(30) % 3
    imgs[y == 1, :8] = 255  # a visible pattern per class
    imgs[y == 2, 8:] = 0
    ind = Independent(max_epochs=30).fit(imgs, y)
    assert ind.network_.own_input.kind == "lenet"
    assert ind.score(imgs, y) > 0.6
    texts = [f"{w} movie plot" for w in ["great", "awful", "fine"] * 10]
    ind = Independent(max_epochs=30).fit(texts, y)
    assert ind.network_.own_input.modality == "text"
    assert ind.score(texts, y) > 0.9


def test_bad_parameters_and_unfitted() -> None:
    X, y = np.random.default_rng(0).normal(size=(20, 4)), np.arange(20) % 2
    with pytest.raises(ConfigError, match="'reducer' parameter of FeatureMixing"):
        FeatureMixing([RandomProjection()], reducer="svd").fit(X, y)
    with pytest.raises(ConfigError, match="needs at least one source"):
        LinearProbe([]).fit(X, y)
    with pytest.raises(NotFittedError, match="not fitted"):
        MCW([RandomProjection()]).predict(X)
    with pytest.raises(DataError, match="1 class"):
        LinearProbe([RandomProjection()]).fit(X, np.zeros(20))
