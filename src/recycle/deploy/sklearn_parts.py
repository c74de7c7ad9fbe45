"""ONNX parts of scikit-learn estimators: sources, column-mapped tabular sources, no-source heads.

Each part is converted with ``skl2onnx``. skl2onnx 1.20.0 (the newest release) writes Python
bools into the integer-list attributes of tree ensembles (``HistGradientBoostingClassifier``'s
``nodes_missing_value_tracks_true``), which onnx 1.23's ``make_attribute`` refuses ("Expected an
int, got a boolean"); :func:`bools_as_ints` converts such attributes to ints while a part is
converted, and nothing else. The patch is process-wide (a class attribute), so conversions
take :data:`_PATCH_LOCK` for its duration: two threads exporting at once used to leave it
installed for good (the second saved the first's patch as the "original" and restored it).

Examples
--------
>>> import numpy as np, onnxruntime as ort
>>> from sklearn.datasets import load_breast_cancer
>>> from sklearn.ensemble import HistGradientBoostingClassifier
>>> from recycle.sources import SklearnSource
>>> X, y = load_breast_cancer(return_X_y=True)
>>> X = X.astype(np.float32)
>>> src = SklearnSource(HistGradientBoostingClassifier(random_state=0).fit(X, y), source_id="h")
>>> model, out = sklearn_part(src, X.shape[1])
>>> p = ort.InferenceSession(model.SerializeToString()).run([out], {"input": X[:50]})[0]
>>> float(np.abs(p - src.estimator.predict_proba(X[:50])).max()) < 1e-4
True
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from typing import Any

import numpy as np
import onnx
from onnx import TensorProto, helper

from recycle.deploy.torch_parts import source_module
from recycle.errors import IncompatibleError

#: The ONNX opset of every part (torch's exporter and skl2onnx both produce it).
OPSET = 18
#: Opset of the ``ai.onnx.ml`` domain that skl2onnx uses for some estimators.
ML_OPSET = 3
#: No-source strategies whose head is one scikit-learn estimator on the raw table (``model_``).
SKLEARN_HEADS = ("no_source", "gradient_boosting", "logistic_regression")
#: Held while skl2onnx's ``add_node`` is patched (:func:`bools_as_ints`); re-entrant.
_PATCH_LOCK = threading.RLock()


def _as_ints(value: Any) -> Any:
    """A list/tuple/array holding bools as a list of ints; anything else unchanged.

    >>> _as_ints([True, 0, np.uint32(3)]), _as_ints([0.5, 1.0]), _as_ints("x")
    ([1, 0, 3], [0.5, 1.0], 'x')
    """
    if isinstance(value, list | tuple | np.ndarray) and any(
        isinstance(v, bool | np.bool_) for v in value
    ):
        return [int(v) for v in value]
    return value


@contextlib.contextmanager
def bools_as_ints() -> Iterator[None]:
    """While converting, skl2onnx's nodes get bool-list attributes as int lists; one thread
    at a time (:data:`_PATCH_LOCK`), the original ``add_node`` restored on the way out."""
    from skl2onnx.common._container import ModelComponentContainer

    with _PATCH_LOCK:
        original = ModelComponentContainer.add_node

        def add_node(self: Any, *args: Any, **attrs: Any) -> Any:
            return original(self, *args, **{k: _as_ints(v) for k, v in attrs.items()})

        ModelComponentContainer.add_node = add_node  # type: ignore[method-assign]
        try:
            yield
        finally:
            ModelComponentContainer.add_node = original  # type: ignore[method-assign]


def convert(estimator: Any, n_features: int, proba: bool, what: str) -> onnx.ModelProto:
    """``estimator`` as an ONNX model reading ``input`` ``[N, n_features]`` (float32)."""
    from skl2onnx import convert_sklearn
    from skl2onnx.common.data_types import FloatTensorType

    try:
        with bools_as_ints():
            return convert_sklearn(
                estimator,
                initial_types=[("input", FloatTensorType([None, n_features]))],
                target_opset={"": OPSET, "ai.onnx.ml": ML_OPSET},
                options={id(estimator): {"zipmap": False}} if proba else None,
            )
    except Exception as exc:  # skl2onnx raises many kinds for unsupported estimators
        raise IncompatibleError(
            f"{what}: skl2onnx cannot convert {type(estimator).__name__} "
            f"({str(exc).splitlines()[0][:200]})"
        ) from exc


def lightgbm_part(source: Any, n_features: int) -> tuple[onnx.ModelProto, str]:
    """A LightGBM source's graph (``onnxmltools``) and the name of its probabilities output."""
    try:
        from onnxmltools import convert_lightgbm
        from onnxmltools.convert.common.data_types import FloatTensorType
    except ImportError as exc:
        raise IncompatibleError(
            f"source {source.source_id!r}: exporting a LightGBM source needs onnxmltools, "
            "which is not installed (pip install onnxmltools)"
        ) from exc
    try:  # not run by the tests: onnxmltools is not in the set-up
        model = convert_lightgbm(
            source.booster, initial_types=[("input", FloatTensorType([None, n_features]))],
            target_opset=OPSET, zipmap=False,
        )  # fmt: skip
    except Exception as exc:  # onnxmltools raises many kinds for unsupported models
        raise IncompatibleError(
            f"source {source.source_id!r}: onnxmltools cannot convert it "
            f"({str(exc).splitlines()[0][:200]})"
        ) from exc
    return model, model.graph.output[-1].name


def sklearn_part(source: Any, n_features: int) -> tuple[onnx.ModelProto, str]:
    """A scikit-learn (or LightGBM) source's graph and the name of its features output."""
    if hasattr(source, "booster"):  # recycle.sources.lightgbm_source.LightGBMSource
        return lightgbm_part(source, n_features)
    proba = source.method == "predict_proba"
    model = convert(source.estimator, n_features, proba, f"source {source.source_id!r}")
    outputs = [o.name for o in model.graph.output]
    return model, outputs[-1] if proba else outputs[0]


def mapped_part(source: Any, n_features: int) -> tuple[onnx.ModelProto, str]:
    """A column-mapped tabular source: ``input @ M + c`` builds the source's columns from the
    user's (``M`` picks the matched ones, ``c`` holds the imputed values), then its skl2onnx
    graph."""
    inner = source.inner
    if source_module(inner, [len(source.column_map.source_columns)]) is not None:
        raise IncompatibleError(f"source {source.source_id!r}: only scikit-learn sources map")
    cmap, where = source.column_map, {c: i for i, c in enumerate(source.user_columns)}
    M = np.zeros((n_features, len(cmap.source_columns)), dtype=np.float32)
    c = np.zeros(len(cmap.source_columns), dtype=np.float32)
    for j, (col, value) in enumerate(zip(cmap.taken_from, cmap.fill, strict=True)):
        if col is None:
            c[j] = value
        else:
            M[where[col], j] = 1.0
    model, out = sklearn_part(inner, len(cmap.source_columns))
    graph = model.graph
    for node in graph.node:
        node.input[:] = ["mapped" if n == "input" else n for n in node.input]
    graph.node.insert(0, helper.make_node("Add", ["mapped_raw", "map_c"], ["mapped"]))
    graph.node.insert(0, helper.make_node("MatMul", ["input", "map_M"], ["mapped_raw"]))
    graph.initializer.extend([onnx.numpy_helper.from_array(M, "map_M"),
                              onnx.numpy_helper.from_array(c, "map_c")])  # fmt: skip
    graph.input[0].CopyFrom(
        helper.make_tensor_value_info("input", TensorProto.FLOAT, [None, n_features])
    )
    return model, out


def sklearn_head(strategy: Any, shape: list[int]) -> onnx.ModelProto | None:
    """The head ``input -> probabilities`` of a no-source strategy (:data:`SKLEARN_HEADS`) on a
    table of ``shape == [d]``; None for any other strategy. The estimator's columns (the labels
    it saw, as indices into the strategy's classes) are put in the strategy's class order."""
    if strategy.name not in SKLEARN_HEADS or len(shape) != 1:
        return None
    est = strategy.model_
    model = convert(est, int(shape[0]), True, f"strategy {strategy.name!r}")
    seen = np.asarray(est.classes_, dtype=np.int64)
    P = np.zeros((len(seen), len(strategy.classes_)), dtype=np.float32)
    P[np.arange(len(seen)), seen] = 1.0
    graph = model.graph
    proba = graph.output[-1].name
    for node in graph.node:  # skl2onnx may call it "probabilities" too: the graph is SSA
        node.output[:] = ["sk_" + n if n == proba else n for n in node.output]
        node.input[:] = ["sk_" + n if n == proba else n for n in node.input]  # the blend's label
    graph.node.append(helper.make_node("MatMul", ["sk_" + proba, "head_order"], ["probabilities"]))
    graph.initializer.append(onnx.numpy_helper.from_array(P, "head_order"))
    del graph.output[:]
    graph.output.append(helper.make_tensor_value_info(
        "probabilities", TensorProto.FLOAT, [None, len(strategy.classes_)]))  # fmt: skip
    return model
