"""ONNX export of HistGradientBoosting sources and of the no-source models (issue #23).

On the code before this change every one of these failed: skl2onnx 1.20.0 writes Python bools
into an ints attribute of the tree ensemble, which onnx 1.23 refuses, and the no-source
strategies had no graph form.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import onnxruntime as ort
import pandas as pd
import pytest

from recycle.adapt import Recycler
from recycle.deploy.sklearn_parts import _as_ints, bools_as_ints
from recycle.tabular.zoo import provider_split, table
from recycle.zoo import Zoo
from tabular_helpers import built_zoo

#: Agreement required between the ONNX file and the Recycler's own probabilities.
TOLERANCE = 1e-4


def _rows(name: str, n: int = 120, seed: int = 0) -> tuple[pd.DataFrame, Any, pd.DataFrame]:
    """``n`` labelled rows of table ``name``'s user split and the rest (unlabelled)."""
    ds = provider_split(table(name))
    frame = pd.DataFrame(ds.X_test, columns=ds.feature_names)
    order = np.random.default_rng(seed).permutation(len(frame))
    return frame.iloc[order[:n]], ds.y_test[order[:n]], frame.iloc[order[n:]]


def _exported(rec: Recycler, path: Any, X_new: pd.DataFrame) -> float:
    """Largest difference between the exported file's probabilities and ``rec``'s."""
    rec.export(path)
    session = ort.InferenceSession(str(path))
    p = session.run(["probabilities"], {"input": X_new.to_numpy(np.float32)})[0]
    return float(np.abs(p - rec.predict_proba(X_new)).max())


@pytest.fixture(scope="module")
def hgb_zoo(tmp_path_factory: pytest.TempPathFactory) -> Zoo:
    return built_zoo(tmp_path_factory, "hgbzoo", ["mlc_churn"], ["hgb"])


@pytest.mark.parametrize("strategy", ["stacking", "mcw", "feature_augment"])
def test_recycled_model_on_a_histgb_source_exports(
    hgb_zoo: Zoo, strategy: str, tmp_path: Any
) -> None:
    X, y, X_new = _rows("mlc_churn")
    rec = Recycler(hgb_zoo, strategy=strategy).fit(X, y)
    assert [s["name"] for s in rec.report_["sources"]] == ["hgb.mlc_churn"]
    assert _exported(rec, tmp_path / "m.onnx", X_new) < TOLERANCE


def test_feature_augment_on_a_superset_table_exports(hgb_zoo: Zoo, tmp_path: Any) -> None:
    """The user's extra columns feed feature_augment's own input, the source reads its own."""
    X, y, X_new = _rows("mlc_churn")
    extra = {"survey_score": np.random.default_rng(1).normal(size=len(X) + len(X_new))}
    X = X.assign(survey_score=extra["survey_score"][: len(X)])
    X_new = X_new.assign(survey_score=extra["survey_score"][len(X) :])
    rec = Recycler(hgb_zoo, strategy="feature_augment").fit(X, y)
    assert rec.strategy_.own_input_.d_in == X.shape[1]
    assert _exported(rec, tmp_path / "m.onnx", X_new) < TOLERANCE


@pytest.mark.parametrize("strategy", ["gradient_boosting", "logistic_regression", "no_source"])
def test_no_source_models_export(strategy: str, tmp_path: Any) -> None:
    X, y, X_new = _rows("credit_data")
    rec = Recycler(None, strategy=strategy).fit(X, y)
    assert _exported(rec, tmp_path / "m.onnx", X_new) < TOLERANCE


def test_only_bool_lists_are_converted_and_the_patch_is_undone() -> None:
    from skl2onnx.common._container import ModelComponentContainer

    before = ModelComponentContainer.add_node
    with bools_as_ints():
        assert ModelComponentContainer.add_node is not before
    assert ModelComponentContainer.add_node is before
    assert _as_ints([True, False, 2]) == [1, 0, 2]
    assert _as_ints(np.array([0.5, 1.5])).tolist() == [0.5, 1.5]  # floats untouched


def test_two_threads_converting_at_once_leave_skl2onnx_unpatched() -> None:
    """The second thread used to save the first's patch as the "original" and restore it,
    leaving skl2onnx patched for good; the lock makes it wait for the first instead."""
    import threading

    from skl2onnx.common._container import ModelComponentContainer

    before = ModelComponentContainer.add_node
    first_in, release, second_in = threading.Event(), threading.Event(), threading.Event()
    first_out = threading.Event()

    def first() -> None:
        with bools_as_ints():
            first_in.set()
            release.wait()
        first_out.set()

    def second() -> None:  # enters while the first converts and leaves after it
        first_in.wait()
        with bools_as_ints():
            second_in.set()
            first_out.wait()

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for t in threads:
        t.start()
    first_in.wait()
    second_in.wait(0.5)  # the old code let the second thread in at once; now it waits
    release.set()
    for t in threads:
        t.join()
    assert second_in.is_set()
    assert ModelComponentContainer.add_node is before


def test_feature_augment_head_holds_each_array_once(hgb_zoo: Zoo) -> None:
    """The head reads the per-source heads' arrays from its own copy; it used to build a
    LinearHead("averaging") beside it for them, which stored every array a second time."""
    from recycle.deploy.torch_parts import head_module

    X, y, _ = _rows("mlc_churn")
    strategy = Recycler(hgb_zoo, strategy="feature_augment").fit(X, y).strategy_
    head = head_module(strategy)
    own = len(list(head.own.buffers()))  # the own input's mean and std
    assert len(list(head.buffers())) == len(strategy.arrays_) + own
