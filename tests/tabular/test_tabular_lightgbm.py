"""LightGBM sources in the tabular zoo: stored as LightGBM's text model (never a pickle), checked
on load, predicting through the same interface as the scikit-learn sources (issue #23)."""

from __future__ import annotations

import importlib.util
from typing import Any

import numpy as np
import pandas as pd
import pytest

from recycle.adapt import Recycler
from recycle.errors import IncompatibleError, UnsafeContentError
from recycle.sources.lightgbm_source import MODEL_FILE, LightGBMSource, from_artifact
from recycle.sources.serialize import serialize
from recycle.tabular.zoo import KINDS, build_tabular_zoo, cached_source, provider_split, table
from recycle.zoo import Zoo
from recycle.zoo.checker import static_check


@pytest.fixture(scope="module")
def lgbm_zoo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Zoo, Any]:
    root = tmp_path_factory.mktemp("lgbmzoo")
    zoo = Zoo.open(root / "zoo")
    build = build_tabular_zoo(zoo, tables=["mlc_churn"], kinds=["lgbm"], cache_dir=root / "cache")
    assert build.registered == ["lgbm.mlc_churn"]
    return zoo, root


def test_lgbm_is_a_kind_of_the_default_tabular_zoo() -> None:
    assert "lgbm" in KINDS


def test_stored_as_text_and_loaded_back_with_the_same_predictions(lgbm_zoo: Any) -> None:
    zoo, root = lgbm_zoo
    src = zoo.load("lgbm.mlc_churn")
    assert isinstance(src, LightGBMSource)
    config, files = serialize(src)
    assert config["format"] == "lightgbm" and list(files) == [MODEL_FILE]
    assert files[MODEL_FILE].startswith(b"tree\n")  # LightGBM's own text, not a pickle
    static_check(config, files)
    ds = provider_split(table("mlc_churn"))
    p = src.predict_proba(ds.X_test[:100])
    assert p.shape == (100, 2) and np.allclose(p.sum(axis=1), 1.0, atol=1e-5)
    assert float(np.mean(p.argmax(1) == ds.y_test[:100])) > 0.85  # a real churn model
    again, _, _ = cached_source(table("mlc_churn"), "lgbm", root / "cache")  # from the cache
    np.testing.assert_allclose(again.predict_proba(ds.X_test[:100]), p, atol=1e-6)


def test_a_model_file_that_does_not_fit_its_entry_is_refused(lgbm_zoo: Any) -> None:
    config, files = serialize(lgbm_zoo[0].load("lgbm.mlc_churn"))
    with pytest.raises(UnsafeContentError, match="entry says 3 and 22"):
        from_artifact({**config, "source_classes": ["a", "b", "c"]}, files, {})
    with pytest.raises(UnsafeContentError, match="not a LightGBM text model"):
        from_artifact(config, {MODEL_FILE: b"hello=1\n"}, {})
    with pytest.raises(UnsafeContentError, match="not UTF-8"):
        from_artifact(config, {MODEL_FILE: b"\x80\x04\x95K\x01."}, {})


def test_recycled_through_the_same_interface(lgbm_zoo: Any) -> None:
    zoo, _ = lgbm_zoo
    ds = provider_split(table("mlc_churn"))
    cols = ["total_day_minutes", "total_day_charge", "number_customer_service_calls",
            "international_plan=yes", "voice_mail_plan=yes", "total_eve_minutes",
            "total_intl_calls"]  # fmt: skip
    frame = pd.DataFrame(ds.X_test[:, [ds.feature_names.index(c) for c in cols]], columns=cols)
    rec = Recycler(zoo, strategy="stacking").fit(frame.iloc[:150], ds.y_test[:150])
    assert [s["name"] for s in rec.report_["sources"]] == ["lgbm.mlc_churn"]
    assert rec.score(frame.iloc[150:], ds.y_test[150:]) > 0.85


@pytest.mark.skipif(importlib.util.find_spec("onnxmltools") is not None, reason="installed")
def test_export_without_onnxmltools_names_the_fix(lgbm_zoo: Any, tmp_path: Any) -> None:
    zoo, _ = lgbm_zoo
    ds = provider_split(table("mlc_churn"))
    frame = pd.DataFrame(ds.X_test, columns=ds.feature_names)
    rec = Recycler(zoo, strategy="stacking").fit(frame.iloc[:150], ds.y_test[:150])
    with pytest.raises(IncompatibleError, match=r"pip install onnxmltools") as err:
        rec.export(tmp_path / "m.onnx")
    assert "\n" not in str(err.value)
