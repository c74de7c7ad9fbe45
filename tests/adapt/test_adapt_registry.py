"""The strategy registry: typed parameters that reach the strategies, and loud errors."""

from __future__ import annotations

import warnings
from typing import Any, ClassVar

import numpy as np
import pytest

from adapt_helpers import RandomProjection, target
from recycle.adapt import Recycler, get_strategy, strategy_names
from recycle.adapt.base import Strategy
from recycle.adapt.family import FamilyBase, FamilyConfig, FamilySource
from recycle.adapt.registry import build, check_params, register_strategy, strategy_params
from recycle.errors import ConfigError


@pytest.fixture(scope="module")
def family_task() -> dict[str, Any]:
    """One tiny family source (fresh adapters on a small base) and 20 images of 2 classes."""
    base = FamilyBase(FamilyConfig(channels=(4, 8)))
    src = FamilySource.fresh(base, ["a", "b"], name="t.src")
    X = np.random.default_rng(0).integers(0, 255, (20, 28, 28), dtype=np.uint8)
    return {"sources": [src], "X": X, "y": np.arange(20) % 2}


@pytest.mark.parametrize("name", ["module_mixing", "independent_adapters", "finetune_source"])
def test_documented_star_max_epochs_reaches_the_whitebox_strategies(
    family_task: dict[str, Any], name: str
) -> None:
    rec = Recycler(
        family_task["sources"], m=1, strategy=name, strategy_params={"*": {"max_epochs": 2}}
    ).fit(family_task["X"], family_task["y"])
    assert rec.report_["strategy"] == name
    assert rec.strategy_.get_params()["max_epochs"] == 2


def test_every_training_strategy_takes_max_epochs_under_one_name() -> None:
    takers = [n for n in strategy_names() if "max_epochs" in strategy_params(n)]
    assert takers == [
        "feature_mixing", "finetune", "independent", "setfit", "finetune_source",
        "independent_adapters", "module_mixing",
    ]  # fmt: skip
    for name in takers:
        assert build(name, [], 0, {"*": {"max_epochs": 7}}).get_params()["max_epochs"] == 7
    # a strategy's own value wins over "*"
    own = {"*": {"max_epochs": 7}, "independent": {"max_epochs": 3}}
    assert build("independent", [], 0, own).get_params()["max_epochs"] == 3
    assert build("mcw", [], 0, {"*": {"max_epochs": 7}}).get_params() == {
        "seed": 0,
        "sources": [],
    }


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"module_mixing": {"epochs": 2}}, "Unknown parameter 'epochs' for strategy "
         "'module_mixing'; valid: batch_size, head_init, lambda_new, lr, max_epochs, "
         "new_adapter, patience, sigma, val_fraction."),
        ({"*": {"max_epoch": 2}}, "No strategy takes the parameter 'max_epoch' given under '*'"),
        ({"feature_mixing": {"max_epochs": "20"}}, "The 'max_epochs' parameter of strategy "
         "'feature_mixing' must be int. Got '20' instead."),
        ({"feature_mixing": {"max_epochs": 2.5}}, "The 'max_epochs' parameter"),
        ({"feature_mixing": {"reducer": "svd"}}, "The 'reducer' parameter of strategy "
         "'feature_mixing' must be 'ica' or 'pca'. Got 'svd' instead."),
        ({"module_mixing": {"lambda_new": "best"}}, "The 'lambda_new' parameter of strategy "
         "'module_mixing' must be float, 'auto' or 'grid'. Got 'best' instead."),
        ({"*": {"patience": True}}, "The 'patience' parameter"),
        ({"mcw": {"C": 1.0}}, "Unknown parameter 'C' for strategy 'mcw'; valid: none."),
        ({"mixing": {}}, "Unknown strategy 'mixing'; valid strategies are averaging"),
        ({"mcw": 3}, "strategy_params['mcw'] must be a dict"),
    ],
)  # fmt: skip
def test_unknown_or_mistyped_parameters_are_config_errors(params: Any, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        check_params(params)
    assert str(info.value).startswith(message)
    # the Recycler refuses them before any selection or training
    Xtr, ytr, _, _ = target((0, 1), shots=6)
    with pytest.raises(ConfigError):
        Recycler([RandomProjection()], m=1, strategy="mcw", strategy_params=params).fit(Xtr, ytr)


def test_valid_parameters_of_each_type_pass() -> None:
    check_params(
        {
            "*": {"max_epochs": np.int64(5), "lr": 1, "patience": 2},
            "feature_mixing": {"reducer": "pca", "lambda_new": None},
            "module_mixing": {"lambda_new": 0.3, "head_init": "random", "sigma": 0.05},
        }
    )
    assert strategy_params("module_mixing")["lambda_new"].describe() == "float, 'auto' or 'grid'"


def test_register_refuses_duplicates_and_untyped_parameters() -> None:
    class Dup(Strategy):
        name: ClassVar[str] = "mcw"

        def __init__(self, sources: Any = None, seed: int = 0) -> None:
            self.sources, self.seed = sources, seed

    with pytest.raises(ConfigError, match="registered twice"):
        register_strategy(Dup)

    class Untyped(Strategy):
        name: ClassVar[str] = "untyped_test_strategy"

        def __init__(self, sources: Any = None, seed: int = 0, k=3) -> None:  # type: ignore[no-untyped-def]
            self.sources, self.seed, self.k = sources, seed, k

    with pytest.raises(ConfigError, match="'k' needs a type hint"):
        register_strategy(Untyped)
    assert "untyped_test_strategy" not in strategy_names()
    assert get_strategy("mcw").__name__ == "MCW"


def test_models_saved_with_old_parameter_names_still_load(family_task: dict[str, Any]) -> None:
    X, y, sources = family_task["X"], family_task["y"], family_task["sources"]
    mm = get_strategy("module_mixing")(sources, lambda_new=0.5, max_epochs=1).fit(X, y)
    config, tensors = mm.to_state()
    config["params"]["epochs"] = config["params"].pop("max_epochs")  # as saved before
    again = get_strategy("module_mixing").from_state(config, tensors, sources)
    assert again.max_epochs == 1
    np.testing.assert_allclose(again.predict_proba(X), mm.predict_proba(X), atol=1e-6)
    Xtr, ytr, Xte, _ = target((0, 1, 2), shots=8)
    mcw = get_strategy("mcw")([RandomProjection()]).fit(Xtr, ytr)
    config, tensors = mcw.to_state()
    config["params"]["C"] = 1.0  # MCW took an unused C before
    again = get_strategy("mcw").from_state(config, tensors, [RandomProjection()])
    np.testing.assert_array_equal(again.predict_proba(Xte), mcw.predict_proba(Xte))


class WarningSource(RandomProjection):
    """Random projection that warns on every embed, like a source with a deprecated option."""

    def embed(self, X: Any) -> np.ndarray:
        warnings.warn("this source is old", DeprecationWarning, stacklevel=2)
        return super().embed(X)


def test_fit_passes_warnings_on_with_their_own_category() -> None:
    Xtr, ytr, _, _ = target((0, 1), shots=8)
    rec = Recycler([WarningSource()], m=1, strategy="linear_probe")
    with pytest.warns(DeprecationWarning, match="this source is old") as caught:
        rec.fit(Xtr, ytr)
    assert not [w for w in caught if w.category is UserWarning]
    assert rec.report_["warnings"].count("this source is old") == 1
