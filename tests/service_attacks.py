"""Hostile payloads for tests/service/test_service_hostile*.py, built on the fly, not stored.

- :func:`npz_bomb`: a small ``.npz`` whose ``X`` inflates to ``n_bytes`` (zeros, deflated),
  streamed into the zip so building it never holds the inflated array in memory;
- :func:`npz_lying_shape`: an ``.npz`` whose ``X.npy`` header declares a huge shape;
- :func:`onnx_bomb`: an ONNX graph whose memory grows with the batch
  (``Shape -> Concat -> ConstantOfShape``), ``floats_per_row`` float32 per input row;
- :func:`onnx_external`: an ONNX model whose weights live in a second file it names;
- :func:`nested_json`: ``depth`` nested JSON lists.
"""

from __future__ import annotations

import io
import zipfile

import numpy as np

CHUNK = 1 << 20  # bytes of zeros written per step into a bomb


def npz_bomb(n_bytes: int, features: int = 64) -> bytes:
    """An ``.npz`` with ``X`` (float64 zeros, ``n_bytes`` once inflated) and a small ``y``."""
    rows = n_bytes // 8 // features
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        with zf.open("X.npy", "w", force_zip64=True) as f:
            header = {"descr": "<f8", "fortran_order": False, "shape": (rows, features)}
            np.lib.format.write_array_header_2_0(f, header)
            left = rows * features * 8
            zeros = bytes(CHUNK)
            while left > 0:
                f.write(zeros[: min(CHUNK, left)])
                left -= CHUNK
        y = io.BytesIO()
        np.save(y, np.arange(rows) % 2)
        zf.writestr("y.npy", y.getvalue())
    return buf.getvalue()


def npz_lying_shape(rows: int = 10**12, features: int = 64) -> bytes:
    """An ``.npz`` whose ``X.npy`` header says ``(rows, features)`` but holds 8 bytes."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as zf:
        head = io.BytesIO()
        header = {"descr": "<f8", "fortran_order": False, "shape": (rows, features)}
        np.lib.format.write_array_header_1_0(head, header)
        zf.writestr("X.npy", head.getvalue() + bytes(8))
        y = io.BytesIO()
        np.save(y, np.zeros(4, np.int64))
        zf.writestr("y.npy", y.getvalue())
    return buf.getvalue()


def _linear_graph(in_dim: int, out_dim: int, extra_nodes: list, extra_inits: list, add: str):
    from onnx import TensorProto, helper, numpy_helper

    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", in_dim])
    out = helper.make_tensor_value_info("features", TensorProto.FLOAT, ["n", out_dim])
    rng = np.random.default_rng(0)
    w = numpy_helper.from_array(rng.normal(size=(in_dim, out_dim)).astype(np.float32), "W")
    nodes = [helper.make_node("MatMul", ["x", "W"], ["xw" if add else "features"])]
    if add:
        nodes.append(helper.make_node("Add", ["xw", add], ["features"]))
    graph = helper.make_graph(extra_nodes + nodes, "g", [x], [out], [w, *extra_inits])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    return model


def onnx_bomb(floats_per_row: int, in_dim: int = 64, out_dim: int = 16) -> bytes:
    """ONNX bytes: ``x @ W + mean(zeros(n, floats_per_row))``; memory grows with the batch."""
    from onnx import TensorProto, helper, numpy_helper

    k = numpy_helper.from_array(np.array([floats_per_row], np.int64), "k")
    one = helper.make_tensor("one", TensorProto.FLOAT, [1], [1.0])
    nodes = [
        helper.make_node("Shape", ["x"], ["n"], start=0, end=1),
        helper.make_node("Concat", ["n", "k"], ["big_shape"], axis=0),
        helper.make_node("ConstantOfShape", ["big_shape"], ["big"], value=one),
        helper.make_node("ReduceMean", ["big"], ["m"], axes=[1], keepdims=1),
    ]
    return _linear_graph(in_dim, out_dim, nodes, [k], "m").SerializeToString()


def onnx_external(location: str, in_dim: int = 64, out_dim: int = 16) -> tuple[bytes, bytes]:
    """(model bytes, data bytes): a linear ONNX model whose ``W`` is external data."""
    from onnx.external_data_helper import set_external_data

    model = _linear_graph(in_dim, out_dim, [], [], "")
    w = model.graph.initializer[0]
    raw = w.raw_data
    set_external_data(w, location=location, offset=0, length=len(raw))
    w.ClearField("raw_data")
    w.data_location = 1  # TensorProto.EXTERNAL
    return model.SerializeToString(), raw


def nested_json(depth: int) -> str:
    """``depth`` nested lists: ``[[[...]]]``."""
    return "[" * depth + "]" * depth


def hog_target(channel: object, blocks: int) -> None:
    """A worker body that allocates and touches ``blocks`` x 64 MB, then says it survived."""
    held = [np.ones(16 * 1024 * 1024, np.float32) for _ in range(blocks)]
    channel.send(["survived", len(held)])  # type: ignore[attr-defined]


def sleep_target(channel: object, seconds: float) -> None:
    """A worker body that says hello, then sleeps."""
    import time

    channel.send(["hello"])  # type: ignore[attr-defined]
    time.sleep(seconds)


def pickle_target(channel: object) -> None:
    """A worker body that sends a raw pickle (what the server must never load)."""
    channel.conn.send({"evil": True})  # type: ignore[attr-defined]


def spin_target(channel: object) -> None:
    """A worker body that says hello, then burns CPU for ever."""
    channel.send(["hello"])  # type: ignore[attr-defined]
    while True:
        pass
